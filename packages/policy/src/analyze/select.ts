import type { PgNode } from "../parse/parse.js";
import type { RuleId } from "../rules/rules.js";
import type { RelationAccess } from "../scope/access.js";
import type { StatementAnalyzer } from "./analyzer.js";
import { expr, generic } from "./expressions.js";
import { hiddenColumnsWildcard, popCtes, pushCtes, rangeVarEntry, star, undefinedColumn } from "./names.js";
import { Refusal } from "./refusal.js";
import { hasStar, list, newFrame, nodeType, quoteName, rank, renameColumns, str, strings, type Column, type ExprContext, type Frame, type RangeEntry } from "./tree.js";

/** SELECT and its FROM clause: the query levels whose range entries the names family resolves against. */
export const RULES_OWNED = ["select_into", "row_locking"] as const satisfies readonly RuleId[];

/** Returns the output columns (null when unknown). */
export function select(a: StatementAnalyzer, sel: PgNode, outer: Frame | null, _ctx: ExprContext): Column[] | null {
  a.enter();
  pushCtes(a, sel.withClause as PgNode | undefined, outer);
  try {
    if (sel.intoClause) throw new Refusal("select_into", "SELECT ... INTO creates a table", "CREATE TABLE ... AS with admin access");
    const locking = list(sel.lockingClause);
    // PostgreSQL refuses these itself; refusing first keeps the lock rules below about FROM items only.
    if (locking.length && ((sel.op && sel.op !== "SETOP_NONE") || list(sel.valuesLists).length))
      throw new Refusal("row_locking", "FOR UPDATE/SHARE cannot lock the rows of a set operation or VALUES; lock inside each SELECT");
    if (sel.op && sel.op !== "SETOP_NONE") {
      const left = select(a, sel.larg as PgNode, outer, {});
      select(a, sel.rarg as PgNode, outer, {});
      const outFrame = newFrame(outer);
      outFrame.entries.push({ name: null, columns: left, label: "set operation" });
      for (const s of list(sel.sortClause)) expr(a, s, outFrame, {});
      if (sel.limitCount) expr(a, sel.limitCount as PgNode, outFrame, {});
      if (sel.limitOffset) expr(a, sel.limitOffset as PgNode, outFrame, {});
      return left;
    }
    if (list(sel.valuesLists).length) {
      let width = 0;
      for (const row of list(sel.valuesLists)) {
        const items = list((nodeType(row)?.[1] as PgNode | undefined)?.items);
        width = Math.max(width, items.length);
        for (const item of items) expr(a, item, outer ?? a.root ?? newFrame(null), {});
      }
      return Array.from({ length: width }, (_, i) => ({ name: `column${i + 1}`, hidden: false }));
    }
    const frame = newFrame(outer);
    const fromAnchors = a.plan.anchors.length;
    const systemRefs = a.systemRefs;
    for (const f of list(sel.fromClause)) fromItem(a, f, frame);
    if (locking.length) {
      if (a.systemRefs !== systemRefs) throw new Refusal("row_locking", "FOR UPDATE/SHARE would lock rows of system catalogs; lock only tables of the database");
      lockRows(a, locking, frame, fromAnchors);
    }
    if (sel.whereClause) expr(a, sel.whereClause as PgNode, frame, {});
    const output = targetList(a, list(sel.targetList), frame, {});
    const outputNames = (output ?? []).filter((c) => !c.hidden).map((c) => c.name);
    for (const g of list(sel.groupClause)) expr(a, g, frame, { outputNames });
    if (sel.havingClause) expr(a, sel.havingClause as PgNode, frame, {});
    for (const w of list(sel.windowClause)) expr(a, w, frame, {});
    for (const d of list(sel.distinctClause)) if (nodeType(d)) expr(a, d, frame, { outputNames });
    for (const s of list(sel.sortClause)) expr(a, s, frame, { outputNames });
    if (sel.limitCount) expr(a, sel.limitCount as PgNode, frame, {});
    if (sel.limitOffset) expr(a, sel.limitOffset as PgNode, frame, {});
    return output;
  } finally {
    popCtes(a, sel.withClause as PgNode | undefined);
    a.depth--;
  }
}

/**
 * FOR UPDATE/SHARE/NO KEY UPDATE/KEY SHARE: row locks are a write (the statement runs outside READ
 * ONLY), so every locked relation needs write access — those named in OF, or every relation this
 * level's FROM reads (subqueries and views included: PostgreSQL locks their tables too). A name in OF
 * that is not a plain relation locks what is behind it; we then require it of all of FROM. Rows of a
 * governed table are read through its row filter and masks, which a lock would have to pass through
 * the rewrite's source subquery: not offered.
 */
function lockRows(a: StatementAnalyzer, locking: PgNode[], frame: Frame, fromAnchors: number): void {
  for (const lc of locking) {
    let everything = false;
    for (const named of list(nodeType(lc)?.[1]?.lockedRels)) {
      const name = (nodeType(named)?.[1]?.relname as string | undefined) ?? (named.relname as string | undefined);
      let entry: RangeEntry | undefined;
      for (const e of frame.entries) if (e.name === name) entry = e;
      if (entry?.relation) lockable(a, entry.relation);
      else everything = true;
    }
    if (everything || list(nodeType(lc)?.[1]?.lockedRels).length === 0) {
      const anchors = a.plan.anchors;
      for (let i = fromAnchors; i < anchors.length; i++) {
        const anchor = anchors[i]!;
        if (anchor.kind === "source") lockable(a, anchor.rel);
      }
    }
  }
  a.rowLocks = true;
  if (a.cls === "read") a.cls = "write";
}

function lockable(a: StatementAnalyzer, rel: RelationAccess): void {
  if (a.view.governed.has(rel.key))
    throw new Refusal("row_locking", `FOR UPDATE/SHARE on ${rel.key} is not available: this link reads it through a row filter or masks`, undefined, rel.key);
  if (rank(rel.access) < 2)
    throw new Refusal("row_locking", `FOR UPDATE/SHARE locks rows of ${rel.key}, which this link can only read`, `write access on ${rel.key}`, rel.key);
  for (const dep of rel.relation.reads ?? []) {
    const base = a.view.relations.get(dep.relation);
    if (!base || rank(base.access) < 2)
      throw new Refusal("row_locking", `FOR UPDATE/SHARE through view ${rel.key} locks rows of tables this link can only read`, "write access on the view's tables", rel.key);
  }
}

export function targetList(a: StatementAnalyzer, targets: PgNode[], frame: Frame, _ctx: ExprContext): Column[] | null {
  const out: Column[] = [];
  let known = true;
  for (const t of targets) {
    const rt = nodeType(t)?.[1];
    if (!rt) continue;
    const val = rt.val as PgNode | undefined;
    const cr = nodeType(val);
    if (cr && cr[0] === "ColumnRef" && hasStar(list(cr[1].fields))) {
      const cols = star(a, list(cr[1].fields), frame, val!);
      if (cols === null) known = false;
      else out.push(...cols);
      continue;
    }
    if (val) expr(a, val, frame, {});
    out.push({ name: (rt.name as string | undefined) ?? deriveName(val), hidden: false });
  }
  return known ? out : null;
}

/** Adds a FROM item's range entries to the frame; returns the entries it added. */
export function fromItem(a: StatementAnalyzer, item: PgNode, frame: Frame): RangeEntry[] {
  a.enter();
  try {
    const t = nodeType(item);
    if (!t) return [];
    const [kind, node] = t;
    switch (kind) {
      case "RangeVar": {
        const entry = rangeVarEntry(a, node, item);
        frame.entries.push(entry);
        return [entry];
      }
      case "RangeSubselect": {
        const q = nodeType(node.subquery);
        let cols: Column[] | null = null;
        if (q?.[0] === "SelectStmt") cols = select(a, q[1], frame, {});
        const alias = node.alias as PgNode | undefined;
        const entry: RangeEntry = { name: (alias?.aliasname as string | undefined) ?? null, columns: renameColumns(cols, alias), label: `subquery ${alias?.aliasname ?? ""}`.trim() };
        frame.entries.push(entry);
        return [entry];
      }
      case "RangeFunction": {
        for (const fl of list(node.functions)) {
          for (const f of list((nodeType(fl)?.[1] as PgNode | undefined)?.items ?? fl)) if (nodeType(f)) expr(a, f, frame, {});
        }
        for (const cd of list(node.coldeflist)) generic(a, cd, frame, {});
        const alias = node.alias as PgNode | undefined;
        const colnames = strings(alias?.colnames);
        const defs = list(node.coldeflist).map((c) => (nodeType(c)?.[1]?.colname as string | undefined) ?? "");
        const named = colnames.length ? colnames : defs.length ? defs : null;
        const entry: RangeEntry = {
          name: (alias?.aliasname as string | undefined) ?? firstFunctionName(node),
          columns: named ? named.map((n) => ({ name: n, hidden: false })) : null,
          label: "function result",
        };
        frame.entries.push(entry);
        return [entry];
      }
      case "JoinExpr": {
        const left = fromItem(a, node.larg as PgNode, frame);
        const right = fromItem(a, node.rarg as PgNode, frame);
        const using = strings(node.usingClause);
        const colsOf = (entries: RangeEntry[]): Column[] | null =>
          entries.some((e) => e.columns === null) ? null : entries.flatMap((e) => e.columns!);
        const leftCols = colsOf(left);
        const rightCols = colsOf(right);
        if (node.isNatural) {
          if (leftCols && rightCols) {
            const common = leftCols.filter((c) => rightCols.some((r) => r.name === c.name));
            const hiddenCommon = common.some((c) => c.hidden || rightCols.some((r) => r.name === c.name && r.hidden));
            if (hiddenCommon)
              throw hiddenColumnsWildcard("NATURAL JOIN here is not available on this link because it would compare columns the link cannot see; use JOIN ... ON with named columns");
            for (const c of common) (frame.merged ??= new Set()).add(c.name);
          } else if (a.view.hidesSomething && [...left, ...right].some((e) => e.columns?.some((c) => c.hidden))) {
            throw hiddenColumnsWildcard("NATURAL JOIN with a table that has columns this link cannot see is not available; use JOIN ... ON");
          }
        }
        for (const name of using) {
          for (const [side, cols] of [["left", leftCols], ["right", rightCols]] as const) {
            if (!cols) continue;
            const c = cols.find((x) => x.name === name);
            if (!c || c.hidden) throw undefinedColumn(`column ${quoteName(name)} specified in USING clause does not exist in ${side} table`);
          }
          (frame.merged ??= new Set()).add(name);
        }
        if (node.quals) expr(a, node.quals as PgNode, frame, {});
        const alias = node.alias as PgNode | undefined;
        const added = [...left, ...right];
        if (alias?.aliasname) {
          const all = colsOf(added);
          const merged = all ? all.filter((c, i) => !(!!frame.merged?.has(c.name) && all.findIndex((x) => x.name === c.name) !== i)) : null;
          const entry: RangeEntry = { name: alias.aliasname as string, columns: renameColumns(merged, alias), label: `join ${alias.aliasname}` };
          frame.entries.push(entry);
          added.push(entry);
        }
        if (node.join_using_alias) {
          const ja = (node.join_using_alias as PgNode).aliasname as string;
          const entry: RangeEntry = { name: ja, columns: using.map((n) => ({ name: n, hidden: false })), label: `join ${ja}` };
          frame.entries.push(entry);
          added.push(entry);
        }
        return added;
      }
      case "RangeTableSample": {
        const added = fromItem(a, node.relation as PgNode, frame);
        for (const arg of list(node.args)) expr(a, arg, frame, {});
        if (node.repeatable) expr(a, node.repeatable as PgNode, frame, {});
        return added;
      }
      default: {
        // XMLTABLE, JSON_TABLE, ...: expressions checked; result columns unknown.
        generic(a, node, frame, {});
        const alias = node.alias as PgNode | undefined;
        const entry: RangeEntry = { name: (alias?.aliasname as string | undefined) ?? null, columns: null, label: "table function" };
        frame.entries.push(entry);
        return [entry];
      }
    }
  } finally {
    a.depth--;
  }
}

function deriveName(val: PgNode | undefined): string {
  const t = nodeType(val);
  if (!t) return "?column?";
  const [kind, node] = t;
  if (kind === "ColumnRef") {
    const fields = list(node.fields);
    return str(fields[fields.length - 1]) ?? "?column?";
  }
  if (kind === "FuncCall") {
    const names = list(node.funcname);
    return str(names[names.length - 1]) ?? "?column?";
  }
  if (kind === "TypeCast") {
    const inner = deriveName(node.arg as PgNode);
    if (inner !== "?column?") return inner;
    const names = list((node.typeName as PgNode | undefined)?.names);
    return str(names[names.length - 1]) ?? "?column?";
  }
  if (kind === "A_Indirection") {
    const ind = list(node.indirection);
    return str(ind[ind.length - 1]) ?? deriveName(node.arg as PgNode);
  }
  if (kind === "CaseExpr") return "case";
  if (kind === "CoalesceExpr") return "coalesce";
  return "?column?";
}

function firstFunctionName(rf: PgNode): string | null {
  const first = list(rf.functions)[0];
  const items = list((nodeType(first)?.[1] as PgNode | undefined)?.items ?? first);
  const fc = nodeType(items[0]);
  if (fc?.[0] !== "FuncCall") return null;
  const names = list(fc[1].funcname);
  return str(names[names.length - 1]) ?? null;
}
