import type { PgNode } from "../parse/parse.js";
import type { TypeRun } from "../catalog/types.js";
import type { StatementAnalyzer } from "./analyzer.js";
import { nodeType, strings } from "./tree.js";

/** An untyped literal ('…', NULL): PostgreSQL converts it with the type's input function, no pg_cast entry. */
const LITERAL = "literal";

/**
 * The user functions `x::t` runs: a domain's CHECKs always, and the cast from x's type to t when the
 * analyzer knows x's type (a constant, a built-in with one result type, a cast to a built-in type);
 * otherwise every user cast to t, since any of them may be the one applied.
 */
export function castRuns(a: StatementAnalyzer, tc: PgNode): string[] {
  const typeName = tc.typeName as PgNode | undefined;
  const names = strings(typeName?.names);
  const runs = targetKeys(a, names).flatMap((key) => a.view.catalog.typeRuns?.[key] ?? []);
  if (runs.length === 0) return [];
  // t[]: each element goes through the element type's cast; the source's element type is not tracked.
  const source = typeName?.arrayBounds ? undefined : sourceType(a, tc.arg as PgNode | undefined);
  return [...new Set(runs.filter((r) => applies(r, source)).map((r) => r.fn))];
}

function applies(run: TypeRun, source: string | undefined): boolean {
  return run.from === undefined || source === undefined || run.from === source;
}

/** Schema-qualified candidates for a type name: every schema the search path could resolve it to. */
function targetKeys(a: StatementAnalyzer, names: string[]): string[] {
  const name = names[names.length - 1];
  if (!name) return [];
  if (names.length >= 2) return [`${names[names.length - 2]}.${name}`];
  return ["pg_catalog", ...a.view.searchPath].map((s) => `${s}.${name}`);
}

/** pg_catalog.<typname> when x's type is known and built in, LITERAL for an untyped literal, else undefined. */
function sourceType(a: StatementAnalyzer, node: PgNode | undefined): string | undefined {
  const [kind, body] = nodeType(node) ?? [];
  if (!body) return undefined;
  if (kind === "A_Const") {
    if (body.isnull || body.sval) return LITERAL;
    if (body.ival) return "pg_catalog.int4";
    if (body.boolval) return "pg_catalog.bool";
    if (body.bsval) return "pg_catalog.bit";
    return undefined; // fval: int8 or numeric, by its size
  }
  if (kind === "TypeCast") {
    const typeName = body.typeName as PgNode | undefined;
    return typeName?.arrayBounds ? undefined : builtinType(a, strings(typeName?.names));
  }
  if (kind === "FuncCall") {
    const names = strings(body.funcname);
    const name = names[names.length - 1];
    if (!name || (names.length === 2 && names[0] !== "pg_catalog") || names.length > 2) return undefined;
    // A user function of that name on the search path may be the one chosen (a better argument match).
    if (names.length === 1 && a.view.searchPath.some((s) => a.view.catalog.functions[`${s}.${name}`])) return undefined;
    const type = a.view.catalog.builtinReturnTypes?.[name];
    return type ? `pg_catalog.${type}` : undefined;
  }
  return undefined;
}

/** A type name that resolves to pg_catalog: qualified so, or unqualified and built in with pg_catalog searched first. */
function builtinType(a: StatementAnalyzer, names: string[]): string | undefined {
  const name = names[names.length - 1];
  if (!name) return undefined;
  if (names.length === 2 && names[0] === "pg_catalog") return `pg_catalog.${name}`;
  if (names.length !== 1 || !a.view.catalog.builtinTypeNames?.[name]) return undefined;
  return a.view.searchPath.indexOf("pg_catalog") > 0 ? undefined : `pg_catalog.${name}`;
}
