import { parseScope } from "@portcullis/policy/scope";

/** One line for tables and headers: "Read only · 2 hidden tables · 5 hidden columns · 1 row filter · 2 masked columns · ≤ 1000 rows". */
export function summarize(raw: unknown): string {
  const parsed = parseScope(raw);
  // Stored scopes were validated on save; one that no longer parses is enforced as nothing by the
  // gateway, so the summary must not describe it as if it allowed something.
  if (!parsed.ok) return "Unreadable scope (nothing is allowed)";
  const scope = parsed.scope;
  const rules = Object.values(scope.tables);
  const hiddenTables = rules.filter((r) => r.access === "none").length;
  const hiddenColumns = rules.reduce((n, r) => n + (r.hiddenColumns?.length ?? 0), 0);
  const writable = rules.filter((r) => r.access === "write").length;
  const filters = rules.filter((r) => r.rowFilter !== undefined).length;
  const masked = rules.reduce((n, r) => n + Object.keys(r.maskedColumns ?? {}).length, 0);
  const base = { read: "Read only", write: "Read & write", admin: "Full (DDL)", none: "Only listed tables" }[scope.access];
  const parts = [base];
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (writable && scope.access === "read") parts.push(`write on ${plural(writable, "table")}`);
  if (hiddenTables) parts.push(plural(hiddenTables, "hidden table"));
  if (hiddenColumns) parts.push(plural(hiddenColumns, "hidden column"));
  if (filters) parts.push(plural(filters, "row filter"));
  if (masked) parts.push(plural(masked, "masked column"));
  parts.push(`≤ ${scope.limits.maxRows} rows`);
  return parts.join(" · ");
}
