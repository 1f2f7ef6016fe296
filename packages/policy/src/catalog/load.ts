import { createHash } from "node:crypto";
import type pg from "pg";
import { parseSql, policyReady, type PgNode } from "../parse/parse.js";
import { definitionFacts, virtualCatalogData, virtualCatalogQueries } from "./load-virtual.js";
import type { Catalog, CatalogFunction, CatalogRelation, FkAction, RelationKind, TypeRun, Volatility } from "./types.js";

const USER_NAMESPACE = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`;

// One round trip per query, each a set-based scan of a system catalog: on a database with thousands
// of tables this stays a handful of queries (no per-table describe), which is what keeps loading fast.
const QUERIES = {
  meta: `SELECT current_database() AS database, current_setting('server_version_num')::int AS version,
           (SELECT coalesce(array_agg(extname::text ORDER BY extname), '{}') FROM pg_extension) AS extensions,
           (SELECT coalesce(array_agg(n.nspname::text ORDER BY n.nspname), '{}') FROM pg_namespace n WHERE ${USER_NAMESPACE}) AS schemas`,
  relations: `SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind, d.description AS comment
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
      WHERE c.relkind IN ('r','p','v','m','f','S') AND ${USER_NAMESPACE}`,
  // Plain views' definitions, schema-qualified (search_path is pg_catalog during the load): the
  // rewrite stage expands a view over a governed table into its definition.
  viewDefinitions: `SELECT c.oid::int8 AS oid, c.relkind::text AS kind, pg_get_viewdef(c.oid) AS definition
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('v', 'm') AND ${USER_NAMESPACE}`,
  systemRelations: `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r','p','v','m','f') AND n.nspname IN ('pg_catalog', 'information_schema')`,
  columns: `SELECT a.attrelid::int8 AS oid, a.attnum AS num, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
             NOT a.attnotnull AS nullable,
             a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' AS has_default
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r','p','v','m','f','S') AND ${USER_NAMESPACE}
      ORDER BY a.attrelid, a.attnum`,
  constraints: `SELECT con.conrelid::int8 AS rel, con.contype::text AS type, con.confrelid::int8 AS ref, con.conkey AS cols, con.confkey AS refcols,
        con.confdeltype::text AS ondelete, con.confupdtype::text AS onupdate
      FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE con.contype IN ('p','f') AND ${USER_NAMESPACE}`,
  inherits: `SELECT inhrelid::int8 AS child, inhparent::int8 AS parent FROM pg_inherits`,
  // serial/identity sequences: owned by a table column ('a' for OWNED BY, 'i' for identity).
  ownedSequences: `SELECT d.objid::int8 AS seq, d.refobjid::int8 AS rel, d.refobjsubid AS col
      FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
      WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0`,
  // Views: what each rewrite rule depends on, column by column (refobjsubid = attnum), plus functions.
  viewDeps: `SELECT DISTINCT r.ev_class::int8 AS view, d.refobjid::int8 AS ref, d.refobjsubid AS col,
             d.refclassid = 'pg_proc'::regclass AS is_function
      FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
      WHERE d.refclassid IN ('pg_class'::regclass, 'pg_proc'::regclass) AND d.refobjid <> r.ev_class`,
  functions: `SELECT p.oid::int8 AS oid, n.nspname AS schema, p.proname AS name, p.prokind::text AS kind,
             p.provolatile::text AS volatility, l.lanname AS language, p.prosecdef AS security_definer, e.extname AS extension,
             CASE WHEN l.lanname = 'sql' AND p.prosqlbody IS NULL THEN p.prosrc END AS body,
             p.prosqlbody IS NOT NULL AS atomic_body,
             CASE WHEN p.prosqlbody IS NOT NULL THEN pg_get_function_sqlbody(p.oid) END AS atomic_text, p.pronargs AS nargs, p.pronargdefaults AS ndefaults,
             p.provariadic <> 0 AS variadic,
             (SELECT substr(cfg, 13) FROM unnest(p.proconfig) cfg WHERE cfg LIKE 'search_path=%' LIMIT 1) AS search_path,
             md5(row(p.prosrc, p.probin, p.proconfig, p.provolatile, p.prosecdef, p.proleakproof, p.prolang,
                     p.prosqlbody::text, p.proargdefaults::text, p.prokind)::text) AS code_md5,
             -- Range/multirange constructors: internal code PostgreSQL made for the type (only it records 'i' on one).
             l.lanname = 'internal' AND EXISTS (SELECT 1 FROM pg_depend dt WHERE dt.classid = 'pg_proc'::regclass AND dt.objid = p.oid
               AND dt.refclassid = 'pg_type'::regclass AND dt.deptype = 'i') AS for_type
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
      LEFT JOIN pg_depend de ON de.classid = 'pg_proc'::regclass AND de.objid = p.oid AND de.deptype = 'e'
      LEFT JOIN pg_extension e ON e.oid = de.refobjid
      WHERE ${USER_NAMESPACE}`,
  functionDeps: `SELECT d.objid::int8 AS fn, d.refobjid::int8 AS ref, d.refclassid = 'pg_proc'::regclass AS is_function
      FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'n'
        AND d.refclassid IN ('pg_class'::regclass, 'pg_proc'::regclass) AND d.objid >= 16384`,
  // Built-ins are left out in SQL (oid < 16384, FirstNormalObjectId): thousands of columns and indexes
  // would otherwise ship rows for every built-in cast and comparison function.
  // Functions the database runs when a relation's rows are written: defaults and generated columns
  // (pg_attrdef), CHECK constraints (pg_constraint), user triggers (pg_trigger), index expressions,
  // predicates and operator-class support functions, and a range column's canonical/subtype_diff.
  writeHooks: `SELECT DISTINCT ad.adrelid::int8 AS rel, d.refobjid::int8 AS fn
        FROM pg_attrdef ad JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_proc'::regclass
      UNION SELECT DISTINCT con.conrelid::int8, d.refobjid::int8
        FROM pg_constraint con JOIN pg_depend d ON d.classid = 'pg_constraint'::regclass AND d.objid = con.oid AND d.refclassid = 'pg_proc'::regclass
        WHERE con.conrelid <> 0
      UNION SELECT t.tgrelid::int8, t.tgfoid::int8 FROM pg_trigger t WHERE NOT t.tgisinternal
      UNION SELECT a.attrelid::int8, c.castfunc::int8 FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
        JOIN pg_cast c ON c.casttarget IN (a.atttypid, ty.typbasetype, ty.typelem) AND c.castcontext IN ('a', 'i') AND c.castfunc >= 16384
        WHERE a.attnum > 0 AND NOT a.attisdropped
      UNION SELECT i.indrelid::int8, d.refobjid::int8 FROM pg_index i
        JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid AND d.refclassid = 'pg_proc'::regclass
      UNION SELECT i.indrelid::int8, ap.amproc::oid::int8 FROM pg_index i CROSS JOIN LATERAL unnest(i.indclass::oid[]) oc(opc)
        JOIN pg_opclass o ON o.oid = oc.opc JOIN pg_amproc ap ON ap.amprocfamily = o.opcfamily AND ap.amproc::oid >= 16384
      UNION SELECT a.attrelid::int8, f.fn::oid::int8 FROM pg_attribute a JOIN pg_range r ON a.atttypid IN (r.rngtypid, r.rngmultitypid)
        CROSS JOIN LATERAL (VALUES (r.rngcanonical), (r.rngsubdiff)) f(fn)
        WHERE a.attnum > 0 AND NOT a.attisdropped AND f.fn::oid <> 0
      UNION SELECT a.attrelid::int8, d.refobjid::int8 FROM pg_attribute a
        JOIN pg_constraint con ON con.contypid = a.atttypid
        JOIN pg_depend d ON d.classid = 'pg_constraint'::regclass AND d.objid = con.oid AND d.refclassid = 'pg_proc'::regclass
        WHERE a.attnum > 0 AND NOT a.attisdropped`,
  // Casts (and a domain's CHECKs) to a type run functions, by schema-qualified target and, for a
  // cast, its source (a domain's casts are its base type's): x::t runs only the cast from x's type.
  typeHooks: `SELECT tn.nspname || '.' || t.typname AS type, sn.nspname || '.' || s.typname AS source, c.castfunc::int8 AS fn
        FROM pg_type t JOIN pg_namespace tn ON tn.oid = t.typnamespace
        JOIN pg_cast c ON c.casttarget IN (t.oid, t.typbasetype) AND c.castfunc >= 16384
        JOIN pg_type s ON s.oid = c.castsource JOIN pg_namespace sn ON sn.oid = s.typnamespace
      UNION SELECT tn.nspname || '.' || t.typname, NULL, d.refobjid::int8 FROM pg_constraint con JOIN pg_type t ON t.oid = con.contypid
        JOIN pg_namespace tn ON tn.oid = t.typnamespace
        JOIN pg_depend d ON d.classid = 'pg_constraint'::regclass AND d.objid = con.oid AND d.refclassid = 'pg_proc'::regclass`,
  // A built-in's result type when every overload returns the same concrete one: gen_random_uuid()::text
  // is a cast from uuid. Polymorphic and pseudo-typed results stay unknown.
  builtinReturnTypes: `SELECT p.proname AS name, min(t.typname) AS type FROM pg_proc p JOIN pg_type t ON t.oid = p.prorettype
      WHERE p.pronamespace = 'pg_catalog'::regnamespace GROUP BY p.proname
      HAVING count(DISTINCT p.prorettype) = 1 AND bool_and(t.typnamespace = 'pg_catalog'::regnamespace AND t.typtype NOT IN ('p', 'd'))`,
  // User-defined operators run functions too: `a === b` can call anything `===` was built on.
  operators: `SELECT DISTINCT o.oprname AS name, pn.nspname || '.' || p.proname AS fn
      FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
      JOIN pg_proc p ON p.oid = o.oprcode JOIN pg_namespace pn ON pn.oid = p.pronamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')`,
  // Per name, volatile if any overload is (side effects are the risk); otherwise immutable if any
  // overload is: `length(bytea, name)` being stable must not make `length` need an allowlist entry.
  builtinTypes: `SELECT t.typname AS name FROM pg_type t WHERE t.typnamespace = 'pg_catalog'::regnamespace`,
  builtins: `SELECT p.proname AS name,
             CASE WHEN bool_or(p.provolatile = 'v') THEN 'v' WHEN bool_or(p.provolatile = 'i') THEN 'i' ELSE 's' END AS volatility
      FROM pg_proc p
      WHERE p.pronamespace = 'pg_catalog'::regnamespace GROUP BY p.proname`,
  ...virtualCatalogQueries(USER_NAMESPACE),
  availableExtensions: `SELECT name::text AS name, bool_and(trusted) AS trusted FROM pg_available_extension_versions GROUP BY name ORDER BY name`,
} as const;

const KINDS: Record<string, RelationKind> = {
  r: "table",
  p: "partitioned_table",
  v: "view",
  m: "materialized_view",
  f: "foreign_table",
  S: "sequence",
};
const VOLATILITY: Record<string, Volatility> = { i: "immutable", s: "stable", v: "volatile" };
const FUNCTION_KINDS: Record<string, CatalogFunction["kind"]> = { f: "function", p: "procedure", a: "aggregate", w: "window" };
const VOLATILITY_RANK: Record<Volatility, number> = { immutable: 0, stable: 1, volatile: 2 };

type Queryable = Pick<pg.ClientBase, "query">;

/**
 * Loads the catalog of the database `client` is connected to, inside one REPEATABLE READ READ ONLY
 * transaction so every query sees the same snapshot. Accepts a Pool (borrows one client).
 */
export async function loadCatalog(client: pg.ClientBase | pg.Pool): Promise<Catalog> {
  await policyReady();
  const isPool = typeof (client as pg.Pool).totalCount === "number";
  if (isPool) {
    const borrowed = await (client as pg.Pool).connect();
    try {
      return await loadWith(borrowed);
    } finally {
      borrowed.release();
    }
  }
  return loadWith(client as pg.ClientBase);
}

async function loadWith(client: Queryable): Promise<Catalog> {
  await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  try {
    const rows: Record<keyof typeof QUERIES, Record<string, unknown>[]> = {} as never;
    for (const [key, sql] of Object.entries(QUERIES)) {
      // pg_get_viewdef qualifies every name the search path does not reach: with pg_catalog alone, a
      // view's definition names each user relation with its schema, whatever the link's search path.
      // Only for that query: format_type's type names elsewhere stay as the session shows them.
      const qualified = key === "viewDefinitions" || key === "systemViews";
      const previous = qualified ? ((await client.query("SHOW search_path")).rows[0] as { search_path: string }).search_path : null;
      if (qualified) await client.query("SET LOCAL search_path = pg_catalog");
      rows[key as keyof typeof QUERIES] = (await client.query(sql)).rows;
      if (previous !== null) await client.query("SELECT set_config('search_path', $1, true)", [previous]);
    }
    await client.query("COMMIT");
    return buildCatalog(rows);
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

function buildCatalog(rows: Record<keyof typeof QUERIES, Record<string, unknown>[]>): Catalog {
  const meta = rows.meta[0] as { database: string; version: number; extensions: string[]; schemas: string[] };
  const byOid = new Map<string, CatalogRelation>();
  const relations: Record<string, CatalogRelation> = {};
  for (const r of rows.relations as { oid: string; schema: string; name: string; kind: string; comment: string | null }[]) {
    const rel: CatalogRelation = {
      oid: Number(r.oid),
      schema: r.schema,
      name: r.name,
      kind: KINDS[r.kind] ?? "table",
      columns: [],
      primaryKey: [],
      foreignKeys: [],
      children: [],
    };
    if (r.comment) rel.comment = r.comment;
    byOid.set(r.oid, rel);
    relations[`${r.schema}.${r.name}`] = rel;
  }
  // Materialized views' definitions are read for their facts only: `definition` is what the rewrite
  // expands, and a materialized view's rows are the stored ones.
  const definitions = new Map<string, string>();
  for (const v of rows.viewDefinitions as { oid: string; kind: string; definition: string | null }[]) {
    const rel = byOid.get(v.oid);
    if (!rel || !v.definition) continue;
    definitions.set(v.oid, v.definition);
    if (v.kind === "v") rel.definition = v.definition;
  }
  const attnames = new Map<string, Map<number, string>>();
  for (const c of rows.columns as { oid: string; num: number; name: string; type: string; nullable: boolean; has_default: boolean }[]) {
    const rel = byOid.get(c.oid);
    if (!rel) continue;
    rel.columns.push({ name: c.name, type: c.type, nullable: c.nullable, hasDefault: c.has_default });
    (rel.attnums ??= []).push(c.num);
    let names = attnames.get(c.oid);
    if (!names) attnames.set(c.oid, (names = new Map()));
    names.set(c.num, c.name);
  }
  const colNames = (oid: string, nums: number[] | null): string[] =>
    (nums ?? []).map((n) => attnames.get(oid)?.get(n) ?? `#${n}`);
  for (const con of rows.constraints as { rel: string; type: string; ref: string; cols: number[]; refcols: number[] | null; ondelete: string; onupdate: string }[]) {
    const rel = byOid.get(con.rel);
    if (!rel) continue;
    if (con.type === "p") rel.primaryKey = colNames(con.rel, con.cols);
    else {
      const target = byOid.get(con.ref);
      if (target)
        rel.foreignKeys.push({
          columns: colNames(con.rel, con.cols),
          references: `${target.schema}.${target.name}`,
          referencedColumns: colNames(con.ref, con.refcols),
          ...fkActions(con.ondelete, con.onupdate),
        });
    }
  }
  for (const inh of rows.inherits as { child: string; parent: string }[]) {
    const parent = byOid.get(inh.parent);
    const child = byOid.get(inh.child);
    if (parent && child) parent.children.push(`${child.schema}.${child.name}`);
  }

  for (const o of rows.ownedSequences as { seq: string; rel: string; col: number }[]) {
    const seq = byOid.get(o.seq);
    const owner = byOid.get(o.rel);
    if (seq && owner) seq.ownedBy = { relation: `${owner.schema}.${owner.name}`, column: attnames.get(o.rel)?.get(o.col) ?? `#${o.col}` };
  }

  // Functions: merge overloads worst-case, since the checker resolves calls by name only.
  const functions: Record<string, CatalogFunction> = {};
  const functionByOid = new Map<string, CatalogFunction>();
  const fnDeps = new Map<string, { ref: string; is_function: boolean }[]>();
  for (const d of rows.functionDeps as { fn: string; ref: string; is_function: boolean }[]) {
    let list = fnDeps.get(d.fn);
    if (!list) fnDeps.set(d.fn, (list = []));
    list.push(d);
  }
  type FnRow = {
    oid: string; schema: string; name: string; kind: string; volatility: string; language: string;
    security_definer: boolean; extension: string | null; body: string | null; atomic_body: boolean; atomic_text: string | null; search_path: string | null; code_md5: string;
    nargs: number; ndefaults: number; variadic: boolean; for_type: boolean;
  };
  const fnRows = rows.functions as FnRow[];
  const fnKeyByOid = new Map(fnRows.map((f) => [f.oid, `${f.schema}.${f.name}`]));
  const typeRuns: Record<string, TypeRun[]> = {};
  for (const h of rows.typeHooks as { type: string; source: string | null; fn: string }[]) {
    const fn = fnKeyByOid.get(h.fn);
    if (!fn) continue;
    const list = (typeRuns[h.type] ??= []);
    if (!list.some((r) => r.fn === fn && r.from === (h.source ?? undefined))) list.push(h.source ? { fn, from: h.source } : { fn });
  }
  // User operators run their functions: a body's `a === b` is a call as much as `f(a, b)` is.
  const operatorFns = new Map<string, string[]>();
  for (const o of rows.operators as { name: string; fn: string }[]) operatorFns.set(o.name, [...(operatorFns.get(o.name) ?? []), o.fn]);
  for (const f of fnRows) {
    let reads: string[] | null = null;
    let calls: string[] | null = null;
    let readOnly = false;
    if (f.atomic_body) {
      reads = [];
      calls = [];
      // The dependencies name what the body uses; its text (re-parsed) says whether it writes.
      const scanned = f.atomic_text !== null ? scanSqlBody(`CREATE FUNCTION f() RETURNS int LANGUAGE sql ${f.atomic_text}`, f.search_path, operatorFns, true, typeRuns) : null;
      if (scanned) {
        readOnly = scanned.readOnly;
        calls.push(...scanned.calls);
      }
      for (const d of fnDeps.get(f.oid) ?? []) {
        if (d.is_function) {
          const key = fnKeyByOid.get(d.ref);
          if (key) calls.push(key);
        } else {
          const rel = byOid.get(d.ref);
          if (rel) reads.push(`${rel.schema}.${rel.name}`);
        }
      }
      calls = [...new Set(calls)];
    } else if (f.body !== null) {
      const found = scanSqlBody(f.body, f.search_path, operatorFns, false, typeRuns);
      if (found) ({ reads, calls, readOnly } = found);
    }
    const fn: CatalogFunction = {
      schema: f.schema,
      name: f.name,
      kind: FUNCTION_KINDS[f.kind] ?? "function",
      volatility: VOLATILITY[f.volatility] ?? "volatile",
      language: f.language,
      securityDefiner: f.security_definer,
      extension: f.extension,
      reads,
      calls,
      readOnly,
      arities: [[f.nargs - f.ndefaults, f.variadic ? 100 : f.nargs]],
      ...(f.for_type ? { forType: true as const } : {}),
    };
    functionByOid.set(f.oid, fn);
    const key = `${f.schema}.${f.name}`;
    const prev = functions[key];
    if (!prev) functions[key] = fn;
    else {
      if (VOLATILITY_RANK[fn.volatility] > VOLATILITY_RANK[prev.volatility]) prev.volatility = fn.volatility;
      prev.securityDefiner ||= fn.securityDefiner;
      prev.arities.push(...fn.arities);
      if (prev.language !== fn.language) prev.language = "mixed";
      if (prev.kind !== fn.kind && fn.kind === "procedure") prev.kind = "procedure";
      prev.extension = prev.extension && fn.extension ? prev.extension : null;
      prev.reads = prev.reads && fn.reads ? [...new Set([...prev.reads, ...fn.reads])] : null;
      prev.calls = prev.calls && fn.calls ? [...new Set([...prev.calls, ...fn.calls])] : null;
      prev.readOnly = prev.readOnly && fn.readOnly;
      if (!fn.forType) delete prev.forType;
    }
  }

  for (const h of rows.writeHooks as { rel: string; fn: string }[]) {
    const rel = byOid.get(h.rel);
    const key = fnKeyByOid.get(h.fn);
    if (rel && key && !(rel.runs ??= []).includes(key)) rel.runs.push(key);
  }
  for (const rel of Object.values(relations)) rel.runs?.sort();
  const builtinReturnTypes: Record<string, string> = {};
  for (const b of rows.builtinReturnTypes as { name: string; type: string }[]) builtinReturnTypes[b.name] = b.type;

  // Views: direct dependencies first, then the transitive closure (a view over a view over a table).
  const direct = new Map<string, { rels: Map<string, Set<string> | "all">; fns: Set<string>; system: Set<string>; denied: Set<string> }>();
  // System catalogs and built-ins are pinned, so pg_depend records no dependency on them: the definition says.
  for (const [oid, definition] of definitions) {
    const { system, denied } = definitionFacts(definition);
    if (system.length > 0 || denied.length > 0) direct.set(oid, { rels: new Map(), fns: new Set(), system: new Set(system), denied: new Set(denied) });
  }
  for (const d of rows.viewDeps as { view: string; ref: string; col: number; is_function: boolean }[]) {
    const view = byOid.get(d.view);
    if (!view) continue;
    let entry = direct.get(d.view);
    if (!entry) direct.set(d.view, (entry = { rels: new Map(), fns: new Set(), system: new Set(), denied: new Set() }));
    if (d.is_function) {
      const fn = functionByOid.get(d.ref);
      if (fn && !fn.extension) entry.fns.add(`${fn.schema}.${fn.name}`);
      continue;
    }
    const ref = byOid.get(d.ref);
    if (!ref) continue; // system catalogs: governed by the catalog rules at check time
    const key = ref.oid.toString();
    const cur = entry.rels.get(key);
    if (d.col === 0) entry.rels.set(key, "all");
    else if (cur !== "all") {
      const set = cur ?? new Set<string>();
      set.add(attnames.get(d.ref)?.get(d.col) ?? `#${d.col}`);
      entry.rels.set(key, set);
    }
  }
  for (const [viewOid] of direct) {
    const reads = new Map<string, Set<string> | "all">();
    const calls = new Set<string>();
    const system = new Set<string>();
    const denied = new Set<string>();
    const seen = new Set<string>([viewOid]);
    const stack = [viewOid];
    while (stack.length) {
      const cur = direct.get(stack.pop()!);
      if (!cur) continue;
      for (const fn of cur.fns) calls.add(fn);
      for (const key of cur.system) system.add(key);
      for (const name of cur.denied) denied.add(name);
      for (const [refOid, cols] of cur.rels) {
        const prev = reads.get(refOid);
        if (cols === "all" || prev === "all") reads.set(refOid, "all");
        else reads.set(refOid, new Set([...(prev ?? []), ...cols]));
        if (!seen.has(refOid) && direct.has(refOid)) {
          seen.add(refOid);
          stack.push(refOid);
        }
      }
    }
    const view = byOid.get(viewOid)!;
    view.reads = [...reads].map(([oid, cols]) => {
      const rel = byOid.get(oid)!;
      return { relation: `${rel.schema}.${rel.name}`, columns: cols === "all" ? "all" : [...cols].sort() };
    });
    view.calls = [...calls].sort();
    if (system.size > 0) view.readsCatalog = [...system].sort();
    if (denied.size > 0) view.deniedCalls = [...denied].sort();
  }
  for (const rel of Object.values(relations)) if (rel.kind === "view" && !rel.reads) rel.reads = [];

  const { schemaObjects, systemViews, systemColumns, systemColumnTypes } = virtualCatalogData(rows, byOid);
  const availableExtensions: Record<string, { trusted: boolean }> = {};
  for (const e of rows.availableExtensions as { name: string; trusted: boolean }[]) availableExtensions[e.name] = { trusted: e.trusted };

  const systemRelations: Record<string, true> = {};
  for (const s of rows.systemRelations as { schema: string; name: string }[]) systemRelations[`${s.schema}.${s.name}`] = true;
  const builtinFunctions: Record<string, Volatility> = {};
  for (const b of rows.builtins as { name: string; volatility: string }[]) builtinFunctions[b.name] = VOLATILITY[b.volatility] ?? "volatile";

  const builtinTypeNames: Record<string, true> = {};
  for (const t of rows.builtinTypes as { name: string }[]) builtinTypeNames[t.name] = true;
  const operators: Record<string, string[]> = {};
  for (const o of rows.operators as { name: string; fn: string }[]) (operators[o.name] ??= []).push(o.fn);

  const content = {
    database: meta.database,
    serverVersion: Number(meta.version),
    schemas: meta.schemas,
    relations,
    systemRelations,
    functions,
    builtinFunctions,
    builtinTypeNames,
    operators,
    ...(Object.keys(typeRuns).length ? { typeRuns } : {}),
    builtinReturnTypes,
    extensions: meta.extensions,
    availableExtensions,
    schemaObjects,
    systemViews,
    systemColumns,
    systemColumnTypes,
  };
  // What each function runs, not only its signature: a body replaced after a request was approved
  // must change the version the gateway bound the request to (write_request_schema_changed).
  const code = fnRows.map((f) => `${f.schema}.${f.name}(${f.nargs}):${f.code_md5}`).sort().join("\n");
  const version = createHash("sha256").update(JSON.stringify(content)).update("\u0000").update(code).digest("hex").slice(0, 24);
  return { version, loadedAt: new Date().toISOString(), ...content };
}

/**
 * The relations and functions a SQL-language function body names, and whether it provably only
 * reads: every statement a plain SELECT, no data-modifying CTE, no SELECT INTO, no row lock. Unqualified
 * relation names stay unqualified when the function has no search_path of its own: they resolve at
 * call time under the session's (the gateway's fixed) search_path, so the checker resolves them then.
 * `created`: the text is a CREATE FUNCTION wrapping an atomic body (pg_get_function_sqlbody).
 */
function scanSqlBody(
  body: string,
  searchPath: string | null,
  operatorFns: Map<string, string[]>,
  created: boolean,
  typeRuns: Record<string, TypeRun[]>,
): { reads: string[]; calls: string[]; readOnly: boolean } | null {
  const parsed = parseSql(body);
  if (!parsed.ok) return null;
  const fixedSchema = searchPath ? searchPath.split(",")[0]?.trim().replace(/^"|"$/g, "") : undefined;
  const reads = new Set<string>();
  const calls = new Set<string>();
  let dynamic = false;
  let readOnly = true;
  const walk = (node: unknown, depth: number): void => {
    if (depth > 500) {
      dynamic = true;
      return;
    }
    if (Array.isArray(node)) {
      for (const item of node) walk(item, depth + 1);
      return;
    }
    if (!node || typeof node !== "object") return;
    for (const [key, value] of Object.entries(node as PgNode)) {
      if (WRITING_NODES.has(key)) readOnly = false;
      if ((key === "lockingClause" || key === "intoClause") && value) readOnly = false;
      if (key === "RangeVar") {
        const rv = value as { schemaname?: string; relname: string };
        reads.add(rv.schemaname ? `${rv.schemaname}.${rv.relname}` : fixedSchema ? `${fixedSchema}.${rv.relname}` : rv.relname);
      } else if (key === "FuncCall") {
        const names = ((value as { funcname: { String?: { sval: string } }[] }).funcname ?? []).map((n) => n.String?.sval ?? "");
        calls.add(names.join("."));
      } else if (key === "TypeCast") {
        // x::t runs t's user cast functions and domain CHECKs: calls as much as f(x) (schema-blind
        // unqualified, any source: the body's types are not tracked; a quoted literal uses no cast).
        for (const fn of bodyCastRuns(value as PgNode, typeRuns)) calls.add(fn);
      } else if (key === "A_Expr") {
        const names = ((value as { name?: { String?: { sval: string } }[] }).name ?? []).map((n) => n.String?.sval ?? "");
        for (const fn of operatorFns.get(names[names.length - 1] ?? "") ?? []) calls.add(fn);
      }
      walk(value, depth + 1);
    }
  };
  const statements = parsed.statements.map((s) => s.stmt as PgNode);
  if (created) {
    const create = (statements[0] as { CreateFunctionStmt?: PgNode } | undefined)?.CreateFunctionStmt;
    if (statements.length !== 1 || !create?.sql_body) return null;
    const bodyNode = create.sql_body as PgNode;
    if (!("ReturnStmt" in bodyNode)) {
      const items = ((bodyNode.List as { items?: unknown[] } | undefined)?.items ?? []).flatMap((item) =>
        item && typeof item === "object" && "List" in item ? ((item as { List: { items?: unknown[] } }).List.items ?? []) : [item],
      );
      for (const item of items) if (!(item && typeof item === "object" && "SelectStmt" in item)) readOnly = false;
    }
    walk(bodyNode, 0);
  } else {
    // Only plain SELECTs at the top: anything else (DML, CALL, NOTIFY, DDL…) may change something.
    for (const stmt of statements) if (!(stmt && typeof stmt === "object" && "SelectStmt" in stmt)) readOnly = false;
    walk(statements, 0);
  }
  return dynamic ? null : { reads: [...reads], calls: [...calls], readOnly };
}

function bodyCastRuns(tc: PgNode, typeRuns: Record<string, TypeRun[]>): string[] {
  const names = (((tc.typeName as PgNode | undefined)?.names as { String?: { sval: string } }[] | undefined) ?? []).map((n) => n.String?.sval ?? "");
  const name = names[names.length - 1];
  if (!name) return [];
  const arg = tc.arg as { A_Const?: { sval?: unknown; isnull?: boolean } } | undefined;
  const literal = !!arg?.A_Const && (arg.A_Const.sval !== undefined || arg.A_Const.isnull === true);
  const out: string[] = [];
  for (const [key, runs] of Object.entries(typeRuns)) {
    if (names.length >= 2 ? key !== `${names[names.length - 2]}.${name}` : !key.endsWith(`.${name}`)) continue;
    for (const r of runs) if (!literal || r.from === undefined) out.push(r.fn);
  }
  return out;
}

const WRITING_NODES = new Set(["InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt", "CallStmt", "DoStmt", "NotifyStmt", "CopyStmt"]);

const FK_ACTIONS: Record<string, FkAction> = { c: "cascade", n: "set null", d: "set default" };

/** ON DELETE / ON UPDATE actions that change the referencing rows (NO ACTION and RESTRICT only refuse). */
function fkActions(onDelete: string, onUpdate: string): { onDelete?: FkAction; onUpdate?: FkAction } {
  const out: { onDelete?: FkAction; onUpdate?: FkAction } = {};
  if (FK_ACTIONS[onDelete]) out.onDelete = FK_ACTIONS[onDelete];
  if (FK_ACTIONS[onUpdate]) out.onUpdate = FK_ACTIONS[onUpdate];
  return out;
}
