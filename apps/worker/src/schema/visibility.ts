import { parseScope } from "@portcullis/policy/scope";

/**
 * Which columns of a table may contribute values (samples to an AI prompt, pg_stats to the offline
 * describer): those shown unaltered through *every* link of the connection. A column hidden or masked
 * by any link, a table that is `none` (or outside the visible schemas) for any link, a table any link
 * row-filters (its common values may come from rows that link must not see), or a scope the policy's
 * own schema does not accept (the gateway refuses such a link; here it can only make us share less)
 * excludes them. A connection with no links hides nothing. Stricter than needed per link, on purpose:
 * one description serves every link.
 */
export function sampleableColumns(scopes: readonly unknown[], table: { schema: string; name: string }, columns: readonly string[]): Set<string> {
  const allowed = new Set(columns);
  for (const raw of scopes) {
    const parsed = parseScope(raw);
    if (!parsed.ok) return new Set();
    const scope = parsed.scope;
    if (scope.schemas && !scope.schemas.includes(table.schema)) return new Set();
    const rule = scope.tables[`${table.schema}.${table.name}`] ?? (table.schema === "public" ? scope.tables[table.name] : undefined);
    const access = rule?.access ?? scope.access;
    if (access === "none") return new Set();
    if (rule?.rowFilter !== undefined) return new Set();
    for (const hidden of rule?.hiddenColumns ?? []) allowed.delete(hidden);
    for (const masked of Object.keys(rule?.maskedColumns ?? {})) allowed.delete(masked);
  }
  return allowed;
}
