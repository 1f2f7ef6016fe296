import type { PgNode } from "../parse/parse.js";
import type { RelationAccess } from "../scope/access.js";
import { clone, list, nodeType, str, strNode, walk } from "./ast.js";

// The fence (OFFSET 0) keeps every outer predicate away from rows outside the filter, which also
// keeps `WHERE id = 5` off the table's index. A predicate that cannot fail or say anything about a
// row except whether it matches — a leakproof btree comparison of a column with a constant — may
// safely run below the fence as well (what PostgreSQL itself does for RLS). It is copied, not moved:
// the outer one still runs, so the result is the same whichever way the planner goes.

const COMPARISONS = new Set(["=", "<", "<=", ">", ">=", "<>"]);
// Column types whose comparison operators with a same-type constant are all leakproof (checked on
// PostgreSQL 15: int2/int4/int8 incl. cross-type, text, bpchar, uuid, date, timestamp[tz]; numeric is not).
const INTEGER = new Set(["smallint", "integer", "bigint"]);
const LITERAL_TYPES = new Set(["text", "character varying", "character", "bpchar", "uuid", "date", "timestamp without time zone", "timestamp with time zone", ...INTEGER]);

function baseType(columnType: string): string {
  return columnType.replace(/\(\s*\d+\s*(,\s*\d+\s*)?\)/g, "").replace(/\s+/g, " ").trim();
}

/** `const` is a value fixed for the whole statement that the comparison takes at the column's type. */
function constantFits(node: unknown, type: string): boolean {
  const t = nodeType(node);
  if (!t) return false;
  if (t[0] === "ParamRef") return true; // the caller's $n: typed from the column it is compared with
  if (t[0] !== "A_Const" || t[1].isnull) return false;
  // An integer literal (not a float: `id = 5.5` compares as numeric, which is not leakproof), or a
  // string literal, read as the column's type when the statement is parsed (so a bad one fails then).
  if ("ival" in t[1]) return INTEGER.has(type);
  return "sval" in t[1];
}

/** The source's column a conjunct side names, when it names one of `rel`'s own, unmasked columns. */
function sourceColumn(node: unknown, name: string, alone: boolean, rel: RelationAccess, masked: ReadonlySet<string>): string | undefined {
  const t = nodeType(node);
  if (t?.[0] !== "ColumnRef") return undefined;
  const fields = list(t[1].fields).map(str);
  if (fields.some((f) => f === undefined)) return undefined;
  const column = fields.at(-1)!;
  if (!(fields.length === 2 && fields[0] === name) && !(fields.length === 1 && alone)) return undefined;
  if (masked.has(column) || rel.hiddenColumns.has(column) || !rel.columns.includes(column)) return undefined;
  return column;
}

/**
 * Conjuncts of `select`'s WHERE that compare a column of the source named `name` with a constant
 * through a leakproof operator, copied with the column requalified to `inner`. `alone`: the source is
 * the level's only FROM item, so unqualified names are its columns.
 */
export function leakproofConjuncts(select: PgNode, name: string, alone: boolean, rel: RelationAccess, masked: ReadonlySet<string>, inner: string): PgNode[] {
  const where = select.whereClause as PgNode | undefined;
  if (!where) return [];
  const b = where.BoolExpr as PgNode | undefined;
  const conjuncts = b ? (b.boolop === "AND_EXPR" ? list(b.args) : []) : [where];
  const out: PgNode[] = [];
  for (const c of conjuncts) {
    const e = c.A_Expr as PgNode | undefined;
    if (!e || e.kind !== "AEXPR_OP") continue;
    const op = list(e.name).map(str);
    if (op.length !== 1 || !COMPARISONS.has(op[0]!)) continue; // OPERATOR(schema.op) may be anything
    for (const [col, other] of [
      [e.lexpr, e.rexpr],
      [e.rexpr, e.lexpr],
    ] as const) {
      const column = sourceColumn(col, name, alone, rel, masked);
      if (!column) continue;
      const type = baseType(rel.relation.columns.find((x) => x.name === column)?.type ?? "");
      if (!LITERAL_TYPES.has(type) || !constantFits(other, type)) continue;
      const copy = clone(c);
      walk(copy, (n) => {
        const ref = n.ColumnRef as PgNode | undefined;
        if (ref) ref.fields = [strNode(inner), strNode(column)];
      });
      out.push(copy);
      break;
    }
  }
  return out;
}

/**
 * For each relation reference (`{ RangeVar }` wrapper) in a FROM list, the SELECT level holding it
 * and whether it is that level's only FROM item. Joins without an alias keep their tables' names
 * visible to the level's WHERE; anything else (aliased joins, subqueries) is not looked into.
 */
export function sourceLevels(tree: unknown): Map<PgNode, { select: PgNode; alone: boolean }> {
  const levels = new Map<PgNode, { select: PgNode; alone: boolean }>();
  walk(tree, (n) => {
    const select = n.SelectStmt as PgNode | undefined;
    if (!select) return;
    const from = list(select.fromClause);
    const visit = (item: PgNode): void => {
      if (item.RangeVar) levels.set(item, { select, alone: from.length === 1 && from[0] === item });
      const j = item.JoinExpr as PgNode | undefined;
      if (j && !j.alias) {
        visit(j.larg as PgNode);
        visit(j.rarg as PgNode);
      }
    };
    for (const item of from) visit(item);
  });
  return levels;
}
