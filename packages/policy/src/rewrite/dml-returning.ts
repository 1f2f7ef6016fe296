import type { PgNode } from "../parse/parse.js";
import { list, nodeType, str, walk } from "./ast.js";

/**
 * The output column name PostgreSQL gives a target-list item without `AS` (parse_target.c,
 * FigureColnameInternal). The write check moves a caller's RETURNING list into a CTE and selects it
 * back out by position, so each output column must be renamed to exactly what the caller would have
 * seen. Strength 2 = a real name, 1 = a fallback ("case", a type name), 0 = none.
 */
function figure(node: unknown): [string, number] {
  const t = nodeType(node);
  if (!t) return ["?column?", 0];
  const [kind, n] = t;
  switch (kind) {
    case "ColumnRef": {
      const last = list(n.fields).at(-1);
      const name = str(last);
      return name !== undefined ? [name, 2] : ["?column?", 0];
    }
    case "A_Indirection": {
      const last = list(n.indirection).at(-1);
      const name = str(last);
      return name !== undefined ? [name, 2] : figure(n.arg);
    }
    case "FuncCall": {
      const name = str(list(n.funcname).at(-1));
      return name !== undefined ? [name, 2] : ["?column?", 0];
    }
    case "A_Expr":
      return n.kind === "AEXPR_NULLIF" ? ["nullif", 2] : ["?column?", 0];
    case "TypeCast": {
      const inner = figure(n.arg);
      if (inner[1] > 1) return inner;
      const type = str(list((n.typeName as PgNode | undefined)?.names).at(-1));
      return type !== undefined ? [type, 1] : inner;
    }
    case "CollateClause":
      return figure(n.arg);
    case "GroupingFunc":
      return ["grouping", 2];
    case "MergeSupportFunc":
      return ["merge_action", 2];
    case "SubLink":
      switch (n.subLinkType) {
        case "EXISTS_SUBLINK":
          return ["exists", 2];
        case "ARRAY_SUBLINK":
          return ["array", 2];
        case "EXPR_SUBLINK": {
          const sub = (n.subselect as PgNode | undefined)?.SelectStmt as PgNode | undefined;
          const first = nodeType(list(sub?.targetList)[0])?.[1];
          if (!first) return ["?column?", 0];
          return typeof first.name === "string" ? [first.name, 2] : figure(first.val);
        }
        default:
          return ["?column?", 0];
      }
    case "CaseExpr": {
      const inner = figure(n.defresult);
      return inner[1] > 1 ? inner : ["case", 1];
    }
    case "A_ArrayExpr":
      return ["array", 2];
    case "RowExpr":
      return ["row", 2];
    case "CoalesceExpr":
      return ["coalesce", 2];
    case "MinMaxExpr":
      return [n.op === "IS_GREATEST" ? "greatest" : "least", 2];
    case "SQLValueFunction":
      return [String(n.op ?? "").replace(/^SVFOP_/, "").replace(/_N$/, "").toLowerCase() || "?column?", 2];
    case "XmlSerialize":
      return ["xmlserialize", 2];
    default:
      return ["?column?", 0];
  }
}

/** The name a RETURNING item (a `{ ResTarget: … }`) gives its output column. */
export function outputName(item: PgNode): string {
  const rt = item.ResTarget as PgNode | undefined;
  if (!rt) return "?column?";
  if (typeof rt.name === "string") return rt.name;
  return figure(rt.val)[0];
}

/** The RETURNING items of a DML statement node (PostgreSQL 18's tree: `returningClause.exprs`). */
export function returningItems(stmt: PgNode): PgNode[] {
  return list((stmt.returningClause as PgNode | undefined)?.exprs ?? stmt.returningList);
}

export function setReturningItems(stmt: PgNode, items: PgNode[]): void {
  if (stmt.returningList !== undefined && stmt.returningClause === undefined) {
    stmt.returningList = items;
    return;
  }
  const clause = (stmt.returningClause as PgNode | undefined) ?? {};
  clause.exprs = items;
  stmt.returningClause = clause;
}

/** The ColumnRef wrappers of `items`, sublinks included: which column anchors belong to this RETURNING. */
export function columnRefsIn(items: readonly PgNode[]): Set<PgNode> {
  const refs = new Set<PgNode>();
  walk(items, (n) => {
    if (n.ColumnRef) refs.add(n);
  });
  return refs;
}

/**
 * ColumnRefs of RETURNING items at this query level (not inside sublinks, which have scopes of their
 * own) that name the DML target syntactically: `col`, `q.col`, `schema.table.col`, `q`, `q.*`, `*`.
 * Used as a cross-check of the analyzer's anchors: a masked column found here that the anchors did
 * not mask means the two disagree, and the rewrite refuses rather than guess.
 */
export function targetRefsAtLevel(items: readonly PgNode[], visit: (wrapper: PgNode, fields: PgNode[]) => void): void {
  const go = (node: unknown): void => {
    if (!node || typeof node !== "object") return;
    if (Array.isArray(node)) {
      for (const x of node) go(x);
      return;
    }
    const t = nodeType(node);
    if (t?.[0] === "SubLink") return;
    if (t?.[0] === "ColumnRef") {
      visit(node as PgNode, list(t[1].fields));
      return;
    }
    for (const key in node as PgNode) go((node as PgNode)[key]);
  };
  go(items);
}
