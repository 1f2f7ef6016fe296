import { Refusal } from "../analyze/refusal.js";
import type { PgNode } from "../parse/parse.js";
import type { RelationAccess } from "../scope/access.js";
import { andAll, list, replaceNode, str, strNode, template } from "./ast.js";
import { leakproofConjuncts } from "./pushdown.js";
import type { RewriteContext } from "./context.js";
import type { RewriteAnchor } from "./types.js";

/** The alias of the base relation inside a source subquery; the filter's columns are qualified with it. */
export const SOURCE_ALIAS = "_pc_src";

// `OFFSET 0` is the fence: PostgreSQL neither pulls the subquery up nor pushes outer predicates into
// it, so an outer `WHERE 1/(id-17) = 1` only ever sees rows the filter let through (what RLS's
// security-barrier quals guarantee).
const SKELETON = `SELECT FROM (SELECT FROM ONLY s.t AS ${SOURCE_ALIAS} OFFSET 0) AS a`;

/**
 * Replaces a reference to a filtered or masked relation, in place, by the source subquery
 * `(SELECT c1, mask(c2) AS c2, … FROM [ONLY] s.t AS _pc_src WHERE <filter> OFFSET 0) AS alias`:
 * same name, same column names and order (hidden columns left out), `ONLY` kept. Everything above
 * reads the subquery, so it sees only filtered rows and masked values, through any alias, `*`,
 * whole-row reference, CTE or set operation.
 */
export function substituteSource(anchor: Extract<RewriteAnchor, { kind: "source" }>, ctx: RewriteContext): void {
  const { rel, rangeVar: rv } = anchor;
  const governance = ctx.view.governed.get(rel.key)!;
  if (rv.inh === true && governance.governedChildren.length > 0)
    throw new Refusal(
      "row_filter_view",
      `reading ${rel.key} would also read rows of ${governance.governedChildren.join(", ")}, which this link reads only through a row filter or masks; use FROM ONLY ${rel.key}`,
      undefined,
      rel.key,
    );
  if (governance.rowFilter === undefined && governance.masks.size === 0) return; // a parent only: ONLY reads it as is
  const alias = rv.alias as PgNode | undefined;
  const outerName = (alias?.aliasname as string | undefined) ?? rel.relation.name;
  const renamed = list(alias?.colnames).map((c) => str(c)!);

  const skeleton = template(SKELETON).SelectStmt as PgNode;
  const subselect = list(skeleton.fromClause)[0]!.RangeSubselect as PgNode;
  const inner = (subselect.subquery as PgNode).SelectStmt as PgNode;
  const base = list(inner.fromClause)[0]!.RangeVar as PgNode;
  base.schemaname = rel.relation.schema;
  base.relname = rel.relation.name;
  if (rv.inh === true) base.inh = true;
  else delete base.inh;
  inner.targetList = targetList(rel, renamed, ctx);
  const filter = ctx.rowFilter(rel, SOURCE_ALIAS);
  // Renamed columns (alias lists) are not looked at: the outer names are not the table's.
  const level = renamed.length === 0 ? (ctx as SourceContext).sourceLevel?.(anchor.node) : undefined;
  const pushed = level ? leakproofConjuncts(level.select, outerName, level.alone, rel, new Set(governance.masks.keys()), SOURCE_ALIAS) : [];
  if (filter || pushed.length > 0) inner.whereClause = andAll(filter ? [filter, ...pushed] : pushed);
  // Column aliases are applied inside (by position over every column, hidden ones included, as
  // PostgreSQL counts them), so the outer alias carries only the name.
  (subselect.alias as PgNode).aliasname = outerName;
  replaceNode(anchor.node, { RangeSubselect: subselect });

  if (filter) ctx.note(`${rel.key}: row filter applied`);
  if (governance.masks.size > 0) ctx.note(`${rel.key}: ${[...governance.masks].map(([c, k]) => `${c} masked (${k})`).join(", ")}`);
}

/** What the driver's context adds for sources: the columns the statement reads (null: all). */
interface SourceContext extends RewriteContext {
  columnsRead?(rel: RelationAccess): ReadonlySet<string> | null;
  /** The SELECT level whose FROM holds this reference (see pushdown.ts), if it is a plain FROM item. */
  sourceLevel?(node: PgNode): { select: PgNode; alone: boolean } | undefined;
}

function targetList(rel: RelationAccess, renamed: string[], ctx: SourceContext): PgNode[] {
  const targets: PgNode[] = [];
  const read = ctx.columnsRead?.(rel) ?? null;
  rel.relation.columns.forEach((column, i) => {
    if (rel.hiddenColumns.has(column.name)) return;
    if (read && !read.has(column.name)) return;
    const name = renamed[i] ?? column.name;
    const ref: PgNode = { ColumnRef: { fields: [strNode(SOURCE_ALIAS), strNode(column.name)] } };
    const masked = ctx.mask(rel, column.name, ref);
    const target: PgNode = { val: masked ?? ref };
    if (masked || name !== column.name) target.name = name;
    targets.push({ ResTarget: target });
  });
  return targets;
}

/**
 * `schema.table.column` (and `db.schema.table.column`) reading a substituted relation: the subquery's
 * alias has no schema, so the reference keeps only `table.column` (design §1.6 item 2).
 */
export function requalifyColumn(anchor: Extract<RewriteAnchor, { kind: "column" }>): void {
  const ref = anchor.node.ColumnRef as PgNode | undefined;
  if (!ref) return;
  const fields = list(ref.fields);
  const { schema, name } = anchor.rel.relation;
  for (let i = 0; i + 1 < fields.length; i++) {
    if (str(fields[i]) === schema && str(fields[i + 1]) === name) {
      ref.fields = fields.slice(i + 1);
      return;
    }
  }
}
