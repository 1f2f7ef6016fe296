import type { PgNode } from "../parse/parse.js";
import type { RelationAccess } from "../scope/access.js";
import type { StatementAnalyzer } from "./analyzer.js";
import { MAX_DEPTH, list, nodeType, str } from "./tree.js";

/**
 * Whether an UPDATE/DELETE's WHERE narrows the rows it changes by a column of its target. A WHERE
 * that references none (constants, parameters, `NOT false`, `'t'`, `1=1`, a subquery not correlated
 * to the target, an UPDATE … FROM joined on the other table only) selects all rows or none, so for
 * approvals it counts as no WHERE at all. Unsure means "does not narrow": an unqualified name inside a
 * subquery whose FROM has a relation of unknown columns (a CTE, a function, a derived table) is taken
 * as that relation's.
 */
export function whereNarrowsTarget(a: StatementAnalyzer, where: unknown, rv: PgNode, target: RelationAccess): boolean {
  if (!where) return false;
  const alias = (rv.alias as PgNode | undefined)?.aliasname as string | undefined;
  const names = new Set<string>([alias ?? (rv.relname as string)]);
  const cols = new Set(target.relation.columns.map((c) => c.name));
  return references(a, where, names, cols, 0);
}

function references(a: StatementAnalyzer, node: unknown, names: Set<string>, cols: Set<string>, depth: number): boolean {
  if (!node || typeof node !== "object" || depth > MAX_DEPTH) return false;
  if (Array.isArray(node)) return node.some((item) => references(a, item, names, cols, depth + 1));
  for (const key in node as PgNode) {
    const value = (node as PgNode)[key];
    if (key === "ColumnRef") {
      const parts = list((value as PgNode).fields).map(str);
      if (parts.some((p) => p === undefined)) continue; // t.* or a subscript: no single column named
      if (parts.length === 1 ? cols.has(parts[0]!) : names.has(parts[parts.length - 2]!)) return true;
      continue;
    }
    // A set operation's arms are SELECTs without the wrapper (a JoinExpr's arms are wrapped nodes, no `op`).
    if (key === "SelectStmt" || ((key === "larg" || key === "rarg") && value && typeof value === "object" && "op" in value)) {
      if (subquery(a, value as PgNode, names, cols, depth + 1)) return true;
      continue;
    }
    if (references(a, value, names, cols, depth + 1)) return true;
  }
  return false;
}

/** A subquery sees the target only through names its own FROM does not take over. */
function subquery(a: StatementAnalyzer, select: PgNode, outerNames: Set<string>, outerCols: Set<string>, depth: number): boolean {
  const names = new Set(outerNames);
  const cols = new Set(outerCols);
  for (const item of list(select.fromClause)) shadow(a, item, names, cols, depth);
  for (const key in select) if (references(a, select[key], names, cols, depth + 1)) return true;
  return false;
}

function shadow(a: StatementAnalyzer, item: PgNode, names: Set<string>, cols: Set<string>, depth: number): void {
  const t = nodeType(item);
  if (!t || depth > MAX_DEPTH) return cols.clear();
  const [kind, node] = t;
  const alias = (node.alias as PgNode | undefined)?.aliasname as string | undefined;
  if (kind === "RangeVar") {
    const relname = node.relname as string;
    names.delete(alias ?? relname);
    const schema = node.schemaname as string | undefined;
    const catalog = a.view.catalog;
    const key = schema ? `${schema}.${relname}` : a.view.searchPath.map((s) => `${s}.${relname}`).find((k) => catalog.relations[k]);
    const rel = key ? catalog.relations[key] : undefined;
    if (!rel) return cols.clear();
    for (const c of rel.columns) cols.delete(c.name);
    return;
  }
  if (kind === "JoinExpr") {
    shadow(a, node.larg as PgNode, names, cols, depth + 1);
    shadow(a, node.rarg as PgNode, names, cols, depth + 1);
    if (alias) names.delete(alias);
    return;
  }
  if (alias) names.delete(alias);
  cols.clear();
}
