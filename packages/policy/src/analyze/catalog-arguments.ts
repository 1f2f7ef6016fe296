import type { PgNode } from "../parse/parse.js";
import type { RelationAccess } from "../scope/access.js";
import type { StatementAnalyzer } from "./analyzer.js";
import { catalogColumn, catalogUnanswerable, isSystemRelation, numericLiteral, SYSTEM_SCHEMAS } from "./catalog.js";
import { resolveRelationName } from "./names.js";
import { literalString, nodeType, splitQualified, strings, type Frame } from "./tree.js";

/*
 * The catalog functions whose arguments need more than "an oid column of a catalog row or a literal
 * naming a visible object" (analyze/catalog.ts): object addresses, node trees, a relation and one of its
 * columns, to_reg*, sizes. Part of the catalog family (its rule: catalog_unanswerable, through its factory).
 */

/**
 * pg_describe_object(classid, objid, objsubid) and the pg_identify_object family name whatever the
 * address points at: objid and objsubid must be the columns of one catalog row the virtual catalog
 * answers (pg_depend's, pg_description's, …), classid a catalog's name or a column; a literal oid or
 * column number could address a hidden table or column.
 */
export const OBJECT_ADDRESS_FUNCTIONS = new Set(["pg_describe_object", "pg_identify_object", "pg_identify_object_as_address"]);

export function objectAddress(a: StatementAnalyzer, shown: string, args: PgNode[], frame: Frame): void {
  const refuse = (): never => {
    throw catalogUnanswerable(`function ${shown} is answered on this link only for an address read from one catalog row in the same query (classid, objid, objsubid columns)`);
  };
  if (args.length !== 3) return refuse();
  const column = (arg: PgNode | undefined) => {
    const node = stripCasts(arg);
    return nodeType(node)?.[0] === "ColumnRef" ? catalogColumn(a, strings((node!.ColumnRef as PgNode).fields), frame) : undefined;
  };
  const objid = column(args[1]);
  const subid = column(args[2]);
  if (!objid || !subid || objid.entry !== subid.entry) return refuse();
  const classid = column(args[0]);
  if (classid) return;
  const name = literalString(stripCasts(args[0]));
  if (name === undefined || !isSystemRelation(a, "pg_catalog", splitQualified(name).at(-1)!)) refuse();
}

/**
 * pg_get_expr(node tree, relation) decodes column numbers against the relation it is given: any other
 * relation than the tree's own row's would print that relation's column names for the numbers, hidden
 * ones included. Both must be columns of one catalog row (psql: pg_get_expr(d.adbin, d.adrelid)).
 */
export function nodeTreeOfItsRow(a: StatementAnalyzer, shown: string, args: PgNode[], frame: Frame): void {
  const refuse = (): never => {
    throw catalogUnanswerable(`function ${shown} is answered on this link only for a node tree and its relation read from the same catalog row (e.g. pg_get_expr(d.adbin, d.adrelid))`);
  };
  const column = (arg: PgNode | undefined) => {
    const node = stripCasts(arg);
    return nodeType(node)?.[0] === "ColumnRef" ? catalogColumn(a, strings((node!.ColumnRef as PgNode).fields), frame) : undefined;
  };
  const tree = column(args[0]);
  const relation = column(args[1]);
  if (args.length < 2 || args.length > 3 || !tree || !relation || tree.entry !== relation.entry) return refuse();
  if (args[2] !== undefined && nodeType(args[2])?.[0] !== "A_Const") refuse();
}


/** Functions taking a relation and one of its columns (by number or name): [relation, column] positions. */
export const COLUMN_FUNCTIONS: Record<string, (count: number) => [number, number] | undefined> = {
  col_description: () => [0, 1],
  has_column_privilege: (count) => (count === 4 ? [1, 2] : [0, 1]),
  pg_get_serial_sequence: () => [0, 1],
};

/**
 * A column argument names a hidden column as surely as a hidden table's name does
 * (col_description('customer'::regclass, 12) printed a hidden column's comment): it must be a visible
 * column of a visible relation, both literals, or the attrelid and attnum/attname of one pg_attribute
 * row the virtual catalog answers (psql's col_description(a.attrelid, a.attnum)). Anything else is
 * refused, a column that does not exist as one that is hidden.
 */
export function columnArgument(a: StatementAnalyzer, shown: string, args: PgNode[], [relAt, colAt]: [number, number], frame: Frame): void {
  const refuse = (): never => {
    throw catalogUnanswerable(
      `function ${shown} is answered on this link only for a column it can see, named as a literal with its relation, or as attrelid and attnum/attname of one pg_attribute row`,
    );
  };
  const relArg = stripCasts(args[relAt]);
  const colArg = stripCasts(args[colAt]);
  if (!relArg || !colArg) return refuse();
  const relRef = nodeType(relArg)?.[0] === "ColumnRef" ? catalogColumn(a, strings((relArg.ColumnRef as PgNode).fields), frame) : undefined;
  const colRef = nodeType(colArg)?.[0] === "ColumnRef" ? catalogColumn(a, strings((colArg.ColumnRef as PgNode).fields), frame) : undefined;
  if (relRef && colRef) {
    if (relRef.entry === colRef.entry && relRef.key === "pg_catalog.pg_attribute" && relRef.column === "attrelid" && (colRef.column === "attnum" || colRef.column === "attname")) return;
    return refuse();
  }
  const relText = literalString(relArg) ?? (nodeType(relArg)?.[0] === "A_Const" ? numericLiteral(relArg.A_Const as PgNode) : undefined);
  const colText = literalString(colArg) ?? (nodeType(colArg)?.[0] === "A_Const" ? numericLiteral(colArg.A_Const as PgNode) : undefined);
  if (relText === undefined || colText === undefined) return refuse();
  let rel: RelationAccess | undefined;
  if (/^\s*\d+\s*$/.test(relText)) rel = [...a.view.relations.values()].find((r) => r.relation.oid === Number(relText));
  else {
    const parts = splitQualified(relText);
    const system = parts.length === 2 ? SYSTEM_SCHEMAS.has(parts[0]!) : parts.length === 1 && isSystemRelation(a, "pg_catalog", parts[0]!);
    if (system) return; // a system catalog's columns hide nothing
    rel = resolveRelationName(a, parts, false);
  }
  if (!rel) return refuse();
  const relation = rel.relation;
  const visible = relation.columns.map((c, i) => ({ name: c.name, num: relation.attnums?.[i] })).filter((c) => !rel!.hiddenColumns.has(c.name));
  const ok = /^\s*-?\d+\s*$/.test(colText) ? visible.some((c) => c.num === Number(colText)) : visible.some((c) => c.name === colText);
  if (!ok) refuse();
}

export function stripCasts(node: PgNode | undefined): PgNode | undefined {
  let cur = node;
  for (let t = nodeType(cur); t && t[0] === "TypeCast"; t = nodeType(cur)) cur = t[1].arg as PgNode;
  return cur;
}

/**
 * to_regclass('x') answers NULL for a name that does not exist, so refusing only hidden names would
 * tell them apart: it is answered only for names of visible objects, and refused the same way for
 * every other name, hidden or not.
 */
export function toReg(a: StatementAnalyzer, name: string, shown: string, args: PgNode[]): void {
  const lit = literalString(args[0]);
  const refuse = (): never => {
    throw catalogUnanswerable(`function ${shown} is answered on this link only for a literal naming a relation, schema or built-in type it can see`);
  };
  if (lit === undefined || args.length !== 1) return refuse();
  const parts = splitQualified(lit);
  const view = a.view;
  const catalog = view.catalog;
  const relationVisible = (): boolean => {
    if (parts.length === 2) return view.relations.has(`${parts[0]}.${parts[1]}`) || (SYSTEM_SCHEMAS.has(parts[0]!) && !!catalog.systemRelations[`${parts[0]}.${parts[1]}`]);
    if (parts.length !== 1) return false;
    if (catalog.systemRelations[`pg_catalog.${parts[0]}`]) return true;
    for (const s of view.searchPath) {
      if (view.relations.has(`${s}.${parts[0]}`)) return true;
      if (catalog.relations[`${s}.${parts[0]}`]) return false;
    }
    return false;
  };
  if (name === "to_regclass" && relationVisible()) return;
  if (name === "to_regnamespace" && parts.length === 1 && (view.visibleSchemas.has(parts[0]!) || SYSTEM_SCHEMAS.has(parts[0]!))) return;
  if (name === "to_regtype" && (relationVisible() || (parts.length === 1 && !!catalog.builtinTypeNames?.[parts[0]!.replace(/\[\]$/, "")]))) return;
  refuse();
}

/** On-disk sizes grow with the rows: a filtered table's would tell how many rows it holds in all. */
export const SIZE_FUNCTIONS = new Set(["pg_relation_size", "pg_total_relation_size", "pg_table_size", "pg_indexes_size"]);

/** On a link with governed tables, sizes only of relations named by a literal and not governed. */
export function relationSize(a: StatementAnalyzer, shown: string, args: PgNode[]): void {
  const lit = literalString(args[0]);
  const refuse = (): never => {
    throw catalogUnanswerable(`function ${shown} is answered on this link only for a table named as a literal that has no row filter or masks, since a size counts rows the link may not see`);
  };
  if (lit === undefined || /^\s*\d+\s*$/.test(lit)) return refuse();
  const rel = resolveRelationName(a, splitQualified(lit), false);
  if (!rel || a.view.governed.has(rel.key) || rel.relation.kind === "view") return refuse();
  if (args.slice(1).some((arg) => nodeType(arg)?.[0] !== "A_Const")) refuse();
}

