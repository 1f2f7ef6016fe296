import type { CatalogRelation } from "../catalog/types.js";
import type { AccessView } from "../scope/access.js";
import { isGoverned, type TableRule } from "../scope/schema.js";

/**
 * What the virtual catalog removes for one scope on one catalog, as the arrays bound to its
 * predicates (oids as decimal text, so they bind as `oid[]` / `text[]` without a numeric detour).
 * "Hidden" means: what the database would no longer hold if the hidden objects were dropped with
 * CASCADE — the relation and everything pg_depend hangs on it or on its hidden columns.
 */
export interface HiddenCatalogSet {
  /** Rows of any pg_catalog table (pg_class, pg_type, pg_constraint, pg_trigger, …) by oid. */
  objects: string[];
  /** Hidden schemas' oids. */
  namespaces: string[];
  /** Hidden columns of visible relations, as `relid:attnum`. */
  columns: string[];
  /** Visible governed relations (row filter or masks): their sizes and counters are unknown. */
  governed: string[];
  /** Relations (and their indexes) whose statistics would describe rows a filter removes. */
  filtered: string[];
  /** Masked columns as `relid:attnum`: their statistics hold real values. */
  masked: string[];
  /** Visible relations that lost a CHECK (or other) constraint to the hidden set: relchecks is recounted. */
  checked: string[];
  /** False when the catalog was loaded without the data the sets need: the virtual catalog refuses. */
  complete: boolean;
}

const sets = new WeakMap<AccessView, HiddenCatalogSet>();

/** Computed once per (scope, catalog): the AccessView is itself memoised per pair. */
export function hiddenCatalogSet(view: AccessView): HiddenCatalogSet {
  let set = sets.get(view);
  if (!set) sets.set(view, (set = build(view)));
  return set;
}

// The rule in force, a partition's or child's taken from its parent included.
function ruleFor(view: AccessView, key: string): TableRule | undefined {
  return view.ruleFor(key);
}

function attnumOf(rel: CatalogRelation, column: string): number | undefined {
  const i = rel.columns.findIndex((c) => c.name === column);
  return i < 0 ? undefined : rel.attnums?.[i];
}

function build(view: AccessView): HiddenCatalogSet {
  const catalog = view.catalog;
  let complete = catalog.schemaObjects !== undefined && catalog.systemViews !== undefined && catalog.systemColumns !== undefined;
  const objects = new Set<number>();
  const namespaces = new Set<number>();
  const columns = new Set<string>();
  const governed = new Set<number>();
  const filtered = new Set<number>();
  const masked = new Set<string>();
  const lostConstraints = new Set<number>();
  // A relation the scope shows stays, even when pg_depend hangs it on a hidden one (a sequence the
  // scope names explicitly although its owning column is hidden): the catalog must agree with names.
  const visibleOids = new Set<number>();
  for (const rel of view.relations.values()) visibleOids.add(rel.relation.oid);
  const hide = (oid: number): void => {
    if (!visibleOids.has(oid)) objects.add(oid);
  };

  for (const [key, rel] of Object.entries(catalog.relations)) {
    if (rel.attnums === undefined && rel.columns.length > 0) complete = false;
    const access = view.relations.get(key);
    if (!access) {
      hide(rel.oid);
      for (const d of rel.dependents ?? []) hide(d.oid);
      continue;
    }
    const hiddenNums = new Set<number>();
    for (const column of access.hiddenColumns) {
      const n = attnumOf(rel, column);
      if (n === undefined) continue; // a hidden column the table does not have: nothing to remove
      hiddenNums.add(n);
      columns.add(`${rel.oid}:${n}`);
    }
    if (hiddenNums.size > 0)
      for (const d of rel.dependents ?? [])
        if (d.columns?.some((c) => hiddenNums.has(c))) {
          hide(d.oid);
          if (d.catalog === "pg_constraint") lostConstraints.add(d.oid);
        }

    const rule = ruleFor(view, key);
    if (!isGoverned(rule)) continue;
    governed.add(rel.oid);
    const indexes = (rel.dependents ?? []).filter((d) => d.catalog === "pg_class");
    if (rule!.rowFilter !== undefined) {
      filtered.add(rel.oid);
      for (const d of indexes) filtered.add(d.oid);
    }
    const maskedNums = new Set<number>();
    for (const column of Object.keys(rule!.maskedColumns ?? {})) {
      const n = attnumOf(rel, column);
      if (n === undefined) continue;
      maskedNums.add(n);
      masked.add(`${rel.oid}:${n}`);
    }
    // An expression index over a masked column keeps statistics of the real values too.
    for (const d of indexes) if (d.columns?.some((c) => maskedNums.has(c))) filtered.add(d.oid);
  }

  // Views and materialized views over governed relations, and parents of governed children: their
  // statistics and sizes count or show the rows and values the filter and masks keep from the link
  // (a materialized view over customer.email has a histogram of every clear email).
  for (const [key, g] of view.governed) {
    if (g.readsGoverned.length === 0 && g.governedChildren.length === 0) continue;
    const rel = view.relations.get(key)?.relation;
    if (!rel) continue;
    governed.add(rel.oid);
    filtered.add(rel.oid);
    for (const d of rel.dependents ?? []) if (d.catalog === "pg_class") filtered.add(d.oid);
  }

  for (const [schema, entry] of Object.entries(catalog.schemaObjects ?? {})) {
    if (view.visibleSchemas.has(schema)) continue;
    namespaces.add(entry.oid);
    for (const o of entry.objects) {
      hide(o.oid);
      if (o.catalog === "pg_constraint") lostConstraints.add(o.oid);
    }
  }

  // Only constraints lost through hidden columns or schemas: a foreign key to a hidden table is no
  // CHECK, and keeping the common case's pg_class text short matters more than recounting for it.
  const checked = new Set<number>();
  for (const rel of view.relations.values())
    if ((rel.relation.dependents ?? []).some((d) => d.catalog === "pg_constraint" && lostConstraints.has(d.oid))) checked.add(rel.relation.oid);

  const text = (s: Set<number>): string[] => [...s].sort((a, b) => a - b).map(String);
  return {
    objects: text(objects),
    namespaces: text(namespaces),
    columns: [...columns].sort(),
    governed: text(governed),
    filtered: text(filtered),
    masked: [...masked].sort(),
    checked: text(checked),
    complete,
  };
}
