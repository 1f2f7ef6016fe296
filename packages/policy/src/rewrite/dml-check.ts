import { maskedColumnOracle, rowFilterViolation } from "../analyze/dml.js";
import { Refusal } from "../analyze/refusal.js";
import type { PgNode } from "../parse/parse.js";
import type { Governance, RelationAccess } from "../scope/access.js";
import { andAll, clone, list, nodeType, replaceNode, str, strNode, template, templateExpression } from "./ast.js";
import type { RewriteContext } from "./context.js";
import { leakproofConjuncts } from "./pushdown.js";
import { columnRefsIn, outputName, returningItems, setReturningItems, targetRefsAtLevel } from "./dml-returning.js";
import { ROW_FILTER_VIOLATION_MARKER, type RewriteAnchor, type RewritePlan } from "./types.js";

type DmlAnchor = Extract<RewriteAnchor, { kind: "dml_target" }>;

const VERB: Record<DmlAnchor["stmtKind"], string> = { InsertStmt: "INSERT", UpdateStmt: "UPDATE", DeleteStmt: "DELETE", MergeStmt: "MERGE" };
const CTE = "__pc_write";
const OK = "__pc_ok";

/**
 * Writes on a governed table (design §2.4). UPDATE/DELETE touch only rows inside the row filter (the
 * filter is ANDed into their WHERE, read on the old row). INSERT and UPDATE may not leave a row outside
 * it: the statement becomes a data-modifying CTE whose RETURNING carries the filter evaluated on the
 * new row, and whose outer query makes PostgreSQL itself raise (a cast of the marker text to integer)
 * on any row where it is not true — no extra round trip, nothing written (the transaction fails).
 * RETURNING of a masked column of the target returns the masked value.
 *
 * Output of a checked write: the caller's RETURNING columns (same names, same order), one row per
 * written row; without a caller RETURNING, a result with ZERO columns and one row per written row, so
 * the gateway reports its row count as "rows affected".
 */
export function rewriteDmlTarget(anchor: DmlAnchor, ctx: RewriteContext, plan: RewritePlan): { writeCheck: boolean } {
  const kind = anchor.stmtKind;
  const stmt = (anchor.stmt[kind] as PgNode | undefined) ?? anchor.stmt;
  const rel = anchor.rel;
  const g = ctx.view.governed.get(rel.key);
  if (!g) return { writeCheck: false };
  const rv = anchor.rangeVar;
  if (g.readsGoverned.length > 0)
    throw refuse(`${VERB[kind]} through view ${rel.key} would change ${g.readsGoverned.join(", ")}, which this link sees only through a row filter or masks; write the table itself`, rel);
  // The parser omits inh when it is false (ONLY): present and true means descendants are written too.
  if (g.governedChildren.length > 0 && rv.inh === true)
    throw refuse(`${VERB[kind]} on ${rel.key} would also change rows of ${g.governedChildren.join(", ")}, which have a row filter or masks on this link; use ${VERB[kind]} … ONLY ${rel.key}, or write the child table itself`, rel);
  if (g.masks.size > 0) {
    refuseOracles(rel, g, plan);
    // The catalog does not say which columns a named constraint covers: it might be a masked one,
    // whose clear value a guessed conflict would then confirm.
    const oc = kind === "InsertStmt" ? (stmt.onConflictClause as PgNode | undefined) : undefined;
    if (oc?.infer && typeof (oc.infer as PgNode).conname === "string")
      throw maskedColumnOracle(
        `ON CONFLICT ON CONSTRAINT on ${rel.key}, which has masked columns (${[...g.masks.keys()].join(", ")}), cannot be proven not to test their clear values; name the columns: ON CONFLICT (col, …)`,
        rel.key,
      );
  }
  const qualifier = ((rv.alias as PgNode | undefined)?.aliasname as string | undefined) ?? (rv.relname as string);
  const items = maskReturning(kind, stmt, rel, g, qualifier, ctx, plan);

  if (kind === "MergeStmt") {
    if (g.rowFilter === undefined) return { writeCheck: false };
    throw refuse(
      ctx.serverVersion < 170000
        ? "MERGE into a table with a row filter cannot be checked on PostgreSQL < 17"
        : "MERGE into a table with a row filter is not available through the gateway yet; use INSERT … ON CONFLICT, UPDATE or DELETE",
      rel,
    );
  }
  if (g.rowFilter === undefined) return { writeCheck: false };
  if (kind === "UpdateStmt" || kind === "DeleteStmt") guardWhere(stmt, rel, g, qualifier, ctx);
  if (kind === "DeleteStmt") {
    ctx.note(`${rel.key}: DELETE limited to rows inside the row filter`);
    return { writeCheck: false };
  }
  if (kind === "InsertStmt") conflictCheck(stmt, rel, qualifier, ctx);
  withCheck(anchor, stmt, items, rel, qualifier, ctx);
  ctx.note(`${rel.key}: ${VERB[kind]} checked against the row filter (a row outside it is refused)`);
  return { writeCheck: true };
}

/**
 * UPDATE/DELETE touch only rows inside the filter, and the caller's conditions (its WHERE, the join
 * conditions of UPDATE … FROM / DELETE … USING) are only ever evaluated on such rows: the planner
 * orders ANDed quals by cost, so `WHERE <filter> AND address::int IS NULL` could run the cast on a
 * row outside the filter and its error would name the value (an oracle RLS does not have). The
 * caller's WHERE therefore sits in `CASE WHEN <filter> THEN <where> ELSE false END`, which
 * PostgreSQL evaluates in order. Leakproof `col op const` conjuncts (pushdown.ts's rule) are copied
 * outside the CASE so an index still finds `WHERE id = 5`; they can neither fail nor say anything
 * about a row except whether it matches. SET and RETURNING run only on rows the WHERE accepted.
 */
function guardWhere(stmt: PgNode, rel: RelationAccess, g: Governance, qualifier: string, ctx: RewriteContext): void {
  const filter = ctx.rowFilter(rel, qualifier);
  if (!filter) throw refuse(`the row filter of ${rel.key} could not be applied`, rel);
  const where = stmt.whereClause as PgNode | undefined;
  if (!where) {
    stmt.whereClause = filter;
    return;
  }
  const alone = list(stmt.fromClause).length + list(stmt.usingClause).length === 0;
  const pushed = leakproofConjuncts(stmt, qualifier, alone, rel, new Set(g.masks.keys()), qualifier);
  // Nothing but leakproof conjuncts (`WHERE id = 5`, the usual write): no CASE needed, and the text
  // the verify step parses back stays short.
  const b = where.BoolExpr as PgNode | undefined;
  const conjuncts = b?.boolop === "AND_EXPR" ? list(b.args).length : 1;
  if (pushed.length === conjuncts) {
    stmt.whereClause = andAll([filter, where]);
    return;
  }
  const gated = templateExpression("SELECT CASE WHEN __pc_in THEN __pc_where ELSE false END");
  substitute(gated, { __pc_in: clone(filter), __pc_where: where }, qualifier);
  stmt.whereClause = andAll([filter, ...pushed, gated]);
}

/**
 * A write's own clauses (WHERE, SET expressions, ON CONFLICT target/WHERE/SET, MERGE ON/WHEN, the
 * join conditions of UPDATE … FROM) read the target's clear values: a masked column there would be
 * an oracle (`WHERE email LIKE 'a%'` answers by how many rows it touches) or a copy of the clear
 * value into a column that is not masked. The analyzer anchors every such reference as "dml_target";
 * a whole-row reference (`customer::text`) carries every column. Writing INTO a masked column
 * (`SET email = 'x'`, an INSERT column list, `excluded.email`) reads nothing and stays allowed.
 */
function refuseOracles(rel: RelationAccess, g: Governance, plan: RewritePlan): void {
  for (const a of plan.anchors) {
    if (a.kind !== "column" || a.where !== "dml_target" || a.rel.key !== rel.key) continue;
    if (a.column === "*")
      throw maskedColumnOracle(`a whole-row reference to ${rel.key} in a write would read the clear values of its masked columns (${[...g.masks.keys()].join(", ")}); name the columns`, rel.key);
    if (g.masks.has(a.column))
      throw maskedColumnOracle(`${rel.relation.name}.${a.column} is masked on this link; a write may not test or copy its clear value (use it only as a SET target or an INSERT column)`, `${rel.key}.${a.column}`);
  }
}

function refuse(message: string, rel: RelationAccess): Refusal {
  return rowFilterViolation(message, rel.key);
}

/**
 * Masks the target's masked columns in RETURNING, in place, and returns the RETURNING items with any
 * `*` of the target expanded (the write check selects them back by position). Whole-row references to
 * a target with masks carry the clear values and cannot be masked in place: refused.
 */
function maskReturning(kind: DmlAnchor["stmtKind"], stmt: PgNode, rel: RelationAccess, g: Governance, qualifier: string, ctx: RewriteContext, plan: RewritePlan): PgNode[] {
  let items = returningItems(stmt);
  if (items.length === 0) return items;
  const needsExpansion = g.masks.size > 0 || g.rowFilter !== undefined;
  const otherEntries = list(stmt.fromClause).length + list(stmt.usingClause).length > 0;
  // `*` and `q.*` of the target become its columns (masked ones masked): checked by shape.
  const expanded: PgNode[] = [];
  for (const item of items) {
    const rt = item.ResTarget as PgNode | undefined;
    const ref = (rt?.val as PgNode | undefined)?.ColumnRef as PgNode | undefined;
    const fields = list(ref?.fields);
    const star = fields.length > 0 && nodeType(fields.at(-1))?.[0] === "A_Star";
    const targetStar = star && (fields.length === 1 || str(fields.at(-2)) === qualifier);
    if (!star || !needsExpansion) {
      expanded.push(item);
      continue;
    }
    if (!targetStar || (fields.length === 1 && otherEntries))
      throw (g.masks.size > 0 ? maskedColumnOracle : rowFilterViolation)(
        `RETURNING * of ${kind === "UpdateStmt" ? "UPDATE … FROM" : "DELETE … USING"} with other tables cannot be ${g.masks.size > 0 ? "masked" : "checked"} on this link; list the returned columns`,
        rel.key,
      );
    for (const column of rel.columns) expanded.push(columnTarget(qualifier, column));
  }
  items = expanded;
  setReturningItems(stmt, items);
  if (g.masks.size === 0) return items;

  // Anchors say which column references the analyzer resolved to the target; newly expanded stars
  // are ours and handled here too.
  const inReturning = columnRefsIn(items);
  const masked = new Set<PgNode>();
  for (const a of plan.anchors) {
    if (a.kind !== "column" || a.rel !== rel || !inReturning.has(a.node) || a.where === "source") continue;
    if (a.column === "*")
      throw maskedColumnOracle(`RETURNING a whole row of ${rel.key} would carry the clear values of its masked columns; list the returned columns`, rel.key);
    if (g.masks.has(a.column)) masked.add(a.node);
  }
  // Cross-check by shape at this query level: a reference to a masked target column the anchors
  // missed (or a whole-row reference) refuses rather than leaving the clear value in the output.
  targetRefsAtLevel(items, (wrapper, fields) => {
    const names = fields.map(str);
    const last = names.at(-1);
    const target = names.length === 1 || names.at(-2) === qualifier;
    if (names.length === 1 && last === qualifier && !rel.columns.includes(qualifier))
      throw maskedColumnOracle(`RETURNING a whole row of ${rel.key} would carry the clear values of its masked columns; list the returned columns`, rel.key);
    if (target && last !== undefined && g.masks.has(last)) masked.add(wrapper);
  });
  // Masking changes what PostgreSQL would name a column (`email` → `case`, also inside a sublink's
  // target): names are taken before, and kept explicitly where they would change.
  const before = items.map(outputName);
  for (const wrapper of masked) {
    const column = str(list((wrapper.ColumnRef as PgNode).fields).at(-1))!;
    const value = { ColumnRef: wrapper.ColumnRef };
    const mask = ctx.mask(rel, column, value);
    if (!mask) throw new Refusal("rewrite_failed", `the mask of ${rel.key}.${column} could not be applied`, undefined, rel.key);
    replaceNode(wrapper, mask);
  }
  items.forEach((item, i) => {
    const rt = item.ResTarget as PgNode;
    if (typeof rt.name !== "string" && outputName(item) !== before[i]) rt.name = before[i];
  });
  if (masked.size > 0) ctx.note(`${rel.key}: masked columns in RETURNING are returned masked`);
  return items;
}

/**
 * INSERT … ON CONFLICT DO UPDATE: the proposed row (`excluded`) must be inside the filter, then an
 * existing row outside the filter is refused (never silently skipped, never updated), and only then
 * does the caller's ON CONFLICT WHERE decide; the updated row is checked by the CTE. Unlike RLS
 * (which runs the caller's WHERE first), the caller's WHERE and SET never see an existing row
 * outside the filter: its cast errors would name values, and skipped-vs-refused would answer
 * whatever it tests. Such a row gets the same refusal whatever the caller wrote.
 * The raising arms read the existing row's ctid, so the planner cannot fold them into an error before
 * any row is seen.
 */
function conflictCheck(stmt: PgNode, rel: RelationAccess, qualifier: string, ctx: RewriteContext): void {
  const oc = stmt.onConflictClause as PgNode | undefined;
  if (!oc || oc.action !== "ONCONFLICT_UPDATE") return;
  const existing = ctx.rowFilter(rel, qualifier);
  const proposed = ctx.rowFilter(rel, "excluded");
  if (!existing || !proposed) throw refuse(`the row filter of ${rel.key} could not be applied`, rel);
  // The raise names no value (the filter is not copied again: the text the verify step re-parses stays short).
  const raise = (what: string): string =>
    `CAST(pg_catalog.textcat('${ROW_FILTER_VIOLATION_MARKER}:${what}', pg_catalog.left(CAST(__pc_q.ctid AS text), 0)) AS integer) OPERATOR(pg_catalog.=) 1`;
  const check = templateExpression(
    `SELECT CASE WHEN __pc_new IS NOT TRUE THEN ${raise("proposed")} WHEN __pc_old IS NOT TRUE THEN ${raise("conflict")} WHEN __pc_where IS TRUE THEN true ELSE false END`,
  );
  const where = (oc.whereClause as PgNode | undefined) ?? templateExpression("SELECT true");
  substitute(check, { __pc_new: proposed, __pc_where: where, __pc_old: existing }, qualifier);
  oc.whereClause = check;
}

/**
 * The WITH CHECK of design §2.4: `stmt` (top level, or directly under EXPLAIN) moves into a CTE whose
 * RETURNING is the caller's list plus the filter on the new row; the outer SELECT returns the caller's
 * columns under their own names and raises on a row where the filter is not true.
 */
function withCheck(anchor: DmlAnchor, stmt: PgNode, items: PgNode[], rel: RelationAccess, qualifier: string, ctx: RewriteContext): void {
  const kind = anchor.stmtKind;
  const top = topWrapper(ctx.statement, stmt, kind);
  if (!top)
    throw refuse(`${VERB[kind]} on ${rel.key} inside a WITH query cannot be checked against its row filter on this link; run it as a statement of its own`, rel);
  const filter = ctx.rowFilter(rel, qualifier);
  if (!filter) throw refuse(`the row filter of ${rel.key} could not be applied`, rel);
  const ok = template(`SELECT true AS ${OK}`).SelectStmt as PgNode;
  const okTarget = list(ok.targetList)[0]!;
  (okTarget.ResTarget as PgNode).val = filter;
  const names = items.map(outputName);
  setReturningItems(stmt, [...items, okTarget]);

  const callerWith = stmt.withClause as PgNode | undefined;
  delete stmt.withClause;
  const taken = new Set(list(callerWith?.ctes).map((c) => (c.CommonTableExpr as PgNode | undefined)?.ctename as string));
  let name = CTE;
  for (let i = 2; taken.has(name); i++) name = `${CTE}${i}`;

  // The check is an uncorrelated subquery over every written row, which PostgreSQL evaluates (as a
  // one-time filter) before it returns the first row — or finds there is none. The CTE's writes always
  // run to completion, so a check per returned row would see only the rows a client fetches: one
  // that stops after the first (a portal's row limit) would leave later rows unchecked.
  const outer = template(
    `WITH __pc_cte(__pc_col, ${OK}) AS (SELECT 1) SELECT __pc_cte.__pc_col AS __pc_name FROM __pc_cte WHERE (SELECT pg_catalog.count(*) FROM __pc_cte AS __pc_all WHERE (CASE WHEN __pc_all.${OK} IS TRUE THEN 1 ELSE CAST(pg_catalog.textcat('${ROW_FILTER_VIOLATION_MARKER}:', COALESCE(CAST(__pc_all.${OK} AS text), 'null')) AS integer) END) OPERATOR(pg_catalog.=) 1) OPERATOR(pg_catalog.>=) 0`,
  ).SelectStmt as PgNode;
  const cte = list((outer.withClause as PgNode).ctes)[0]!.CommonTableExpr as PgNode;
  cte.ctename = name;
  cte.aliascolnames = [...names.map((_, i) => strNode(`__pc_c${i + 1}`)), strNode(OK)];
  cte.ctequery = { [kind]: stmt };
  const column = list(outer.targetList)[0]!;
  outer.targetList = names.map((n, i) => {
    const t = clone(column);
    const rt = t.ResTarget as PgNode;
    rt.name = n;
    (rt.val as PgNode).ColumnRef = { ...((rt.val as PgNode).ColumnRef as PgNode), fields: [strNode(name), strNode(`__pc_c${i + 1}`)] };
    return t;
  });
  if (names.length === 0) delete outer.targetList;
  renameRefs(outer.fromClause, "__pc_cte", name);
  renameRefs(outer.whereClause, "__pc_cte", name);
  if (callerWith) {
    (callerWith.ctes as PgNode[]).push(list((outer.withClause as PgNode).ctes)[0]!);
    outer.withClause = callerWith;
  }
  replaceNode(top, { SelectStmt: outer });
}

/** The wrapper (`{ InsertStmt: stmt }`) when `stmt` is the statement itself or directly under EXPLAIN. */
function topWrapper(statement: PgNode | undefined, stmt: PgNode, kind: string): PgNode | undefined {
  if (!statement) return undefined;
  if (statement[kind] === stmt) return statement;
  const query = (statement.ExplainStmt as PgNode | undefined)?.query as PgNode | undefined;
  if (query && query[kind] === stmt) return query;
  return undefined;
}

/** A `SELECT q.col` target built from a fixed template (templates are cached by text). */
function columnTarget(qualifier: string, column: string): PgNode {
  const sel = template("SELECT __pc_q.__pc_col").SelectStmt as PgNode;
  const t = list(sel.targetList)[0]!;
  ((t.ResTarget as PgNode).val as PgNode).ColumnRef = { ...(((t.ResTarget as PgNode).val as PgNode).ColumnRef as PgNode), fields: [strNode(qualifier), strNode(column)] };
  return t;
}

/** Renames RangeVar and ColumnRef qualifiers `from` → `to` in a tree we built from a template. */
function renameRefs(node: unknown, from: string, to: string): void {
  if (!node || typeof node !== "object") return;
  if (Array.isArray(node)) {
    for (const x of node) renameRefs(x, from, to);
    return;
  }
  const n = node as PgNode;
  if (n.relname === from) n.relname = to;
  const s = n.String as PgNode | undefined;
  if (s && s.sval === from) s.sval = to;
  for (const key in n) renameRefs(n[key], from, to);
}

/**
 * Puts the given trees where a template has single-name ColumnRef placeholders, and the qualifier
 * where it has `__pc_q`. The first use of a tree places the object itself (the caller's ON CONFLICT
 * WHERE carries nodes the analyzer anchored, which the rest of the rewrite changes in place: a copy
 * would escape those changes); further uses place copies.
 */
function substitute(node: unknown, values: Record<string, PgNode>, qualifier: string, used = new Set<string>()): void {
  if (!node || typeof node !== "object") return;
  const slots = node as Record<string, unknown>;
  for (const key in slots) {
    const child = slots[key];
    const ref = (child as PgNode | null)?.ColumnRef as PgNode | undefined;
    if (ref) {
      const fields = list(ref.fields);
      const name = str(fields[0]);
      if (fields.length === 1 && name !== undefined && Object.hasOwn(values, name)) {
        slots[key] = used.has(name) ? clone(values[name]!) : values[name]!;
        used.add(name);
      } else if (fields.length === 2 && name === "__pc_q") fields[0] = strNode(qualifier);
      continue;
    }
    substitute(child, values, qualifier, used);
  }
}
