import type { PgNode } from "../parse/parse.js";
import type { RelationAccess } from "../scope/access.js";
import type { AccessLevel } from "../scope/schema.js";

/** Parse-tree helpers and the name-resolution state shapes every analysis family shares. */

export interface Column {
  name: string;
  hidden: boolean;
}

export interface RangeEntry {
  /** Reference name: alias, or relation/CTE/function name; null for an unaliased join's merged columns. */
  name: string | null;
  /** For an unaliased relation: its schema, so `schema.table.column` resolves. */
  schema?: string;
  /** null: columns unknown (function results, system catalogs); names resolve to it permissively. */
  columns: Column[] | null;
  relation?: RelationAccess;
  label: string;
  /** `excluded`, `old`, `new`: reachable only as qualified names. */
  qualifiedOnly?: boolean;
  /**
   * With `relation`: how the statement reads it, for column anchors — through a source (FROM, JOIN,
   * USING...), as the DML target, or as ON CONFLICT's `excluded` (the caller's proposed row: no anchor).
   */
  role?: "source" | "dml_target" | "excluded";
  /** A system relation's entry: its key ("pg_catalog.pg_class"), for the virtual catalog's argument rule. */
  catalog?: string;
}

export interface Frame {
  entries: RangeEntry[];
  /** Columns merged by USING/NATURAL joins: an unqualified reference to them is not ambiguous. */
  merged: Set<string> | null;
  parent: Frame | null;
}

export interface Cte {
  columns: Column[] | null;
}

export interface ExprContext {
  /** Output column names usable by name (ORDER BY / GROUP BY / DISTINCT ON). */
  outputNames?: readonly string[];
}

export const MAX_DEPTH = 200;
/** Bodies inside bodies (a DO block creating a function whose body runs a DO block...). */
export const MAX_NESTING = 8;

export function str(node: unknown): string | undefined {
  const s = (node as { String?: { sval?: string } } | undefined)?.String;
  return s ? (s.sval ?? "") : undefined;
}

/** The String values of a list node (names, qualified names), without a closure per call. */
export function strings(value: unknown): string[] {
  const out: string[] = [];
  if (!Array.isArray(value)) return out;
  for (const item of value) {
    const s = str(item);
    if (s !== undefined) out.push(s);
  }
  return out;
}

export function hasStar(fields: PgNode[]): boolean {
  for (const f of fields) if (f && typeof f === "object" && "A_Star" in f) return true;
  return false;
}

export function nodeType(node: unknown): [string, PgNode] | undefined {
  if (!node || typeof node !== "object" || Array.isArray(node)) return undefined;
  // for-in instead of Object.keys: no array per node on the hot path.
  for (const key in node) return [key, (node as Record<string, PgNode>)[key]!];
  return undefined;
}

export function list(value: unknown): PgNode[] {
  return Array.isArray(value) ? (value as PgNode[]) : [];
}

export function quoteName(name: string): string {
  return `"${name}"`;
}

export function rank(level: AccessLevel): number {
  return level === "admin" ? 3 : level === "write" ? 2 : level === "read" ? 1 : 0;
}

export function newFrame(parent: Frame | null): Frame {
  return { entries: [], merged: null, parent };
}

export function permissiveFrame(parent: Frame | null): Frame {
  const f = newFrame(parent);
  f.entries.push({ name: null, columns: null, label: "statement" });
  return f;
}

export function renameColumns(cols: Column[] | null, alias: PgNode | undefined): Column[] | null {
  const names = strings(alias?.colnames);
  if (!cols || names.length === 0) return cols;
  return cols.map((c, i) => (names[i] !== undefined ? { name: names[i]!, hidden: c.hidden } : c));
}

export function isBareRangeVar(value: unknown): boolean {
  return !!value && typeof value === "object" && !Array.isArray(value) && typeof (value as PgNode).relname === "string";
}

export function literalString(node: PgNode | undefined): string | undefined {
  const t = nodeType(node);
  if (!t) return undefined;
  if (t[0] === "A_Const") {
    const s = (t[1] as { sval?: { sval?: string } }).sval;
    return s ? (s.sval ?? "") : undefined;
  }
  if (t[0] === "TypeCast") return literalString(t[1].arg as PgNode);
  return undefined;
}

/** Splits `schema.name` / `"Schema"."Name"` the way regclass input does (unquoted parts fold). */
export function splitQualified(text: string): string[] {
  const parts: string[] = [];
  const re = /\s*(?:"((?:[^"]|"")*)"|([^."\s]+))\s*(\.|$)/gy;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while (consumed < text.length && (m = re.exec(text))) {
    parts.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!.toLowerCase());
    consumed = re.lastIndex;
    if (m[3] === "") break;
  }
  return parts.length ? parts : [text];
}

export function verb(kind: string): string {
  return kind.replace("Stmt", "").toUpperCase();
}
