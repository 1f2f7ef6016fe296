import type { PgNode } from "../parse/parse.js";
import { ALLOWED_NON_IMMUTABLE, SEQUENCE_WRITERS, isDeniedFunction } from "../rules/functions.js";
import type { RuleId } from "../rules/rules.js";
import type { StatementAnalyzer } from "./analyzer.js";
import { castRuns } from "./cast-runs.js";
import { catalogFunction, isCatalogFunction, regCast } from "./catalog.js";
import { opaqueEffect, relationEffect } from "./effects.js";
import { provenReadOnly } from "./function-writes.js";
import { generic } from "./expressions.js";
import { hiddenColumnsWildcard, resolveRelationName, undefinedTable } from "./names.js";
import { Refusal } from "./refusal.js";
import { literalString, quoteName, rank, splitQualified, strings, type Frame } from "./tree.js";

/** Functions, operators, sequences, casts and type names. */
export const RULES_OWNED = [
  "undefined_function",
  "dangerous_function",
  "function_not_allowed",
  "volatile_function",
  "function_unverified",
  "sequence_manipulation",
] as const satisfies readonly RuleId[];

export function dangerousFunction(message: string): Refusal {
  return new Refusal("dangerous_function", message);
}

/** `frame`: the name scope of the call, for the catalog functions' argument rule (analyze/catalog.ts). */
export function checkFunction(a: StatementAnalyzer, names: string[], inExpression: boolean, args: PgNode[] = [], frame?: Frame): void {
  const name = names[names.length - 1] ?? "";
  const schema = names.length >= 2 ? names[names.length - 2] : undefined;
  const shown = names.join(".");
  if (isDeniedFunction(name)) throw new Refusal("dangerous_function", `function ${shown} is refused under every scope`);
  const catalog = a.view.catalog;
  const builtin = schema === "pg_catalog" || (schema === undefined && catalog.builtinFunctions[name] !== undefined);
  if (builtin && schema === undefined) {
    // PostgreSQL resolves overloads across pg_catalog and the search path together: `lower(1)`
    // picks a user's public.lower(int) over pg_catalog.lower(text). So a user function of the
    // same name on the search path must pass the user-function checks as well.
    const shadow = a.view.searchPath.map((s) => `${s}.${name}`).find((k) => catalog.functions[k]);
    const arity = args.length;
    if (shadow && catalog.functions[shadow]!.arities.some(([min, max]) => arity >= min && arity <= max))
      checkFunction(a, shadow.split("."), inExpression, args);
  }
  if (builtin || schema === "information_schema") {
    if (schema === "pg_catalog" && catalog.builtinFunctions[name] === undefined)
      throw new Refusal("undefined_function", `function ${shown} does not exist`);
    if (SEQUENCE_WRITERS.has(name)) return sequenceWrite(a, name, args);
    if (isCatalogFunction(schema, name)) return catalogFunction(a, shown, args, frame);
    const volatility = catalog.builtinFunctions[name] ?? "volatile";
    if (volatility === "immutable" || ALLOWED_NON_IMMUTABLE.has(name)) return;
    throw new Refusal("function_not_allowed", `function ${shown} is not on the list of functions allowed in queries on this link`);
  }
  let key: string | undefined;
  if (schema !== undefined) key = a.view.functionFor(schema, name) ? `${schema}.${name}` : undefined;
  else key = a.view.searchPath.map((s) => `${s}.${name}`).find((k) => catalog.functions[k]);
  const fn = key ? catalog.functions[key] : undefined;
  if (!fn || !key) throw new Refusal("undefined_function", `function ${shown} does not exist`);
  if (fn.extension) {
    if (fn.volatility === "immutable" || ALLOWED_NON_IMMUTABLE.has(name)) {
      if (!provenReadOnly(catalog, key)) opaqueEffect(a, key);
      return;
    }
    throw new Refusal("function_not_allowed", `function ${shown} (extension ${fn.extension}) is not on the list of functions allowed on this link`);
  }
  if (fn.kind === "procedure" && inExpression) throw new Refusal("undefined_function", `function ${shown} does not exist`);
  if (fn.volatility === "volatile") {
    if (a.view.scope.access !== "admin" || a.view.hidesSomething)
      throw new Refusal("volatile_function", `function ${shown} is VOLATILE (it may write or have side effects)`, "a link with full (admin) access that hides nothing");
    a.cls = a.cls === "ddl" ? "ddl" : "write";
    opaqueEffect(a, key);
    return;
  }
  if (a.view.hidesSomething && (fn.securityDefiner || !a.view.functionVerified(key)))
    throw new Refusal("function_unverified", `function ${shown} cannot be shown to read only objects visible to this link`);
  // STABLE or IMMUTABLE is the author's word, not proof: a PL/pgSQL wrapper can call a VOLATILE writer.
  if (!provenReadOnly(catalog, key)) opaqueEffect(a, key);
}

export function checkOperator(a: StatementAnalyzer, names: string[]): void {
  const op = names[names.length - 1];
  if (!op) return;
  const fns = a.view.catalog.operators?.[op];
  if (!fns) return;
  for (const fn of fns) checkFunction(a, fn.split("."), true);
}

function sequenceWrite(a: StatementAnalyzer, name: string, args: PgNode[]): void {
  const lit = literalString(args[0]);
  if (lit === undefined) throw new Refusal("sequence_manipulation", `${name} needs the sequence name as a string literal`);
  const rel = resolveRelationName(a, splitQualified(lit), false);
  if (!rel) throw new Refusal("sequence_manipulation", `${name} on a system object is refused`);
  if (rank(rel.access) < 2) throw new Refusal("sequence_manipulation", `${name}('${lit}') changes the sequence; this link can only read it`, `write access on ${rel.key}`, rel.key);
  a.cls = a.cls === "ddl" ? "ddl" : "write";
  relationEffect(a, rel.key, "update", false);
}

export function typeCast(a: StatementAnalyzer, tc: PgNode, frame: Frame, onRangeVar?: (rv: PgNode) => void): void {
  const typeNames = strings((tc.typeName as PgNode | undefined)?.names);
  const type = typeNames[typeNames.length - 1];
  const lit = literalString(tc.arg as PgNode);
  checkTypeName(a, typeNames);
  // A user cast function or a domain's CHECK runs on the cast.
  for (const fn of castRuns(a, tc)) if (!provenReadOnly(a.view.catalog, fn)) opaqueEffect(a, fn);
  if (type && /^reg/.test(type)) regCast(a, type, lit, tc.arg as PgNode | undefined, frame);
  generic(a, tc.arg, frame, {}, onRangeVar);
}

/**
 * A table's row type carries the table's name and all its columns: `null::employee` would confirm
 * a hidden table exists, and `json_populate_record(null::customer, ...)` would list hidden columns.
 */
export function checkTypeName(a: StatementAnalyzer, names: string[]): void {
  const name = names[names.length - 1];
  if (!name || names.length > 2) return;
  const schema = names.length === 2 ? names[0]! : undefined;
  if (schema === "pg_catalog" || schema === "information_schema") return;
  const shown = names.join(".");
  if (schema !== undefined && !a.view.visibleSchemas.has(schema)) throw undefinedTable(`schema ${quoteName(schema)} does not exist`);
  let key: string | undefined;
  if (schema !== undefined) key = `${schema}.${name}`;
  else {
    if (a.view.catalog.builtinTypeNames?.[name]) return;
    key = a.view.searchPath.map((s) => `${s}.${name}`).find((k) => a.view.catalog.relations[k]);
  }
  if (!key || !a.view.catalog.relations[key]) return;
  const rel = a.view.relations.get(key);
  if (!rel) throw undefinedTable(`type ${quoteName(shown)} does not exist`);
  if (rel.hiddenColumns.size > 0)
    throw hiddenColumnsWildcard(`the row type ${shown} includes columns this link cannot see; use the visible columns: ${rel.columns.join(", ")}`, undefined, rel.key);
}
