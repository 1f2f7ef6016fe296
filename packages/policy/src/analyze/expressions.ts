import type { PgNode } from "../parse/parse.js";
import type { RuleId } from "../rules/rules.js";
import type { StatementAnalyzer } from "./analyzer.js";
import { unsupported } from "./dispatch.js";
import { checkFunction, checkOperator, typeCast } from "./functions.js";
import { bareRangeVar, columnRef, rangeVarReference } from "./names.js";
import { select } from "./select.js";
import { isBareRangeVar, list, nodeType, str, strings, type ExprContext, type Frame } from "./tree.js";

/**
 * The expression walk: column references go to names, calls and operators to functions, sublinks
 * to select. It raises no rule of its own.
 */
export const RULES_OWNED = [] as const satisfies readonly RuleId[];

export function expr(a: StatementAnalyzer, node: PgNode, frame: Frame, ctx: ExprContext): void {
  generic(a, node, frame, ctx);
}

export function generic(a: StatementAnalyzer, node: unknown, frame: Frame, ctx: ExprContext, onRangeVar?: (rv: PgNode) => void): void {
  if (!node || typeof node !== "object") return;
  a.enter();
  try {
    if (Array.isArray(node)) {
      for (const item of node) generic(a, item, frame, ctx, onRangeVar);
      return;
    }
    for (const key in node as PgNode) {
      const value = (node as PgNode)[key];
      switch (key) {
        case "ColumnRef":
          columnRef(a, list((value as PgNode).fields), frame, ctx, node as PgNode);
          continue;
        case "FuncCall": {
          const fc = value as PgNode;
          const names = strings(fc.funcname);
          checkFunction(a, names, true, list(fc.args), frame);
          generic(a, { args: fc.args, agg_order: fc.agg_order, agg_filter: fc.agg_filter, over: fc.over }, frame, {}, onRangeVar);
          continue;
        }
        case "A_Expr": {
          const ae = value as PgNode;
          const op = strings(ae.name);
          checkOperator(a, op);
          generic(a, { l: ae.lexpr, r: ae.rexpr }, frame, {}, onRangeVar);
          continue;
        }
        case "SubLink": {
          const sl = value as PgNode;
          const q = nodeType(sl.subselect);
          if (q?.[0] === "SelectStmt") select(a, q[1], frame, {});
          if (sl.testexpr) generic(a, sl.testexpr, frame, {}, onRangeVar);
          if (sl.operName) checkOperator(a, strings(sl.operName));
          continue;
        }
        case "SelectStmt":
          select(a, value as PgNode, frame, {});
          continue;
        case "InsertStmt":
        case "UpdateStmt":
        case "DeleteStmt":
        case "MergeStmt":
          throw unsupported("a data change nested here is not supported");
        case "TypeCast":
          typeCast(a, value as PgNode, frame, onRangeVar);
          continue;
        case "SortBy": {
          const sb = value as PgNode;
          sortOrGroupItem(a, sb.node as PgNode, frame, ctx, true);
          if (sb.useOp) checkOperator(a, strings(sb.useOp));
          continue;
        }
        case "RangeVar":
          if (onRangeVar) onRangeVar(value as PgNode);
          else rangeVarReference(a, node as PgNode, value as PgNode);
          continue;
        case "relation":
        case "relations":
        case "view":
        case "sequence":
        case "rel":
        case "pktable":
          // Fields typed RangeVar arrive unwrapped (no {"RangeVar": ...} around them).
          if (isBareRangeVar(value)) {
            if (onRangeVar) onRangeVar(value as PgNode);
            else bareRangeVar(a, value as PgNode);
            continue;
          }
          generic(a, value, frame, ctx, onRangeVar);
          continue;
        case "GroupingSet":
          for (const c of list((value as PgNode).content)) sortOrGroupItem(a, c, frame, ctx, false);
          continue;
        default:
          generic(a, value, frame, key === "WindowDef" ? {} : ctx, onRangeVar);
      }
    }
  } finally {
    a.depth--;
  }
}

/** ORDER BY / GROUP BY / DISTINCT ON items: an output column name or ordinal is fine. */
function sortOrGroupItem(a: StatementAnalyzer, item: PgNode, frame: Frame, ctx: ExprContext, outputFirst: boolean): void {
  const t = nodeType(item);
  if (t?.[0] === "ColumnRef" && ctx.outputNames) {
    const fields = list(t[1].fields);
    const only = fields.length === 1 ? str(fields[0]) : undefined;
    // ORDER BY prefers an output column of that name; GROUP BY prefers an input column of this level
    // (then it is checked, and anchored, as the column reference it is).
    if (only !== undefined && ctx.outputNames.includes(only) && (outputFirst || !inputHas(only, frame))) return;
  }
  generic(a, item, frame, { outputNames: ctx.outputNames });
}

function inputHas(name: string, frame: Frame): boolean {
  return frame.entries.some((e) => e.columns?.some((c) => c.name === name));
}
