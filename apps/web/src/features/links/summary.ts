/** One line for tables and headers: "Read · 2 hidden tables · 5 hidden columns · 1000 rows". */
export function summarize(scope: unknown): string {
  const s = scope as { access?: string; tables?: Record<string, { access?: string; hiddenColumns?: string[] }>; limits?: { maxRows?: number } };
  const rules = Object.values(s.tables ?? {});
  const hiddenTables = rules.filter((r) => r.access === "none").length;
  const hiddenColumns = rules.reduce((n, r) => n + (r.hiddenColumns?.length ?? 0), 0);
  const writable = rules.filter((r) => r.access === "write").length;
  const base = { read: "Read only", write: "Read & write", admin: "Full (DDL)", none: "Only listed tables" }[s.access ?? "read"] ?? s.access;
  const parts = [base];
  if (writable && s.access === "read") parts.push(`write on ${writable} table${writable === 1 ? "" : "s"}`);
  if (hiddenTables) parts.push(`${hiddenTables} hidden table${hiddenTables === 1 ? "" : "s"}`);
  if (hiddenColumns) parts.push(`${hiddenColumns} hidden column${hiddenColumns === 1 ? "" : "s"}`);
  if (s.limits?.maxRows) parts.push(`≤ ${s.limits.maxRows} rows`);
  return parts.join(" · ");
}
