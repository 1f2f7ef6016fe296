import { parseSql, type PgNode } from "../parse/parse.js";

// Small helpers over libpg-query's JSON tree shared by the rewrite parts. Nodes we build come from
// parsed templates, so they carry exactly the fields the parser would give them: the deparse check
// (deparse.ts) compares the rewritten tree with a re-parse of its text field by field.

export function nodeType(node: unknown): [string, PgNode] | undefined {
  if (!node || typeof node !== "object" || Array.isArray(node)) return undefined;
  for (const key in node) return [key, (node as Record<string, PgNode>)[key]!];
  return undefined;
}

export function str(node: unknown): string | undefined {
  const s = (node as { String?: { sval?: string } } | undefined)?.String;
  return s ? (s.sval ?? "") : undefined;
}

export function strNode(sval: string): PgNode {
  return { String: { sval } };
}

export function list(value: unknown): PgNode[] {
  return Array.isArray(value) ? (value as PgNode[]) : [];
}

/** A deep copy of a JSON tree (faster than structuredClone on the small trees we copy). */
export function clone<T>(value: T): T {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(clone) as T;
  const out: Record<string, unknown> = {};
  for (const key in value as Record<string, unknown>) out[key] = clone((value as Record<string, unknown>)[key]);
  return out as T;
}

/** Replaces a wrapper node's content in place (`{ RangeVar: … }` becomes `{ RangeSubselect: … }`). */
export function replaceNode(target: PgNode, replacement: PgNode): void {
  for (const key of Object.keys(target)) delete target[key];
  Object.assign(target, replacement);
}

const templates = new Map<string, PgNode>();

/** The statement node of `SELECT …` text we wrote ourselves, parsed once; a fresh copy per call. */
export function template(sql: string): PgNode {
  let tree = templates.get(sql);
  if (!tree) {
    const parsed = parseSql(sql);
    if (!parsed.ok || parsed.statements.length !== 1) throw new Error(`rewrite template does not parse: ${sql}`);
    tree = parsed.statements[0]!.stmt;
    templates.set(sql, tree);
  }
  return clone(tree);
}

/** The first target expression of a `SELECT <expr>` template. */
export function templateExpression(sql: string): PgNode {
  const select = template(sql).SelectStmt as PgNode;
  return (list(select.targetList)[0]!.ResTarget as PgNode).val as PgNode;
}

/** `a AND b AND …` as the parser builds it (one flat BoolExpr), so a deparse re-parses to the same tree. */
export function andAll(parts: PgNode[]): PgNode {
  const args: PgNode[] = [];
  for (const p of parts) {
    const b = p.BoolExpr as PgNode | undefined;
    if (b && b.boolop === "AND_EXPR") args.push(...list(b.args));
    else args.push(p);
  }
  if (args.length === 1) return args[0]!;
  return { BoolExpr: { boolop: "AND_EXPR", args } };
}

/** Calls `visit` on every object node of a tree (wrappers and contents), depth first. */
export function walk(node: unknown, visit: (n: PgNode) => void, depth = 0): void {
  if (!node || typeof node !== "object" || depth > 2000) return;
  if (Array.isArray(node)) {
    for (const item of node) walk(item, visit, depth + 1);
    return;
  }
  visit(node as PgNode);
  for (const key in node as PgNode) walk((node as PgNode)[key], visit, depth + 1);
}
