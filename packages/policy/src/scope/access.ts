import { HARMLESS_CATALOGS } from "../analyze/catalogs.js";
import type { Catalog, CatalogFunction, CatalogRelation } from "../catalog/types.js";
import { isDeniedFunction } from "../rules/functions.js";
import { isGoverned, splitTableKey, type AccessLevel, type MaskKind, type Scope, type TableRule } from "./schema.js";

export type VisibleAccess = Exclude<AccessLevel, "none">;

export interface RelationAccess {
  key: string; // "schema.name"
  relation: CatalogRelation;
  access: VisibleAccess;
  hiddenColumns: ReadonlySet<string>;
  /** Visible columns, in table order. */
  columns: string[];
}

/**
 * Why the rewrite stage must touch references to a relation (row filters and masks, issue 14).
 * Only visible relations have one; a relation absent from `AccessView.governed` is read as is.
 */
export interface Governance {
  /** The scope's row filter on this relation (admin SQL with placeholders), if any. */
  rowFilter: string | undefined;
  /** Masked columns that exist and are visible, with their mask. */
  masks: ReadonlyMap<string, MaskKind>;
  /** Views and materialized views: governed relations their definition reads (transitively). */
  readsGoverned: readonly string[];
  /** Inheritance/partition parents: governed descendants a scan without ONLY would read. */
  governedChildren: readonly string[];
}

/** What one scope makes of one catalog: precomputed once per (scope, catalog) pair. */
export interface AccessView {
  scope: Scope;
  catalog: Catalog;
  /** Schemas unqualified names resolve in, in order (pg_catalog is implicitly searched first). */
  searchPath: string[];
  visibleSchemas: ReadonlySet<string>;
  /** True when the scope hides at least one existing object: catalog reads could then reveal it. */
  hidesSomething: boolean;
  relations: ReadonlyMap<string, RelationAccess>;
  /**
   * Relations whose references the rewrite stage changes: row-filtered or masked tables, views over
   * them, parents of them. Empty for scopes without filters or masks: the rewrite then costs one
   * size check per statement.
   */
  governed: ReadonlyMap<string, Governance>;
  /** Default access for relations that do not exist yet (CREATE TABLE) per schema. */
  accessFor(schema: string, name: string): AccessLevel;
  /** Visible user function, or undefined when hidden/absent. */
  functionFor(schema: string, name: string): CatalogFunction | undefined;
  /** Whether a user function's body provably touches only visible relations (transitively). */
  functionVerified(key: string): boolean;
  /**
   * The rule in force for an existing relation ("schema.name"): the scope's own, or the one a
   * partition / inheritance child takes from its governed or restricted ancestor (see effectiveRules).
   */
  ruleFor(key: string): TableRule | undefined;
}

/** The search_path the gateway sets for this scope; checker resolution assumes exactly this. */
export function searchPathSchemas(scope: Scope): string[] {
  return scope.schemas ?? ["public"];
}

/** As a SET-able string: `SET LOCAL search_path = ${searchPathFor(scope)}`. */
export function searchPathFor(scope: Scope): string {
  return searchPathSchemas(scope)
    .map((s) => `"${s.replace(/"/g, '""')}"`)
    .join(", ");
}

/**
 * True when the scope hides an existing table, view, column or schema. The gateway should then keep
 * PostgreSQL's error DETAIL out of answers: "Failing row contains (...)" prints every column of the
 * row, hidden ones included.
 */
export function scopeHidesObjects(scope: Scope, catalog: Catalog): boolean {
  return accessView(scope, catalog).hidesSomething;
}

// By scope object first (the gateway keeps one per link); by content when a caller re-parses the
// scope on every request, so the O(relations) build is not repeated for each call.
const cache = new WeakMap<Catalog, { byObject: WeakMap<Scope, AccessView>; byContent: Map<string, AccessView> }>();
const MAX_SCOPES_PER_CATALOG = 1000;

export function accessView(scope: Scope, catalog: Catalog): AccessView {
  let perCatalog = cache.get(catalog);
  if (!perCatalog) cache.set(catalog, (perCatalog = { byObject: new WeakMap(), byContent: new Map() }));
  let view = perCatalog.byObject.get(scope);
  if (view) return view;
  const key = JSON.stringify(scope);
  view = perCatalog.byContent.get(key);
  if (!view) {
    view = buildAccessView(scope, catalog);
    perCatalog.byContent.set(key, view);
    if (perCatalog.byContent.size > MAX_SCOPES_PER_CATALOG) perCatalog.byContent.delete(perCatalog.byContent.keys().next().value as string);
  }
  perCatalog.byObject.set(scope, view);
  return view;
}

function buildAccessView(scope: Scope, catalog: Catalog): AccessView {
  const visibleSchemas = new Set(scope.schemas ?? catalog.schemas);
  const own = new Map<string, TableRule>();
  for (const [key, rule] of Object.entries(scope.tables)) {
    const { schema, name } = splitTableKey(key);
    own.set(`${schema}.${name}`, rule);
  }
  const rules = effectiveRules(own, scope, catalog);
  const accessFor = (schema: string, name: string): AccessLevel => {
    if (!visibleSchemas.has(schema)) return "none";
    return rules.get(`${schema}.${name}`)?.access ?? scope.access;
  };

  // Row filters hide rows and masks hide values: for everything that asks "could this reveal what the
  // link must not see" (catalog reads, error DETAIL, user functions' bodies) a governed table counts.
  const ruleGoverned = new Set<string>();
  for (const [key, rule] of rules) if (isGoverned(rule) && accessFor(splitTableKey(key).schema, splitTableKey(key).name) !== "none") ruleGoverned.add(key);
  let hidesSomething = ruleGoverned.size > 0;
  const base = new Map<string, RelationAccess>();
  for (const [key, rel] of Object.entries(catalog.relations)) {
    const access = accessFor(rel.schema, rel.name);
    if (access === "none") {
      hidesSomething = true;
      continue;
    }
    const hidden = new Set(rules.get(key)?.hiddenColumns ?? []);
    // A generated column computed from a hidden or masked one (lower(email)) would give it away.
    const masked = Object.keys(rules.get(key)?.maskedColumns ?? {});
    for (const [column, sources] of Object.entries(rel.derivedColumns ?? {}))
      if (sources.some((c) => hidden.has(c) || masked.includes(c))) hidden.add(column);
    const columns = rel.columns.filter((c) => !hidden.has(c.name)).map((c) => c.name);
    if (columns.length !== rel.columns.length) hidesSomething = true;
    base.set(key, { key, relation: rel, access, hiddenColumns: hidden, columns });
  }
  for (const schema of catalog.schemas) if (!visibleSchemas.has(schema)) hidesSomething = true;

  const functionFor = (schema: string, name: string): CatalogFunction | undefined =>
    visibleSchemas.has(schema) ? catalog.functions[`${schema}.${name}`] : undefined;
  const searchPath = searchPathSchemas(scope);

  const resolveBodyRelation = (name: string): RelationAccess | undefined | "system" => {
    if (name.includes(".")) {
      const [schema, rel] = [name.slice(0, name.indexOf(".")), name.slice(name.indexOf(".") + 1)];
      if (schema === "pg_catalog" || schema === "information_schema") return "system";
      return base.get(`${schema}.${rel}`);
    }
    if (catalog.systemRelations[`pg_catalog.${name}`]) return "system";
    for (const schema of searchPath) {
      const hit = base.get(`${schema}.${name}`);
      if (hit) return hit;
      if (catalog.relations[`${schema}.${name}`]) return undefined;
    }
    return undefined;
  };

  // A function is verified when every relation its body reads is visible in full (no hidden
  // columns: we do not track columns inside bodies) and every user function it calls is verified.
  const verified = new Map<string, boolean>();
  const functionVerified = (key: string): boolean => {
    const known = verified.get(key);
    if (known !== undefined) return known;
    verified.set(key, false); // recursion guard: a cycle is not proof
    const fn = catalog.functions[key];
    let ok = !!fn && fn.reads !== null && fn.calls !== null;
    if (ok && fn) {
      for (const r of fn.reads!) {
        const rel = resolveBodyRelation(r);
        if (rel === "system") {
          if (hidesSomething) ok = false;
        } else if (!rel || rel.hiddenColumns.size > 0 || readsGoverned(rel) || !derivedVisible(rel)) ok = false;
      }
      for (const c of fn.calls!) {
        const parts = c.split(".");
        const name = parts[parts.length - 1]!;
        const schema = parts.length > 1 ? parts[parts.length - 2]! : undefined;
        // A denied built-in (query_to_xml, ts_stat…) runs SQL text the body does not show: unverifiable.
        if ((schema === "pg_catalog" || (!schema && catalog.builtinFunctions[name])) && isDeniedFunction(name)) ok = false;
        else if (schema === "pg_catalog" || (!schema && catalog.builtinFunctions[name])) continue;
        const target = schema ? `${schema}.${name}` : searchPath.map((s) => `${s}.${name}`).find((k) => catalog.functions[k]);
        if (!target || !catalog.functions[target] || !functionVerified(target)) ok = false;
      }
    }
    verified.set(key, ok);
    return ok;
  };

  // A body reading a filtered or masked table (directly or through a view) would read it in full.
  const readsGoverned = (rel: RelationAccess): boolean =>
    ruleGoverned.has(rel.key) || (rel.relation.reads ?? []).some((d) => ruleGoverned.has(d.relation));

  // Views (and materialized views) over hidden tables or hidden columns are hidden themselves:
  // "hidden means absent" must hold through a view, so the view cannot even be named.
  const derivedVisible = (rel: RelationAccess): boolean => {
    const reads = rel.relation.reads;
    if (!reads) return true;
    for (const dep of reads) {
      const target = base.get(dep.relation);
      if (!target) return false;
      if (target.hiddenColumns.size > 0) {
        if (dep.columns === "all") return false;
        for (const c of dep.columns) if (target.hiddenColumns.has(c)) return false;
      }
    }
    if (hidesSomething) for (const fn of rel.relation.calls ?? []) if (!functionVerified(fn)) return false;
    // query_to_xml('select email from customer'), ts_stat(…): SQL text run with the owner's rights
    // reads what no dependency shows, hidden and governed relations included.
    if (hidesSomething && (rel.relation.deniedCalls?.length ?? 0) > 0) return false;
    // A view over the system catalogs reads them with its owner's rights, hidden objects included.
    if (hidesSomething && rel.relation.readsCatalog?.some((k) => !HARMLESS_CATALOGS.has(k.slice(k.indexOf(".") + 1)))) return false;
    return true;
  };

  // A serial/identity sequence goes with its column: listing `audit_log_id_seq` would name a
  // hidden table, and its last_value counts the hidden table's rows. Unless the scope names it.
  const ownerVisible = (rel: RelationAccess): boolean => {
    const owner = rel.relation.ownedBy;
    if (!owner || rules.has(rel.key)) return true;
    const table = base.get(owner.relation);
    return !!table && !table.hiddenColumns.has(owner.column);
  };

  const relations = new Map<string, RelationAccess>();
  for (const [key, rel] of base) {
    if (derivedVisible(rel) && ownerVisible(rel)) relations.set(key, rel);
    else hidesSomething = true;
  }

  return {
    scope,
    catalog,
    searchPath,
    visibleSchemas,
    hidesSomething,
    relations,
    governed: governedRelations(relations, rules, catalog),
    accessFor,
    functionFor,
    functionVerified,
    ruleFor: (key) => rules.get(key),
  };
}

const LEVEL: Record<AccessLevel, number> = { none: 0, read: 1, write: 2, admin: 3 };

function sameGovernance(a: TableRule | undefined, b: TableRule | undefined): boolean {
  if (a?.rowFilter !== b?.rowFilter) return false;
  const ma = Object.entries(a?.maskedColumns ?? {}).sort(([x], [y]) => x.localeCompare(y));
  const mb = Object.entries(b?.maskedColumns ?? {}).sort(([x], [y]) => x.localeCompare(y));
  return JSON.stringify(ma) === JSON.stringify(mb);
}

/**
 * Partitions and inheritance children hold their parent's rows: reading one by name must not escape
 * what the scope says of the parent. A child takes its ancestor's restrictions — never a grant: the
 * lower access (a partition: the parent's, its columns and rows being the parent's), the parent's
 * hidden columns added to its own, and the parent's row filter and masks
 * unless it has a filter or masks of its own (then reading the parent without ONLY is refused, see
 * governedRelations). A child lacking a column its parent's rule names, or taking two different
 * governances from two parents, is hidden: no rule could be applied to it faithfully.
 */
function effectiveRules(own: ReadonlyMap<string, TableRule>, scope: Scope, catalog: Catalog): Map<string, TableRule> {
  const rules = new Map(own);
  const restricts = (rule: TableRule | undefined): boolean =>
    !!rule && (isGoverned(rule) || (rule.hiddenColumns?.length ?? 0) > 0 || LEVEL[rule.access ?? scope.access] < LEVEL[scope.access]);
  const inherited = new Map<string, TableRule>();
  const visit = (parentKey: string, parentRule: TableRule, path: Set<string>): void => {
    for (const childKey of catalog.relations[parentKey]?.children ?? []) {
      if (path.has(childKey)) continue;
      const child = catalog.relations[childKey];
      if (!child) continue;
      const mine = own.get(childKey);
      const parentAccess = parentRule.access ?? scope.access;
      // A partition has exactly its parent's columns and only rows the parent shows: it may have the
      // parent's access. An inheritance child may add columns of its own: never more than the default.
      const partition = catalog.relations[parentKey]?.kind === "partitioned_table";
      const childAccess = mine?.access ?? (partition ? parentAccess : scope.access);
      const names = new Set(child.columns.map((c) => c.name));
      const parentColumns = new Set(catalog.relations[parentKey]!.columns.map((c) => c.name));
      const needed = [...(parentRule.hiddenColumns ?? []), ...Object.keys(parentRule.maskedColumns ?? {})].filter((c) => parentColumns.has(c));
      let rule: TableRule = {
        ...mine,
        access: LEVEL[parentAccess] < LEVEL[childAccess] ? parentAccess : childAccess,
        hiddenColumns: [...new Set([...(parentRule.hiddenColumns ?? []), ...(mine?.hiddenColumns ?? [])])],
      };
      if (!isGoverned(mine)) {
        delete rule.rowFilter;
        delete rule.maskedColumns;
        if (parentRule.rowFilter !== undefined) rule.rowFilter = parentRule.rowFilter;
        if (parentRule.maskedColumns) rule.maskedColumns = { ...parentRule.maskedColumns };
      }
      if (needed.some((c) => !names.has(c))) rule = { access: "none" };
      const earlier = inherited.get(childKey);
      if (earlier && !isGoverned(mine) && !sameGovernance(earlier, rule)) rule = { access: "none" };
      if (earlier && LEVEL[earlier.access ?? scope.access] < LEVEL[rule.access ?? scope.access]) rule = { ...rule, access: earlier.access };
      inherited.set(childKey, rule);
      rules.set(childKey, rule);
      visit(childKey, rule, new Set([...path, childKey]));
    }
  };
  for (const [key, rule] of own) {
    const rel = catalog.relations[key];
    if (rel?.children.length && (restricts(rule) || rel.kind === "partitioned_table")) visit(key, rule, new Set([key]));
  }
  return rules;
}

function governedRelations(relations: ReadonlyMap<string, RelationAccess>, rules: ReadonlyMap<string, TableRule>, catalog: Catalog): Map<string, Governance> {
  const governed = new Map<string, Governance>();
  const own = new Set<string>();
  for (const [key, rule] of rules) {
    const rel = relations.get(key);
    if (!rel || (rule.rowFilter === undefined && Object.keys(rule.maskedColumns ?? {}).length === 0)) continue;
    const masks = new Map<string, MaskKind>();
    for (const [column, kind] of Object.entries(rule.maskedColumns ?? {})) if (rel.columns.includes(column)) masks.set(column, kind);
    governed.set(key, { rowFilter: rule.rowFilter, masks, readsGoverned: [], governedChildren: [] });
    own.add(key);
  }
  if (own.size === 0) return governed;
  const entry = (key: string): Governance => {
    let g = governed.get(key);
    if (!g) governed.set(key, (g = { rowFilter: undefined, masks: new Map(), readsGoverned: [], governedChildren: [] }));
    return g;
  };
  for (const [key, rel] of relations) {
    // A view's rows come from its base tables: its catalog `reads` is already transitive. A view
    // over a governed table that the scope itself hides is not in `relations` and needs nothing.
    const reads = (rel.relation.reads ?? []).map((d) => d.relation).filter((r) => own.has(r));
    if (reads.length > 0) (entry(key).readsGoverned as string[]).push(...reads);
  }
  // A scan of a parent reads its children's rows (inheritance, partitions): a governed child read
  // through an ungoverned (or differently governed) parent would escape the child's filter.
  const descendants = (key: string, seen: Set<string>): void => {
    for (const child of catalog.relations[key]?.children ?? []) {
      if (seen.has(child)) continue;
      seen.add(child);
      descendants(child, seen);
    }
  };
  for (const key of relations.keys()) {
    if (!catalog.relations[key]?.children.length) continue;
    const seen = new Set<string>();
    descendants(key, seen);
    // Descendants under the same filter and masks (those that took this relation's rule) are read
    // correctly by the parent's own substitution: the filter and masks apply to every row it scans.
    const mine = rules.get(key);
    const governedChildren = [...seen].filter((c) => own.has(c) && !(isGoverned(mine) && sameGovernance(mine, rules.get(c))));
    if (governedChildren.length > 0) (entry(key).governedChildren as string[]).push(...governedChildren);
  }
  return governed;
}
