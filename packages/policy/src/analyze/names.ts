import { opaqueEffect } from "./effects.js";
import { provenReadOnly } from "./function-writes.js";
import type { PgNode } from "../parse/parse.js";
import type { RuleId } from "../rules/rules.js";
import type { AccessView, RelationAccess } from "../scope/access.js";
import type { StatementAnalyzer } from "./analyzer.js";
import { SYSTEM_SCHEMAS, catalogReference, isSystemRelation, systemRelation } from "./catalog.js";
import { unsupported } from "./dispatch.js";
import { cteDml } from "./dml.js";
import { Refusal } from "./refusal.js";
import { select } from "./select.js";
import { hasStar, list, nodeType, quoteName, renameColumns, strings, type Column, type Cte, type ExprContext, type Frame, type RangeEntry } from "./tree.js";

/** Name resolution: relations (through the search path), CTEs, range entries, columns and `*`. */
export const RULES_OWNED = ["undefined_table", "undefined_column", "ambiguous_column", "hidden_columns_wildcard", "hidden_inheritance"] as const satisfies readonly RuleId[];

export function undefinedTable(message: string, need?: string, object?: string): Refusal {
  return new Refusal("undefined_table", message, need, object);
}
export function undefinedColumn(message: string, need?: string, object?: string): Refusal {
  return new Refusal("undefined_column", message, need, object);
}
export function hiddenColumnsWildcard(message: string, need?: string, object?: string): Refusal {
  return new Refusal("hidden_columns_wildcard", message, need, object);
}

/** `*` / `t.*`: refused over hidden columns. */
export function star(a: StatementAnalyzer, fields: PgNode[], frame: Frame, wrapper: PgNode): Column[] | null {
  const qualifier = strings(fields.slice(0, -1));
  const entries = qualifier.length ? [findEntry(qualifier, frame)] : frame.entries.filter((e) => !e.qualifiedOnly);
  if (qualifier.length && !entries[0]) throw undefinedTable(`missing FROM-clause entry for table ${quoteName(qualifier[qualifier.length - 1]!)}`);
  const out: Column[] = [];
  let known = true;
  for (const e of entries) {
    if (!e) continue;
    if (e.columns === null) {
      known = false;
      continue;
    }
    // Even inside EXISTS, where the columns are never produced: PostgreSQL itself treats `*` as a
    // reference to every column (it checks column privileges on all of them), and so do we.
    if (e.columns.some((c) => c.hidden)) throw wildcardRefusal(e, qualifier.length ? `${qualifier.join(".")}.*` : "*");
    out.push(...e.columns.filter((c) => !c.hidden));
    columnAnchor(a, wrapper, e, "*", qualifier.length >= 2);
  }
  return known ? out : null;
}

export function wildcardRefusal(e: RangeEntry, what: string): Refusal {
  const visible = (e.columns ?? []).filter((c) => !c.hidden).map((c) => c.name);
  return new Refusal(
    "hidden_columns_wildcard",
    `${what} on ${e.label} is not available on this link because it would include columns the link cannot see; name the columns instead: ${visible.join(", ")}`,
  );
}

/**
 * A relation in FROM/JOIN/USING: its range entry. `wrapper` is the `{ RangeVar: rv }` node as it sits
 * in its parent, which the rewrite may replace (a source or catalog anchor).
 */
export function rangeVarEntry(a: StatementAnalyzer, rv: PgNode, wrapper: PgNode): RangeEntry {
  const relname = rv.relname as string;
  const schemaname = rv.schemaname as string | undefined;
  const alias = rv.alias as PgNode | undefined;
  if (!schemaname && !rv.catalogname) {
    const cte = findCte(a, relname);
    if (cte) return { name: (alias?.aliasname as string | undefined) ?? relname, columns: renameColumns(cte.columns, alias), label: `WITH query ${quoteName(relname)}` };
  }
  const rel = relationFromRangeVar(a, rv, false);
  if (!rel) {
    a.systemRefs++;
    catalogReference(a, wrapper, rv);
    return { name: (alias?.aliasname as string | undefined) ?? relname, schema: alias ? undefined : (schemaname ?? "pg_catalog"), columns: null, label: relname, catalog: `${schemaname ?? "pg_catalog"}.${relname}` };
  }
  // The JSON tree omits false booleans: `inh` is present only without ONLY.
  if (rv.inh === true) {
    for (const child of allChildren(rel, a.view)) {
      if (!a.view.relations.has(child))
        throw new Refusal("hidden_inheritance", `reading ${rel.key} would also read rows of child tables this link cannot see; use FROM ONLY ${rel.key}`);
    }
  }
  a.plan.add({ kind: "source", node: wrapper, rangeVar: rv, rel });
  return relationEntry(rel, alias?.aliasname as string | undefined, alias, "source");
}

/** A RangeVar met by the generic walk (not a FROM item): checked, and anchored like one. */
export function rangeVarReference(a: StatementAnalyzer, wrapper: PgNode, rv: PgNode): void {
  const rel = relationFromRangeVar(a, rv, false);
  if (rel) a.plan.add({ kind: "source", node: wrapper, rangeVar: rv, rel });
  else {
    a.systemRefs++;
    catalogReference(a, wrapper, rv);
  }
}

/**
 * A RangeVar-typed field outside DDL (no `{ RangeVar }` wrapper, so no anchor the rewrite could
 * replace): fine for plain relations, refused where the rewrite would have to act — a governed
 * relation, or a system catalog on a link whose catalog reads are answered virtually. No statement
 * the analyzer accepts reaches this today; it keeps an unforeseen one from skipping the rewrite.
 */
export function bareRangeVar(a: StatementAnalyzer, rv: PgNode): void {
  const rel = relationFromRangeVar(a, rv, false);
  if (rel ? a.view.governed.has(rel.key) : a.view.hidesSomething)
    throw unsupported(`${rel?.key ?? String(rv.relname)} is referenced where the link's row filters, masks or catalog view cannot be applied`);
  if (!rel) a.systemRefs++;
}

/**
 * A column of a relation-backed range entry, for the rewrite (masks, DML checks, requalification).
 * `column` is the relation's own column name (not an alias's), or "*" for `t.*`, `*` and `t`.
 */
function columnAnchor(a: StatementAnalyzer, wrapper: PgNode, entry: RangeEntry, column: string, qualifiedBySchema: boolean): void {
  const rel = entry.relation;
  // Only masks, filters and their write checks read column anchors: a link governing nothing records
  // none (the most numerous anchor, kept off the plain scopes' hot path).
  if (rel === undefined || entry.role === "excluded" || a.view.governed.size === 0) return;
  const where = entry.role === "dml_target" ? (a.returning ? "returning" : "dml_target") : "source";
  a.plan.add({ kind: "column", node: wrapper, rel, column, where, qualifiedBySchema });
}

/** The relation's column behind position `index` of a relation-backed entry (aliases rename by position). */
function relationColumn(entry: RangeEntry, index: number): string {
  return entry.relation?.relation.columns[index]?.name ?? entry.columns![index]!.name;
}

export function relationEntry(rel: RelationAccess, aliasName: string | undefined, alias: PgNode | undefined, role: "source" | "dml_target"): RangeEntry {
  const cols = rel.relation.columns.map((c) => ({ name: c.name, hidden: rel.hiddenColumns.has(c.name) }));
  return {
    name: aliasName ?? rel.relation.name,
    schema: aliasName ? undefined : rel.relation.schema,
    columns: renameColumns(cols, alias),
    relation: rel,
    label: rel.key,
    role,
  };
}

/**
 * Resolves a RangeVar to a visible user relation, checks system catalogs, or refuses with the
 * same words PostgreSQL uses for a missing relation. Returns undefined for an allowed system relation.
 */
export function relationFromRangeVar(a: StatementAnalyzer, rv: PgNode, forDdl: boolean): RelationAccess | undefined {
  const names: string[] = [];
  if (typeof rv.catalogname === "string") names.push(rv.catalogname);
  if (typeof rv.schemaname === "string") names.push(rv.schemaname);
  names.push(rv.relname as string);
  return resolveRelationName(a, names, forDdl);
}

export function resolveRelationName(a: StatementAnalyzer, names: string[], forDdl: boolean): RelationAccess | undefined {
  const shown = names.join(".");
  const missing = (): Refusal => undefinedTable(`relation ${quoteName(shown)} does not exist`, undefined, shown);
  let relname = names[names.length - 1]!;
  let schema = names.length >= 2 ? names[names.length - 2] : undefined;
  if (names.length === 3 && names[0] !== a.view.catalog.database)
    throw undefinedTable(`cross-database references are not implemented: ${shown}`);
  if (names.length > 3) throw missing();
  // pg_catalog is searched before the search_path unless listed in it explicitly.
  if (schema === undefined && isSystemRelation(a, "pg_catalog", relname)) schema = "pg_catalog";
  if (schema !== undefined && SYSTEM_SCHEMAS.has(schema)) return systemRelation(a, schema, relname, forDdl, shown);
  let rel: RelationAccess | undefined;
  if (schema !== undefined) rel = a.view.relations.get(`${schema}.${relname}`);
  else {
    rel = searchRelation(a, relname);
    relname = rel?.relation.name ?? relname;
  }
  if (!rel) throw missing();
  a.tables.add(rel.key);
  // A view runs the functions its definition calls, with whatever they write.
  if (rel.relation.kind === "view" && rel.relation.calls?.length)
    for (const fn of rel.relation.calls) if (!provenReadOnly(a.view.catalog, fn)) opaqueEffect(a, fn);
  return rel;
}

/** First schema of the search path holding the name decides, even when that one is hidden. */
function searchRelation(a: StatementAnalyzer, relname: string): RelationAccess | undefined {
  for (const schema of a.view.searchPath) {
    const key = `${schema}.${relname}`;
    const hit = a.view.relations.get(key);
    if (hit) return hit;
    if (a.view.catalog.relations[key]) return undefined;
  }
  return undefined;
}

export function pushCtes(a: StatementAnalyzer, withClause: PgNode | undefined, outer: Frame | null): void {
  if (!withClause) return;
  const scope = new Map<string, Cte>();
  a.cteStack.push(scope);
  for (const c of list(withClause.ctes)) {
    const cte = nodeType(c)?.[1];
    if (!cte) continue;
    const name = cte.ctename as string;
    const aliasCols = strings(cte.aliascolnames);
    if (withClause.recursive) scope.set(name, { columns: aliasCols.length ? aliasCols.map((n) => ({ name: n, hidden: false })) : null });
    const q = nodeType(cte.ctequery);
    let cols: Column[] | null = null;
    if (q?.[0] === "SelectStmt") cols = select(a, q[1], outer, {});
    else if (q && ["InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"].includes(q[0])) {
      cols = cteDml(a, q[0], q[1], outer, name);
    } else if (q) throw unsupported(`WITH query ${quoteName(name)} is not a SELECT or a data change`);
    if (aliasCols.length && cols) cols = cols.map((c, i) => (aliasCols[i] ? { name: aliasCols[i]!, hidden: c.hidden } : c));
    else if (aliasCols.length) cols = aliasCols.map((n) => ({ name: n, hidden: false }));
    scope.set(name, { columns: cols });
  }
}

export function popCtes(a: StatementAnalyzer, withClause: PgNode | undefined): void {
  if (withClause) a.cteStack.pop();
}

function findCte(a: StatementAnalyzer, name: string): Cte | undefined {
  for (let i = a.cteStack.length - 1; i >= 0; i--) {
    const hit = a.cteStack[i]!.get(name);
    if (hit) return hit;
  }
  return undefined;
}

/** `wrapper` is the `{ ColumnRef: … }` node, recorded as a column anchor when it names a relation's column. */
export function columnRef(a: StatementAnalyzer, fields: PgNode[], frame: Frame, ctx: ExprContext, wrapper: PgNode): void {
  if (hasStar(fields)) {
    // `t.*` outside a target list (row_to_json(t.*), ROW(t.*), count(t.*)): a whole-row value.
    star(a, fields, frame, wrapper);
    return;
  }
  const names = strings(fields);
  if (names.length === 0) return;
  if (names.length === 1) return unqualified(a, names[0]!, frame, ctx, true, wrapper);
  // a.b: table a's column b; else column a's field b (composite).
  const direct = findEntry(names.slice(0, -1), frame);
  const entry = direct ?? (names.length >= 3 ? findEntry(names.slice(0, -2), frame) : undefined);
  if (entry) {
    const qualifierLength = direct ? names.length - 1 : names.length - 2;
    const colName = names[qualifierLength]!;
    if (entry.columns === null) return;
    const index = entry.columns.findIndex((c) => c.name === colName);
    const col = entry.columns[index];
    if (!col || col.hidden) throw undefinedColumn(`column ${names.slice(0, names.indexOf(colName) + 1).join(".")} does not exist`);
    columnAnchor(a, wrapper, entry, relationColumn(entry, index), qualifierLength >= 2);
    return;
  }
  if (lookupColumn(names[0]!, frame) !== "none") return unqualified(a, names[0]!, frame, ctx, false, wrapper);
  throw undefinedTable(`missing FROM-clause entry for table ${quoteName(names[names.length - 2]!)}`);
}

function unqualified(a: StatementAnalyzer, name: string, frame: Frame, ctx: ExprContext, wholeRowAllowed: boolean, wrapper: PgNode): void {
  const found = lookupColumn(name, frame);
  if (found === "visible") {
    if (foundEntry.relation !== undefined) columnAnchor(a, wrapper, foundEntry, relationColumn(foundEntry, foundIndex), false);
    return;
  }
  if (found === "opaque") return;
  if (found === "hidden") throw undefinedColumn(`column ${quoteName(name)} does not exist`, undefined, name);
  if (found === "ambiguous") throw new Refusal("ambiguous_column", `column reference ${quoteName(name)} is ambiguous; qualify it with its table name`);
  if (ctx.outputNames?.includes(name)) return;
  if (wholeRowAllowed) {
    const entry = findEntry([name], frame);
    if (entry) {
      if (entry.columns?.some((c) => c.hidden)) throw wildcardRefusal(entry, `whole-row reference ${name}`);
      columnAnchor(a, wrapper, entry, "*", false);
      return;
    }
  }
  throw undefinedColumn(`column ${quoteName(name)} does not exist`);
}

// Where lookupColumn's last "visible" answer was found (module state instead of a result object:
// no allocation per column reference on the hot path). Read right after the call.
let foundEntry: RangeEntry = { name: null, columns: null, label: "" };
let foundIndex = -1;

/** PostgreSQL's colNameToVar: innermost query level first; within a level, more than one match is ambiguous. */
export function lookupColumn(name: string, frame: Frame): "visible" | "hidden" | "ambiguous" | "opaque" | "none" {
  for (let f: Frame | null = frame; f; f = f.parent) {
    let visible = 0;
    let hidden = 0;
    let opaque = false;
    for (const e of f.entries) {
      if (e.qualifiedOnly) continue;
      if (e.columns === null) {
        opaque = true;
        continue;
      }
      const columns = e.columns;
      for (let i = 0; i < columns.length; i++) {
        const c = columns[i]!;
        if (c.name !== name) continue;
        if (c.hidden) hidden++;
        else if (visible++ === 0) {
          foundEntry = e;
          foundIndex = i;
        }
      }
    }
    if (hidden > 0) return "hidden";
    if (visible > 1 && !f.merged?.has(name)) return "ambiguous";
    if (visible >= 1) return "visible";
    if (opaque) return "opaque";
  }
  return "none";
}

/** Finds a range entry by reference name (`t`, `schema.t`, `db.schema.t`), innermost level first. */
export function findEntry(qualifier: string[], frame: Frame): RangeEntry | undefined {
  const name = qualifier[qualifier.length - 1]!;
  const schema = qualifier.length >= 2 ? qualifier[qualifier.length - 2] : undefined;
  for (let f: Frame | null = frame; f; f = f.parent) {
    for (let i = f.entries.length - 1; i >= 0; i--) {
      const e = f.entries[i]!;
      if (e.name === name && (schema === undefined || e.schema === schema)) return e;
    }
  }
  return undefined;
}

export function allChildren(rel: RelationAccess, view: AccessView): string[] {
  const out: string[] = [];
  const stack = [...rel.relation.children];
  const seen = new Set<string>();
  while (stack.length) {
    const key = stack.pop()!;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(key);
    stack.push(...(view.catalog.relations[key]?.children ?? []));
  }
  return out;
}
