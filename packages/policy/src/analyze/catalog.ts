import type { PgNode } from "../parse/parse.js";
import { CATALOG_FUNCTIONS_PATTERN } from "../rules/functions.js";
import type { RuleId } from "../rules/rules.js";
import type { StatementAnalyzer } from "./analyzer.js";
import { ALWAYS_DENIED_CATALOGS, HARMLESS_CATALOGS } from "./catalogs.js";
import { ddlNotPermitted } from "./ddl.js";
import { checkFunction, checkTypeName } from "./functions.js";
import { resolveRelationName, undefinedTable } from "./names.js";
import { Refusal } from "./refusal.js";
import { quoteName, splitQualified } from "./tree.js";

/**
 * Every decision about the system catalogs: pg_catalog / information_schema relations, the functions
 * that look catalog objects up, and reg* casts. Names and functions call in here, so the catalog's
 * behaviour (the virtual catalog) changes in this file alone.
 */
export const RULES_OWNED = ["catalog_hidden", "catalog_denied", "catalog_unanswerable"] as const satisfies readonly RuleId[];

export const SYSTEM_SCHEMAS = new Set(["pg_catalog", "information_schema"]);

export function isSystemRelation(a: StatementAnalyzer, schema: string, relname: string): boolean {
  return a.view.catalog.systemRelations[`${schema}.${relname}`] !== undefined;
}

/** A reference to `schema.relname` in a system schema; undefined when it may be read. */
export function systemRelation(a: StatementAnalyzer, schema: string, relname: string, forDdl: boolean, shown: string): undefined {
  const key = `${schema}.${relname}`;
  if (!a.view.catalog.systemRelations[key]) throw undefinedTable(`relation ${quoteName(shown)} does not exist`, undefined, shown);
  if (forDdl) throw ddlNotPermitted(`system catalog ${key} cannot be changed`);
  if (ALWAYS_DENIED_CATALOGS.has(relname)) throw new Refusal("catalog_denied", `reading ${key} is refused under every scope`);
  if (a.view.hidesSomething && !HARMLESS_CATALOGS.has(relname))
    throw new Refusal(
      "catalog_hidden",
      `reading ${key} is not available on this link because it would list objects the link cannot see; use the list_tables, describe_table and get_schema tools`,
    );
  a.tables.add(key);
  return undefined;
}

/** A built-in (or information_schema) function that looks catalog objects up by name or oid. */
export function isCatalogFunction(schema: string | undefined, name: string): boolean {
  return schema === "information_schema" || CATALOG_FUNCTIONS_PATTERN.test(name);
}

export function catalogFunction(a: StatementAnalyzer, shown: string): void {
  if (a.view.hidesSomething)
    throw new Refusal("catalog_hidden", `function ${shown} looks up catalog objects, which is not available on this link because it hides some`);
}

/** `'name'::regclass` and friends resolve (and so reveal) an object: hidden ones must look absent. */
export function regCast(a: StatementAnalyzer, type: string, lit: string | undefined): void {
  if (type === "regtype" && lit !== undefined) checkTypeName(a, splitQualified(lit.replace(/\[\]$/, "")));
  if (lit === undefined) {
    if (a.view.hidesSomething) throw new Refusal("catalog_hidden", `casts to ${type} look up catalog objects, which is not available on this link because it hides some`);
  } else if (type === "regclass") {
    resolveRelationName(a, splitQualified(lit), false);
  } else if (type === "regproc" || type === "regprocedure") {
    checkFunction(a, splitQualified(lit.replace(/\(.*$/, "")), false);
  } else if (type === "regnamespace") {
    if (!a.view.visibleSchemas.has(lit) && !SYSTEM_SCHEMAS.has(lit)) throw undefinedTable(`schema ${quoteName(lit)} does not exist`);
  } else if (a.view.hidesSomething && type !== "regtype" && type !== "regconfig" && type !== "regdictionary")
    throw new Refusal("catalog_hidden", `casts to ${type} look up catalog objects, which is not available on this link because it hides some`);
}

/** For the virtual catalog (rewrite/catalog.ts): a catalog query it cannot answer without revealing. */
export function catalogUnanswerable(message: string, object?: string): Refusal {
  return new Refusal("catalog_unanswerable", message, undefined, object);
}

/**
 * A reference to a system relation in FROM or an expression: the virtual catalog's anchor. Not for
 * the harmless catalogs: they list nothing per user object, so there is nothing to answer virtually.
 */
export function catalogReference(a: StatementAnalyzer, wrapper: PgNode, rv: PgNode): void {
  if (HARMLESS_CATALOGS.has(rv.relname as string)) return;
  a.plan.add({ kind: "catalog", node: wrapper, rangeVar: rv, key: `${(rv.schemaname as string | undefined) ?? "pg_catalog"}.${rv.relname as string}` });
}
