import { HARMLESS_CATALOGS, VIRTUAL_INNER_PLAIN, VIRTUAL_STATS, VIRTUAL_TABLES, VIRTUAL_VIEWS } from "../analyze/catalogs.js";
import type { Catalog } from "../catalog/types.js";
import { parseSql, type PgNode } from "../parse/parse.js";
import type { AccessView } from "../scope/access.js";
import { clone, list, replaceNode, strNode, template, walk } from "./ast.js";
import { hiddenCatalogSet, type HiddenCatalogSet } from "./catalog-hidden.js";
import type { RewriteContext } from "./context.js";
import type { RewriteAnchor } from "./types.js";

/*
 * The virtual catalog: a reference to a pg_catalog / information_schema relation becomes a subquery
 * answering the same question with the hidden objects removed, as if they had been dropped.
 *
 * - pg_catalog tables: `(SELECT * FROM pg_catalog.t WHERE <none of the hidden oids> OFFSET 0)`; the
 *   OFFSET 0 fence keeps the caller's predicates above ours (`1/(relname <> 'secret')::int` must not
 *   see a hidden row first).
 * - system views: their own definition (loaded with the catalog), with every pg_catalog table inside
 *   replaced the same way, so each column they compute (`column_default`, `pg_get_indexdef`, …) is
 *   computed from visible rows only. Views are expanded rather than filtered by name because names are
 *   ambiguous (constraint names repeat across tables; PostgreSQL 15 names NOT NULL pseudo-constraints
 *   after oids) — filtering the base rows removes whatever a view derives from them.
 * - pg_stats reads pg_statistic (superusers only), so it is filtered by name.
 * Hidden sets are bound as array parameters; the text depends only on (catalog, scope, statement).
 */

/** Parameter slots of the templates below ($1…$6), in the order of HiddenCatalogSet's arrays. */
const SLOTS: readonly [keyof HiddenCatalogSet, string][] = [
  ["objects", "oid[]"],
  ["namespaces", "oid[]"],
  ["columns", "text[]"],
  ["governed", "oid[]"],
  ["filtered", "oid[]"],
  ["masked", "text[]"],
  ["checked", "oid[]"],
];

const TABLE_FILTERS: Record<string, string> = {
  pg_namespace: "oid <> ALL($2)",
  pg_class: "oid <> ALL($1) AND relnamespace <> ALL($2)",
  pg_attribute: "attrelid <> ALL($1) AND (attrelid::text || ':' || attnum) <> ALL($3)",
  pg_index: "indexrelid <> ALL($1) AND indrelid <> ALL($1)",
  pg_constraint: "oid <> ALL($1) AND connamespace <> ALL($2) AND conrelid <> ALL($1) AND confrelid <> ALL($1) AND contypid <> ALL($1)",
  pg_description: "objoid <> ALL($1) AND objoid <> ALL($2) AND (objoid::text || ':' || objsubid) <> ALL($3)",
  pg_attrdef: "oid <> ALL($1) AND adrelid <> ALL($1) AND (adrelid::text || ':' || adnum) <> ALL($3)",
  pg_inherits: "inhrelid <> ALL($1) AND inhparent <> ALL($1)",
  pg_depend:
    "objid <> ALL($1) AND refobjid <> ALL($1) AND objid <> ALL($2) AND refobjid <> ALL($2) AND (objid::text || ':' || objsubid) <> ALL($3) AND (refobjid::text || ':' || refobjsubid) <> ALL($3)",
  pg_proc: "oid <> ALL($1) AND pronamespace <> ALL($2)",
  pg_type: "oid <> ALL($1) AND typnamespace <> ALL($2) AND typrelid <> ALL($1)",
  // tgfoid: a trigger calling a function of a hidden schema goes with it (DROP SCHEMA … CASCADE would).
  pg_trigger: "oid <> ALL($1) AND tgrelid <> ALL($1) AND tgfoid <> ALL($1)",
  pg_rewrite: "oid <> ALL($1) AND ev_class <> ALL($1)",
  pg_statistic_ext: "oid <> ALL($1) AND stxrelid <> ALL($1) AND stxnamespace <> ALL($2)",
  pg_sequence: "seqrelid <> ALL($1)",
};

const STATS_FILTER = `SELECT * FROM pg_catalog.pg_stats s WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
  JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
  WHERE n.nspname = s.schemaname AND c.relname = s.tablename AND a.attname = s.attname
    AND (c.oid = ANY($1) OR n.oid = ANY($2) OR c.oid = ANY($5) OR (c.oid::text || ':' || a.attnum) = ANY($3) OR (c.oid::text || ':' || a.attnum) = ANY($6))) OFFSET 0`;

/** pg_class's size estimates of a governed table: "unknown", not the whole table's count. */
// $5 adds the indexes of filtered tables: an index's size estimates count the table's rows too.
const CLASS_ESTIMATES: Record<string, string> = {
  reltuples: "CASE WHEN oid = ANY($4) OR oid = ANY($5) THEN CAST(-1 AS real) ELSE reltuples END",
  relpages: "CASE WHEN oid = ANY($4) OR oid = ANY($5) THEN 0 ELSE relpages END",
  relallvisible: "CASE WHEN oid = ANY($4) OR oid = ANY($5) THEN 0 ELSE relallvisible END",
};
// A hidden CHECK constraint (over a hidden column) is gone from the copy, and with it from relchecks.
const RELCHECKS = `CASE WHEN oid = ANY($7) THEN CAST((SELECT count(*) FROM pg_catalog.pg_constraint k
  WHERE k.conrelid = pg_class.oid AND k.contype = 'c' AND k.oid <> ALL($1)) AS smallint) ELSE relchecks END`;

/** Activity views of tables and indexes: every counter of a governed table is NULL (unknown). */
const COUNTER_VIEWS = new Set(["pg_catalog.pg_stat_all_tables", "pg_catalog.pg_statio_all_tables", "pg_catalog.pg_stat_all_indexes", "pg_catalog.pg_statio_all_indexes"]);
const COUNTER_KEEP = new Set(["relid", "indexrelid", "schemaname", "relname", "indexrelname"]);

const MAX_EXPANSION_DEPTH = 6;

/** Thrown (and turned into a refusal by the caller) when a relation cannot be answered virtually. */
export class VirtualCatalogUncovered extends Error {}

export const VIRTUAL_CATALOG_COVERED = [...VIRTUAL_VIEWS, VIRTUAL_STATS, ...[...VIRTUAL_TABLES].map((t) => `pg_catalog.${t}`)].sort();

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

// ---------------------------------------------------------------- coverage (no parameters)

const definitions = new WeakMap<Catalog, Map<string, PgNode | null>>();

/** A system view's definition as a SelectStmt wrapper, parsed once per catalog; null when absent. */
function definition(catalog: Catalog, key: string): PgNode | null {
  let perCatalog = definitions.get(catalog);
  if (!perCatalog) definitions.set(catalog, (perCatalog = new Map()));
  let tree = perCatalog.get(key);
  if (tree === undefined) {
    const text = catalog.systemViews?.[key];
    const parsed = text === undefined ? undefined : parseSql(text);
    tree = parsed?.ok && parsed.statements.length === 1 ? (parsed.statements[0]!.stmt as PgNode) : null;
    perCatalog.set(key, tree);
  }
  return tree;
}

const coverage = new WeakMap<Catalog, Map<string, boolean>>();

/**
 * Whether the virtual catalog can answer `key` ("schema.name") on this catalog: a filtered table,
 * pg_stats, or a covered view whose definition reads only what can be answered in turn.
 */
export function virtualCatalogCovers(catalog: Catalog, key: string): boolean {
  let perCatalog = coverage.get(catalog);
  if (!perCatalog) coverage.set(catalog, (perCatalog = new Map()));
  let known = perCatalog.get(key);
  if (known === undefined) {
    try {
      known = catalog.systemViews !== undefined && catalog.systemColumns !== undefined && (isRoot(key) ? coversInner(catalog, key, 0) : false);
    } catch {
      known = false;
    }
    perCatalog.set(key, known);
  }
  return known;
}

function isRoot(key: string): boolean {
  return VIRTUAL_CATALOG_COVERED.includes(key);
}

function coversInner(catalog: Catalog, key: string, depth: number): boolean {
  const [schema, name] = splitKey(key);
  if (schema === "pg_catalog" && (VIRTUAL_TABLES.has(name) || VIRTUAL_INNER_PLAIN.has(name) || name === "pg_authid")) return true;
  if (key === VIRTUAL_STATS) return true;
  if (depth > MAX_EXPANSION_DEPTH) return false;
  const tree = definition(catalog, key);
  if (!tree) return false;
  const ctes = cteNames(tree);
  let ok = true;
  walk(tree, (n) => {
    const rv = n.RangeVar as PgNode | undefined;
    if (!rv || !ok) return;
    const ref = rangeVarKey(rv, ctes);
    if (ref !== null && !coversInner(catalog, ref, depth + 1)) ok = false;
  });
  return ok;
}

function splitKey(key: string): [string, string] {
  const dot = key.indexOf(".");
  return [key.slice(0, dot), key.slice(dot + 1)];
}

function cteNames(tree: PgNode): Set<string> {
  const names = new Set<string>();
  walk(tree, (n) => {
    const cte = n.CommonTableExpr as PgNode | undefined;
    if (cte && typeof cte.ctename === "string") names.add(cte.ctename);
  });
  return names;
}

/** "schema.name" of a RangeVar inside a definition (loaded under search_path = pg_catalog); null for a CTE. */
function rangeVarKey(rv: PgNode, ctes: Set<string>): string | null {
  const schema = rv.schemaname as string | undefined;
  const name = rv.relname as string;
  if (schema === undefined && ctes.has(name)) return null;
  return `${schema ?? "pg_catalog"}.${name}`;
}

// ---------------------------------------------------------------- rewrite

/** Whether any catalog reference may need rewriting on this link (the driver's fast check). */
export function catalogRewriteNeeded(view: AccessView): boolean {
  return view.hidesSomething || view.governed.size > 0;
}

/**
 * Whether a reference to `key` must be rewritten on this link: everything covered when the link hides
 * something; on a link hiding nothing but governing tables, only what shows sizes and statistics.
 */
export function virtualCatalogNeeded(view: AccessView, key: string): boolean {
  // Catalogs listing nothing per user object (access methods, collations, settings) are read as they are.
  if (HARMLESS_CATALOGS.has(splitKey(key)[1])) return false;
  if (view.hidesSomething) return true;
  if (!catalogRewriteNeeded(view)) return false;
  return key === "pg_catalog.pg_class" || key === VIRTUAL_STATS || /^pg_catalog\.pg_stat(io)?_/.test(key);
}

/**
 * Replaces a catalog anchor's RangeVar in place by its virtual subquery (alias and column aliases
 * kept); false when the reference needs no rewrite on this link. Throws VirtualCatalogUncovered when the relation cannot be answered; the analyzer refuses
 * those before the rewrite runs, so this is the last line, not the decision.
 */
export function virtualCatalogSource(anchor: Extract<RewriteAnchor, { kind: "catalog" }>, ctx: RewriteContext): boolean {
  const view = ctx.view;
  // An anchor recorded twice is replaced once.
  if (!("RangeVar" in anchor.node) || !virtualCatalogNeeded(view, anchor.key)) return false;
  if (!virtualCatalogCovers(view.catalog, anchor.key)) throw new VirtualCatalogUncovered(`${anchor.key} is not covered by the virtual catalog`);
  const hidden = hiddenCatalogSet(view);
  if (!hidden.complete) throw new VirtualCatalogUncovered("the catalog was loaded without the virtual catalog's data");
  const rv = anchor.rangeVar;
  const alias = (rv.alias as PgNode | undefined) ?? { aliasname: rv.relname as string };
  const subquery = bind(clone(expansion(view.catalog, anchor.key, { governed: hidden.governed.length > 0, checks: hidden.checked.length > 0 })), hidden, ctx);
  replaceNode(anchor.node, { RangeSubselect: { subquery, alias: clone(alias) } });
  ctx.note(`${anchor.key}: answered without the objects this link cannot see`);
  return true;
}

const expansions = new WeakMap<Catalog, Map<string, PgNode>>();

/**
 * The SelectStmt wrapper answering `key`, its hidden sets still as the templates' `$k` slots: the same
 * for every scope of a catalog (but for whether a table is governed), so built once per catalog and
 * copied per statement; only binding the slots depends on the scope.
 */
interface Flags {
  governed: boolean;
  /** Some visible relation lost a CHECK constraint: pg_class.relchecks is recounted for it. */
  checks: boolean;
}

function expansion(catalog: Catalog, key: string, flags: Flags): PgNode {
  let perCatalog = expansions.get(catalog);
  if (!perCatalog) expansions.set(catalog, (perCatalog = new Map()));
  const cacheKey = `${key}\u0000${flags.governed}\u0000${flags.checks}`;
  let tree = perCatalog.get(cacheKey);
  if (!tree) perCatalog.set(cacheKey, (tree = expand(catalog, key, flags, 0)));
  return tree;
}

function expand(catalog: Catalog, key: string, flags: Flags, depth: number): PgNode {
  const governed = flags.governed;
  const [schema, name] = splitKey(key);
  if (schema === "pg_catalog" && VIRTUAL_TABLES.has(name)) {
    let projection = "*";
    if (name === "pg_class" && (governed || flags.checks)) {
      const cols = catalog.systemColumns?.[key];
      if (!cols) throw new VirtualCatalogUncovered(`the columns of ${key} were not loaded`);
      const replaced = (c: string): string | undefined => (c === "relchecks" && flags.checks ? RELCHECKS : governed ? CLASS_ESTIMATES[c] : undefined);
      projection = cols.map((c) => (replaced(c) ? `${replaced(c)} AS ${quote(c)}` : quote(c))).join(", ");
    }
    return template(`SELECT ${projection} FROM pg_catalog.${name} WHERE ${TABLE_FILTERS[name]} OFFSET 0`);
  }
  if (key === VIRTUAL_STATS) return template(STATS_FILTER);
  if (depth > MAX_EXPANSION_DEPTH) throw new VirtualCatalogUncovered(`${key} nests too deeply`);
  const tree = definition(catalog, key);
  if (!tree) throw new VirtualCatalogUncovered(`the definition of ${key} was not loaded`);
  const body = clone(tree);
  const ctes = cteNames(body);
  const refs: PgNode[] = [];
  walk(body, (n) => {
    if (n.RangeVar) refs.push(n);
    const fc = n.FuncCall as PgNode | undefined;
    // The definition was printed for search_path = pg_catalog; the statement runs under the link's
    // search path, where a user function with a closer-matching signature could win the call.
    if (fc && list(fc.funcname).length === 1) fc.funcname = [strNode("pg_catalog"), ...list(fc.funcname)];
  });
  for (const wrapper of refs) {
    const rv = wrapper.RangeVar as PgNode;
    const ref = rangeVarKey(rv, ctes);
    if (ref === null) continue;
    const [refSchema, refName] = splitKey(ref);
    if (refSchema === "pg_catalog" && refName === "pg_authid") {
      rv.relname = "pg_roles";
      rv.schemaname = "pg_catalog";
      rv.alias ??= { aliasname: "pg_authid" };
    } else if (refSchema === "pg_catalog" && VIRTUAL_INNER_PLAIN.has(refName)) {
      rv.schemaname = "pg_catalog";
    } else {
      const inner = expand(catalog, ref, flags, depth + 1);
      replaceNode(wrapper, { RangeSubselect: { subquery: inner, alias: clone((rv.alias as PgNode | undefined) ?? { aliasname: refName }) } });
    }
  }
  if (COUNTER_VIEWS.has(key) && governed) {
    const cols = catalog.systemColumns?.[key];
    if (!cols) throw new VirtualCatalogUncovered(`the columns of ${key} were not loaded`);
    const projection = cols.map((c) => (COUNTER_KEEP.has(c) ? `v.${quote(c)}` : `CASE WHEN v.relid = ANY($4) THEN NULL ELSE v.${quote(c)} END AS ${quote(c)}`));
    const outer = template(`SELECT ${projection.join(", ")} FROM (SELECT 1) AS v`);
    const from = list((outer.SelectStmt as PgNode).fromClause)[0]!;
    (from.RangeSubselect as PgNode).subquery = body;
    return outer;
  }
  return body;
}

/** Replaces the template's `$k` slots by the rewrite's parameters for the hidden sets. */
function bind(tree: PgNode, hidden: HiddenCatalogSet, ctx: RewriteContext): PgNode {
  const refs: PgNode[] = [];
  walk(tree, (n) => {
    if (n.ParamRef) refs.push(n);
  });
  // One ctx.param per slot (it keys sources by their value: a large hidden set is costly to key).
  const bound = new Map<number, PgNode>();
  for (const wrapper of refs) {
    const n = (wrapper.ParamRef as PgNode).number as number;
    const slot = SLOTS[n - 1];
    if (!slot) throw new Error("virtual catalog template uses an unknown slot");
    let node = bound.get(n);
    if (!node) bound.set(n, (node = ctx.param({ kind: "constant", value: hidden[slot[0]] as string[] }, slot[1])));
    replaceNode(wrapper, clone(node));
  }
  return tree;
}
