import { accessView, type Catalog } from "@portcullis/policy";
import { isGoverned, parseScope } from "@portcullis/policy/scope";

/**
 * Which columns of a table may contribute values (samples to an AI prompt, pg_stats to the offline
 * describer): those shown unaltered through *every* link of the connection. A column hidden or masked
 * by any link, a table that is `none` (or outside the visible schemas) for any link, a table any link
 * row-filters (its common values may come from rows that link must not see), or a scope the policy's
 * own schema does not accept (the gateway refuses such a link; here it can only make us share less)
 * excludes them. A connection with no links hides nothing. Stricter than needed per link, on purpose:
 * one description serves every link.
 *
 * Rules reach further than their own table: a partition or inheritance child takes its parent's
 * filter and masks, and a view or materialized view over a governed table reads its rows unfiltered
 * (issue 14). With the target's `catalog` those are known exactly; without it, a link that governs
 * any table makes every relation of the connection unsampled (any one could be such a child or view).
 */
export function sampleableColumns(scopes: readonly unknown[], table: { schema: string; name: string }, columns: readonly string[], catalog?: Catalog): Set<string> {
  const allowed = new Set(columns);
  const key = `${table.schema}.${table.name}`;
  for (const raw of scopes) {
    const parsed = parseScope(raw);
    if (!parsed.ok) return new Set();
    const scope = parsed.scope;
    if (scope.schemas && !scope.schemas.includes(table.schema)) return new Set();
    const rule = scope.tables[key] ?? (table.schema === "public" ? scope.tables[table.name] : undefined);
    const access = rule?.access ?? scope.access;
    if (access === "none") return new Set();
    if (rule?.rowFilter !== undefined) return new Set();
    for (const hidden of rule?.hiddenColumns ?? []) allowed.delete(hidden);
    for (const masked of Object.keys(rule?.maskedColumns ?? {})) allowed.delete(masked);
    if (!Object.values(scope.tables).some((r) => isGoverned(r))) continue;
    if (!catalog || !catalog.relations[key]) return new Set();
    const view = accessView(scope, catalog);
    const rel = view.relations.get(key);
    if (!rel) return new Set();
    for (const hidden of rel.hiddenColumns) allowed.delete(hidden);
    const governance = view.governed.get(key);
    if (governance) {
      if (governance.rowFilter !== undefined || governance.readsGoverned.length > 0 || governance.governedChildren.length > 0) return new Set();
      for (const masked of governance.masks.keys()) allowed.delete(masked);
    }
  }
  return allowed;
}
