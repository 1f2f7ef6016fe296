import { VIRTUAL_STATS, VIRTUAL_TABLES, VIRTUAL_VIEWS } from "../analyze/catalogs.js";
import { parseSql, type PgNode } from "../parse/parse.js";
import { isDeniedFunction } from "../rules/functions.js";
import type { CatalogObjectRef, CatalogRelation } from "./types.js";

// What the catalog loader collects for the virtual catalog (rewrite/catalog.ts): the hidden sets' raw
// material (dependencies, schema contents) and the system views it expands. Set-based queries, run
// with the loader's others in its one snapshot.

const sqlList = (items: Iterable<string>): string =>
  [...items].map((s) => `'${s.replace(/'/g, "''")}'`).join(", ");
const VIRTUAL_ROOTS = sqlList(VIRTUAL_VIEWS);
const VIRTUAL_COVERED = sqlList([
  ...VIRTUAL_VIEWS,
  VIRTUAL_STATS,
  ...[...VIRTUAL_TABLES].map((t) => `pg_catalog.${t}`),
]);

export function virtualCatalogQueries(USER_NAMESPACE: string) {
  return {
    // The virtual catalog's hidden sets: what DROP … CASCADE of each user relation, or of some of its
    // columns, would drop (indexes, constraints, defaults, triggers, rules, row and array types, toast,
    // owned sequences, FKs of other tables through the referenced index…). One flat scan of the
    // dependencies between user objects (oids from 16384 on); the closure is taken in virtualCatalogData.
    dependencies: `SELECT d.classid::int8 AS classid, d.classid::regclass::text AS catalog, d.objid::int8 AS objid,
             d.refclassid::int8 AS refclassid, d.refclassid::regclass::text AS refcatalog, d.refobjid::int8 AS refobjid, d.refobjsubid AS col,
             d.deptype::text AS deptype
      FROM pg_depend d WHERE d.deptype IN ('n', 'a', 'i') AND d.objid >= 16384 AND d.refobjid >= 16384`,
    // Objects in each user schema that are not its relations (those have their own dependents): what a
    // hidden schema takes with it besides the rows its oid already filters.
    schemaObjects: `SELECT n.nspname AS schema, n.oid::int8 AS ns, o.catalog, o.oid::int8 AS oid
      FROM pg_namespace n LEFT JOIN (
        SELECT 'pg_proc' AS catalog, p.oid, p.pronamespace AS ns FROM pg_proc p
        UNION ALL SELECT 'pg_type', t.oid, t.typnamespace FROM pg_type t
          LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typelem <> 0
          LEFT JOIN pg_class r ON r.oid = coalesce(nullif(t.typrelid, 0), e.typrelid)
          WHERE r.oid IS NULL OR r.relkind = 'c'
        UNION ALL SELECT 'pg_class', c.oid, c.relnamespace FROM pg_class c WHERE c.relkind = 'c'
        UNION ALL SELECT 'pg_constraint', k.oid, k.connamespace FROM pg_constraint k WHERE k.conrelid = 0
        UNION ALL SELECT 'pg_operator', o.oid, o.oprnamespace FROM pg_operator o
      ) o ON o.ns = n.oid
      WHERE ${USER_NAMESPACE} ORDER BY n.nspname, o.catalog, o.oid`,
    // System views the virtual catalog expands, and the views their definitions read, transitively.
    systemViews: `WITH RECURSIVE v(oid) AS (
        SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname || '.' || c.relname IN (${VIRTUAL_ROOTS}) AND c.relkind = 'v'
        UNION
        SELECT d.refobjid FROM v JOIN pg_rewrite r ON r.ev_class = v.oid
        JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
        JOIN pg_class c ON c.oid = d.refobjid AND c.relkind = 'v' AND c.oid <> v.oid)
      SELECT n.nspname || '.' || c.relname AS key, pg_get_viewdef(c.oid) AS definition
      FROM v JOIN pg_class c ON c.oid = v.oid JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY 1`,
    systemColumns: `SELECT n.nspname || '.' || c.relname AS key, array_agg(a.attname::text ORDER BY a.attnum) AS columns,
        array_agg(format_type(a.atttypid, NULL) ORDER BY a.attnum) AS types
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
      WHERE n.nspname || '.' || c.relname IN (${VIRTUAL_COVERED}) AND a.attnum > 0 AND NOT a.attisdropped
      GROUP BY 1 ORDER BY 1`,
  } as const;
}

type Rows = Record<
  "dependencies" | "schemaObjects" | "systemViews" | "systemColumns",
  Record<string, unknown>[]
>;

/** Sets each relation's dependents and returns the catalog's virtual-catalog fields. */
export function virtualCatalogData(rows: Rows, byOid: Map<string, CatalogRelation>) {
  const dependencies = new Dependencies(rows.dependencies as unknown as DependencyRow[]);
  for (const [oid, rel] of byOid) {
    const found = dependencies.of(PG_CLASS, oid);
    if (found.length > 0) rel.dependents = found;
  }
  // A generated column's expression (its pg_attrdef row) belongs to it (internal dependency) and
  // depends normally on each column it reads; a plain default cannot read columns.
  const attrdefs = new Map<string, { rel: string; own?: number; reads: number[] }>();
  for (const r of rows.dependencies as unknown as DependencyRow[]) {
    if (r.catalog !== "pg_attrdef" || r.refcatalog !== PG_CLASS || !(r.col > 0)) continue;
    let entry = attrdefs.get(r.objid);
    if (!entry) attrdefs.set(r.objid, (entry = { rel: r.refobjid, reads: [] }));
    if (r.deptype === "i") entry.own = r.col;
    else entry.reads.push(r.col);
  }
  for (const { rel: oid, own, reads } of attrdefs.values()) {
    const rel = byOid.get(oid);
    const nameOf = (num: number): string | undefined => rel?.columns[rel.attnums?.indexOf(num) ?? -1]?.name;
    const generated = own === undefined ? undefined : nameOf(own);
    if (!rel || !generated) continue;
    const sources = reads.map(nameOf).filter((c): c is string => c !== undefined && c !== generated);
    if (sources.length > 0) (rel.derivedColumns ??= {})[generated] = sources;
  }
  const schemaObjects: Record<string, { oid: number; objects: CatalogObjectRef[] }> = {};
  for (const o of rows.schemaObjects as {
    schema: string;
    ns: string;
    catalog: string | null;
    oid: string | null;
  }[]) {
    const entry = (schemaObjects[o.schema] ??= { oid: Number(o.ns), objects: [] });
    if (!o.catalog || !o.oid) continue;
    entry.objects.push({ oid: Number(o.oid), catalog: o.catalog });
    // What hangs on a schema's function or type (a trigger, a default, a constraint) goes with the schema.
    for (const d of dependencies.of(o.catalog, o.oid)) entry.objects.push({ oid: d.oid, catalog: d.catalog });
  }
  const systemViews: Record<string, string> = {};
  for (const v of rows.systemViews as { key: string; definition: string | null }[])
    if (v.definition) systemViews[v.key] = v.definition;
  const systemColumns: Record<string, string[]> = {};
  const systemColumnTypes: Record<string, string[]> = {};
  for (const c of rows.systemColumns as { key: string; columns: string[]; types: string[] }[]) {
    systemColumns[c.key] = c.columns;
    systemColumnTypes[c.key] = c.types;
  }
  return { schemaObjects, systemViews, systemColumns, systemColumnTypes };
}

/**
 * The system relations a view's definition reads. It was printed under search_path = pg_catalog, so
 * an unqualified name that is not one of its CTEs is a pg_catalog relation; anything unparsable counts
 * as reading the catalog (the view is then treated as the catalog is).
 */
export function systemRelationsRead(definition: string): string[] {
  return definitionFacts(definition).system;
}

/**
 * What a view's definition reads of the system catalogs and which denied built-ins it calls
 * (unparsable: reads the catalog and calls "?", so the view is treated the worst way).
 */
export function definitionFacts(definition: string): { system: string[]; denied: string[] } {
  const parsed = parseSql(definition);
  if (!parsed.ok) return { system: ["pg_catalog.?"], denied: ["?"] };
  const denied = new Set<string>();
  const ctes = new Set<string>();
  const found = new Set<string>();
  const rangeVars: { schemaname?: string; relname: string }[] = [];
  const walk = (node: unknown, depth: number): void => {
    if (depth > 500 || !node || typeof node !== "object") return;
    if (Array.isArray(node)) {
      for (const item of node) walk(item, depth + 1);
      return;
    }
    for (const [key, value] of Object.entries(node as PgNode)) {
      if (key === "RangeVar") rangeVars.push(value as { schemaname?: string; relname: string });
      else if (key === "FuncCall") {
        const names = ((value as PgNode).funcname as { String?: { sval?: string } }[] | undefined)?.map((n) => n.String?.sval ?? "") ?? [];
        const name = names[names.length - 1] ?? "";
        if ((names.length === 1 || names[0] === "pg_catalog") && isDeniedFunction(name)) denied.add(name);
      } else if (key === "CommonTableExpr") ctes.add((value as { ctename: string }).ctename);
      walk(value, depth + 1);
    }
  };
  walk(parsed.statements, 0);
  for (const rv of rangeVars) {
    if (rv.schemaname === undefined && !ctes.has(rv.relname)) found.add(`pg_catalog.${rv.relname}`);
    else if (rv.schemaname === "pg_catalog" || rv.schemaname === "information_schema")
      found.add(`${rv.schemaname}.${rv.relname}`);
  }
  return { system: [...found].sort(), denied: [...denied].sort() };
}

interface DependencyRow {
  classid: string;
  catalog: string;
  refcatalog: string;
  objid: string;
  refclassid: string;
  refobjid: string;
  col: number;
  deptype: string;
}

const PG_CLASS = "pg_class";
const MAX_DEPENDENCY_DEPTH = 4;

/** The dependencies between user objects, by referenced object, for closures. */
class Dependencies {
  private readonly byReferenced = new Map<string, DependencyRow[]>();
  private readonly classIds = new Map<string, string>();

  constructor(rows: DependencyRow[]) {
    for (const r of rows) {
      const key = `${r.refclassid}:${r.refobjid}`;
      let list = this.byReferenced.get(key);
      if (!list) this.byReferenced.set(key, (list = []));
      list.push(r);
      this.classIds.set(r.catalog, r.classid);
      this.classIds.set(r.refcatalog, r.refclassid);
    }
  }

  /**
   * What depends on the object, transitively (at most MAX_DEPENDENCY_DEPTH steps: relation → index →
   * foreign key of another table → its triggers is three), each with the object's sub-ids (a
   * relation's columns) it hangs on, none when the whole object: what DROP … CASCADE would take.
   */
  of(catalog: string, oid: string): CatalogObjectRef[] {
    const classId = this.classIds.get(catalog);
    if (classId === undefined) return [];
    const self = (r: DependencyRow): boolean => r.classid === classId && r.objid === oid;
    const found = new Map<string, { catalog: string; oid: number; cols: Set<number> }>();
    let frontier: { key: string; col: number }[] = [];
    for (const r of this.byReferenced.get(`${classId}:${oid}`) ?? []) {
      if (self(r)) continue;
      const key = `${r.classid}:${r.objid}`;
      note(found, key, r, r.col);
      frontier.push({ key, col: r.col });
    }
    for (let depth = 1; depth < MAX_DEPENDENCY_DEPTH && frontier.length > 0; depth++) {
      const next: { key: string; col: number }[] = [];
      const seen = new Set<string>();
      for (const { key, col } of frontier)
        for (const r of this.byReferenced.get(key) ?? []) {
          if (self(r)) continue;
          const child = `${r.classid}:${r.objid}`;
          note(found, child, r, col);
          if (!seen.has(`${child}:${col}`)) {
            seen.add(`${child}:${col}`);
            next.push({ key: child, col });
          }
        }
      frontier = next;
    }
    return [...found.values()]
      .sort((a, b) => (a.catalog < b.catalog ? -1 : a.catalog > b.catalog ? 1 : a.oid - b.oid))
      .map((d): CatalogObjectRef => {
        // An expression index records the whole table (no simple column) AND each column its
        // expressions use: dropping any of them drops it, so the columns are kept beside the 0.
        const columns = [...d.cols].filter((c) => c !== 0).sort((x, y) => x - y);
        return columns.length === 0 ? { oid: d.oid, catalog: d.catalog } : { oid: d.oid, catalog: d.catalog, columns };
      });
  }
}

function note(
  found: Map<string, { catalog: string; oid: number; cols: Set<number> }>,
  key: string,
  r: DependencyRow,
  col: number,
): void {
  let entry = found.get(key);
  if (!entry) found.set(key, (entry = { catalog: r.catalog, oid: Number(r.objid), cols: new Set() }));
  entry.cols.add(col);
}
