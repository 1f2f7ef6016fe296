import type { PgNode } from "../parse/parse.js";
import type { RuleId } from "../rules/rules.js";
import type { StatementAnalyzer } from "./analyzer.js";
import { dmlEffect } from "./effects.js";
import { expr } from "./expressions.js";
import { hiddenColumnsWildcard, popCtes, pushCtes, relationEntry, relationFromRangeVar, undefinedColumn } from "./names.js";
import { Refusal } from "./refusal.js";
import { fromItem, select, targetList } from "./select.js";
import { list, newFrame, nodeType, quoteName, rank, verb, type Column, type Frame } from "./tree.js";

/** INSERT/UPDATE/DELETE/MERGE, data-modifying CTEs, and (with the rewrite) writes on governed tables. */
export const RULES_OWNED = [
  "write_not_permitted",
  "data_modifying_cte",
  "hidden_required_column",
  "masked_column_oracle",
  "row_filter_violation",
] as const satisfies readonly RuleId[];

type DmlKind = "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt";

/**
 * A data-modifying CTE makes the whole statement a write (never run in the READ ONLY transaction);
 * it is allowed only where the link may write the modified table.
 */
export function cteDml(a: StatementAnalyzer, kind: string, node: PgNode, outer: Frame | null, name: string): Column[] | null {
  a.cls = "write";
  try {
    return dml(a, kind, node, outer);
  } catch (error) {
    if (error instanceof Refusal && error.ruleId === "write_not_permitted")
      throw new Refusal("data_modifying_cte", `WITH query ${quoteName(name)} is a ${verb(kind)}: ${error.message}`, error.need, error.object);
    throw error;
  }
}

export function dml(a: StatementAnalyzer, kind: string, node: PgNode, outer: Frame | null): Column[] | null {
  pushCtes(a, node.withClause as PgNode | undefined, outer);
  try {
    const rv = node.relation as PgNode;
    const target = relationFromRangeVar(a, rv, false);
    if (!target) throw new Refusal("write_not_permitted", `${verb(kind)} on a system catalog is refused`);
    if (rank(target.access) < 2)
      throw new Refusal("write_not_permitted", `${verb(kind)} on ${target.key} is not allowed: this link can only read it`, `write access on ${target.key}`, target.key);
    for (const dep of target.relation.reads ?? []) {
      const base = a.view.relations.get(dep.relation);
      if (!base || rank(base.access) < 2)
        throw new Refusal("write_not_permitted", `${verb(kind)} through view ${target.key} writes tables this link can only read`, `write access on the view's tables`, target.key);
    }
    const alias = (rv.alias as PgNode | undefined)?.aliasname as string | undefined;
    a.plan.add({ kind: "dml_target", stmtKind: kind as DmlKind, stmt: node, rangeVar: rv, rel: target });
    dmlEffect(a, kind, node, target);
    const targetEntry = relationEntry(target, alias, undefined, "dml_target");
    const frame = newFrame(outer);
    const checkTargetColumn = (name: string | undefined): void => {
      if (name === undefined) return;
      const col = targetEntry.columns?.find((c) => c.name === name);
      if (!col || col.hidden) throw undefinedColumn(`column ${quoteName(name)} of relation ${quoteName(target.relation.name)} does not exist`, undefined, name);
    };
    const noColumnList = (): void => {
      if (target.hiddenColumns.size > 0)
        throw hiddenColumnsWildcard(`INSERT into ${target.key} without a column list is not available on this link; list the columns: ${target.columns.join(", ")}`, undefined, target.key);
    };
    // A row can never be inserted when a hidden column is required: PostgreSQL's not-null error
    // would name the hidden column (and its DETAIL would print the row), so refuse up front.
    const requiredHidden = (): void => {
      if (target.relation.columns.some((c) => target.hiddenColumns.has(c.name) && !c.nullable && !c.hasDefault))
        throw new Refusal("hidden_required_column", `INSERT into ${target.key} is not available on this link: the table requires values for columns the link cannot see`, undefined, target.key);
    };
    switch (kind) {
      case "InsertStmt": {
        requiredHidden();
        const cols = list(node.cols);
        if (cols.length === 0) noColumnList();
        for (const c of cols) {
          const rt = nodeType(c)?.[1];
          checkTargetColumn(rt?.name as string | undefined);
          if (rt?.indirection) expr(a, rt.indirection as PgNode, frame, {});
        }
        const sel = nodeType(node.selectStmt);
        if (sel) select(a, sel[1], outer, {});
        const oc = node.onConflictClause as PgNode | undefined;
        if (oc) {
          const conflictFrame = newFrame(outer);
          conflictFrame.entries.push(targetEntry, { ...targetEntry, name: "excluded", schema: undefined, qualifiedOnly: true, role: "excluded" });
          const infer = oc.infer as PgNode | undefined;
          for (const ie of list(infer?.indexElems)) {
            const el = nodeType(ie)?.[1];
            if (el?.name) checkTargetColumn(el.name as string);
            if (el?.expr) expr(a, el.expr as PgNode, conflictFrame, {});
          }
          if (infer?.whereClause) expr(a, infer.whereClause as PgNode, conflictFrame, {});
          for (const t of list(oc.targetList)) {
            const rt = nodeType(t)?.[1];
            checkTargetColumn(rt?.name as string | undefined);
            if (rt?.val) expr(a, rt.val as PgNode, conflictFrame, {});
          }
          if (oc.whereClause) expr(a, oc.whereClause as PgNode, conflictFrame, {});
        }
        break;
      }
      case "UpdateStmt": {
        frame.entries.push(targetEntry);
        for (const f of list(node.fromClause)) fromItem(a, f, frame);
        for (const t of list(node.targetList)) {
          const rt = nodeType(t)?.[1];
          checkTargetColumn(rt?.name as string | undefined);
          if (rt?.val) expr(a, rt.val as PgNode, frame, {});
          if (rt?.indirection) expr(a, rt.indirection as PgNode, frame, {});
        }
        if (node.whereClause) expr(a, node.whereClause as PgNode, frame, {});
        break;
      }
      case "DeleteStmt": {
        frame.entries.push(targetEntry);
        for (const f of list(node.usingClause)) fromItem(a, f, frame);
        if (node.whereClause) expr(a, node.whereClause as PgNode, frame, {});
        break;
      }
      case "MergeStmt": {
        frame.entries.push(targetEntry);
        fromItem(a, node.sourceRelation as PgNode, frame);
        if (node.joinCondition) expr(a, node.joinCondition as PgNode, frame, {});
        for (const w of list(node.mergeWhenClauses)) {
          const mw = nodeType(w)?.[1];
          if (!mw) continue;
          if (mw.condition) expr(a, mw.condition as PgNode, frame, {});
          const targets = list(mw.targetList);
          if (mw.commandType === "CMD_INSERT") requiredHidden();
          if (mw.commandType === "CMD_INSERT" && targets.length === 0 && list(mw.values).length > 0) noColumnList();
          for (const t of targets) {
            const rt = nodeType(t)?.[1];
            checkTargetColumn(rt?.name as string | undefined);
            if (rt?.val) expr(a, rt.val as PgNode, frame, {});
          }
          for (const v of list(mw.values)) expr(a, v, frame, {});
        }
        break;
      }
    }
    const returning = list((node.returningClause as PgNode | undefined)?.exprs ?? node.returningList);
    if (returning.length === 0) return [];
    const retFrame = newFrame(outer);
    retFrame.entries.push(...frame.entries.filter((e) => e !== targetEntry), targetEntry, { ...targetEntry, name: "old", schema: undefined, qualifiedOnly: true }, { ...targetEntry, name: "new", schema: undefined, qualifiedOnly: true });
    const outside = a.returning;
    a.returning = true;
    try {
      return targetList(a, returning, retFrame, {});
    } finally {
      a.returning = outside;
    }
  } finally {
    popCtes(a, node.withClause as PgNode | undefined);
  }
}

/** For the rewrite's write checks (rewrite/dml-check.ts): a written row outside the table's row filter. */
export function rowFilterViolation(message: string, object?: string): Refusal {
  return new Refusal("row_filter_violation", message, undefined, object);
}
/** For the rewrite's write checks: a clause that would see a masked column's clear value. */
export function maskedColumnOracle(message: string, object?: string): Refusal {
  return new Refusal("masked_column_oracle", message, undefined, object);
}
