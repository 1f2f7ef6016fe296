import { z } from "zod";

// Lenient reading of a link's scope document (the policy package owns the strict one): anything we
// cannot read counts as hiding everything, so a malformed scope can only make us share less.
const tableRule = z
  .object({
    access: z.string().optional(),
    hiddenColumns: z.array(z.string()).optional(),
    maskedColumns: z.record(z.string(), z.unknown()).optional(),
    rowFilter: z.unknown().optional(),
  })
  .passthrough();
const scopeDoc = z
  .object({ access: z.string().optional(), schemas: z.array(z.string()).optional(), tables: z.record(z.string(), tableRule).optional() })
  .passthrough();

/**
 * Which columns of a table may contribute values (samples to an AI prompt, pg_stats to the offline
 * describer): those shown unaltered through *every* link of the connection. A column hidden or masked
 * by any link, a table that is `none` (or outside the visible schemas) for any link, a table any link
 * row-filters (its common values may come from rows that link must not see), or an unreadable scope
 * excludes them. A connection with no links hides nothing. Stricter than needed per link, on purpose:
 * one description serves every link.
 */
export function sampleableColumns(scopes: readonly unknown[], table: { schema: string; name: string }, columns: readonly string[]): Set<string> {
  const allowed = new Set(columns);
  for (const raw of scopes) {
    const parsed = scopeDoc.safeParse(raw);
    if (!parsed.success) return new Set();
    const scope = parsed.data;
    if (scope.schemas && !scope.schemas.includes(table.schema)) return new Set();
    const rule = scope.tables?.[`${table.schema}.${table.name}`] ?? (table.schema === "public" ? scope.tables?.[table.name] : undefined);
    const access = rule?.access ?? scope.access ?? "read";
    if (access === "none") return new Set();
    if (rule?.rowFilter !== undefined && rule.rowFilter !== null && rule.rowFilter !== "") return new Set();
    for (const hidden of rule?.hiddenColumns ?? []) allowed.delete(hidden);
    for (const masked of Object.keys(rule?.maskedColumns ?? {})) allowed.delete(masked);
  }
  return allowed;
}
