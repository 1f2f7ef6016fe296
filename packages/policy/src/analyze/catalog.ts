import type { PgNode } from "../parse/parse.js";
import { CATALOG_FUNCTIONS_PATTERN } from "../rules/functions.js";
import type { RuleId } from "../rules/rules.js";
import type { StatementAnalyzer } from "./analyzer.js";
import { VIRTUAL_CATALOG_COVERED, virtualCatalogCovers } from "../rewrite/catalog.js";
import type { AccessView } from "../scope/access.js";
import { columnArgument, COLUMN_FUNCTIONS, nodeTreeOfItsRow, objectAddress, OBJECT_ADDRESS_FUNCTIONS, relationSize, SIZE_FUNCTIONS, toReg } from "./catalog-arguments.js";
import { ALWAYS_DENIED_CATALOGS, HARMLESS_CATALOGS } from "./catalogs.js";
import { ddlNotPermitted } from "./ddl.js";
import { checkFunction, checkTypeName } from "./functions.js";
import { findEntry, resolveRelationName, undefinedTable } from "./names.js";
import { Refusal } from "./refusal.js";
import { literalString, nodeType, quoteName, splitQualified, strings, type Frame, type RangeEntry } from "./tree.js";

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
  // On a link that hides something, the covered relations are answered by the virtual catalog
  // (rewrite/catalog.ts: the analyzer's catalog anchor is rewritten); the rest would list hidden objects.
  if (a.view.hidesSomething && !HARMLESS_CATALOGS.has(relname) && !virtualCatalogCovers(a.view.catalog, key))
    throw new Refusal(
      "catalog_hidden",
      `reading ${key} is not available on this link because it would list objects the link cannot see; these catalog relations are answered without them: ${VIRTUAL_CATALOG_COVERED.join(", ")}; or use the list_tables, describe_table and get_schema tools`,
    );
  a.tables.add(key);
  return undefined;
}

/** A built-in (or information_schema) function that looks catalog objects up by name or oid. */
export function isCatalogFunction(schema: string | undefined, name: string): boolean {
  return schema === "information_schema" || CATALOG_FUNCTIONS_PATTERN.test(name);
}

/**
 * `'name'::regclass` and friends resolve (and so reveal) an object: hidden ones must look absent. A
 * cast of something else (`conrelid::regclass`) follows the catalog functions' argument rule.
 */
export function regCast(a: StatementAnalyzer, type: string, lit: string | undefined, arg?: PgNode, frame?: Frame): void {
  if (type === "regtype" && lit !== undefined) checkTypeName(a, splitQualified(lit.replace(/\[\]$/, "")));
  if (lit === undefined) {
    if (!a.view.hidesSomething) return;
    if (!frame) throw new Refusal("catalog_hidden", `casts to ${type} look up catalog objects, which is not available on this link because it hides some`);
    const problem = argumentProblem(a, arg, frame, true);
    if (problem) throw catalogUnanswerable(`the cast to ${type}: its value ${problem}, so it could name an object this link cannot see`);
  } else if (/^\s*\d+\s*$/.test(lit)) {
    // An oid spelled as text ('19173'::regclass, as psql sends it) names whatever has that oid.
    const problem = a.view.hidesSomething ? literalProblem(a, lit, true) : undefined;
    if (problem) throw catalogUnanswerable(`the cast to ${type}: '${lit}' ${problem}`);
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

// ---------------------------------------------------------------- the virtual catalog's arguments

/**
 * On a link that hides something, a function that looks catalog objects up (pg_get_viewdef,
 * obj_description, pg_table_is_visible, has_table_privilege, …) may only be given what cannot name a
 * hidden object: a bare column of a catalog relation the virtual catalog answers in the same query
 * (its rows are already the visible ones), a literal naming a visible relation or schema, or a small
 * non-object literal (a column number, a flag, a catalog or privilege name) after the first argument.
 */
export function catalogFunction(a: StatementAnalyzer, shown: string, args: PgNode[] = [], frame?: Frame): void {
  if (!a.view.hidesSomething) return;
  if (!frame) throw new Refusal("catalog_hidden", `function ${shown} looks up catalog objects, which is not available on this link because it hides some`);
  const name = shown.slice(shown.lastIndexOf(".") + 1);
  if (name.startsWith("to_reg")) return toReg(a, name, shown, args);
  if (SIZE_FUNCTIONS.has(name) && a.view.governed.size > 0) return relationSize(a, shown, args);
  // currtid2('invoice', '(6,1)') answers whether a page exists: a table's size, rows the link may not see.
  if (name.startsWith("currtid")) throw catalogUnanswerable(`function ${shown} is not available on this link: it reveals how large a table is`);
  // Resolves any object's name to its address, and errors on a name that does not exist: an oracle.
  if (name === "pg_get_object_address") throw catalogUnanswerable(`function ${shown} is not available on this link: it looks objects up by name, hidden ones included`);
  if (OBJECT_ADDRESS_FUNCTIONS.has(name)) return objectAddress(a, shown, args, frame);
  if (name === "pg_get_expr") return nodeTreeOfItsRow(a, shown, args, frame);
  const objectAt = objectArgument(name, args.length);
  for (const [i, arg] of args.entries()) {
    const problem = argumentProblem(a, arg, frame, i === 0 || i === objectAt);
    if (problem) throw catalogUnanswerable(`function ${shown}: argument ${i + 1} ${problem}, so it could name an object this link cannot see`);
  }
  const columnAt = COLUMN_FUNCTIONS[name]?.(args.length);
  if (columnAt) columnArgument(a, shown, args, columnAt, frame);
}

/** has_table_privilege(role, table, privilege): with a role first, the object is the second argument. */
function objectArgument(name: string, count: number): number {
  if (name === "has_column_privilege") return count === 4 ? 1 : 0;
  if (name.startsWith("has_") || name === "pg_has_role") return count === 3 ? 1 : 0;
  return 0;
}

function argumentProblem(a: StatementAnalyzer, arg: PgNode | undefined, frame: Frame, objectPosition: boolean): string | undefined {
  const t = nodeType(arg);
  if (!t) return undefined;
  const [kind, node] = t;
  switch (kind) {
    case "TypeCast":
      return argumentProblem(a, node.arg as PgNode, frame, objectPosition);
    case "ColumnRef": {
      const found = catalogColumn(a, strings(node.fields), frame);
      if (!found) return "is not a column of a catalog relation read in the same query";
      // Only a column holding an oid names the object of its own (visible) row: a name or text
      // column resolves through the search path (c.relname::regclass finds a hidden table of that name).
      const type = a.view.catalog.systemColumnTypes?.[found.key]?.[a.view.catalog.systemColumns?.[found.key]?.indexOf(found.column) ?? -1];
      if (type === undefined) return "is a catalog column of unknown type";
      if (objectPosition ? !OID_TYPES.has(type) : TEXT_TYPES.test(type)) return `is the ${type} column ${found.column}, which resolves names rather than holding an object's oid`;
      return undefined;
    }
    case "A_Const": {
      if (node.isnull || node.boolval !== undefined) return undefined;
      const text = literalString(arg) ?? numericLiteral(node);
      if (text === undefined) return undefined;
      return literalProblem(a, text, objectPosition);
    }
    case "ParamRef":
      return "is a parameter";
    default:
      return "is an expression";
  }
}

export function numericLiteral(node: PgNode): string | undefined {
  const i = node.ival as { ival?: number } | undefined;
  if (i) return String(i.ival ?? 0);
  const f = node.fval as { fval?: string } | undefined;
  return f?.fval;
}

/**
 * A literal argument: an oid must be a visible relation's; a name that reaches a hidden relation or
 * schema is refused exactly as a name that does not exist (PostgreSQL's own words), so the refusal
 * says nothing a dropped object would not.
 */
function literalProblem(a: StatementAnalyzer, text: string, objectPosition: boolean): string | undefined {
  if (/^\s*\d+\s*$/.test(text)) {
    if (!objectPosition) return undefined;
    // Only a visible relation's oid: any other number might be a hidden object's (or a built-in's,
    // which an agent has no reason to spell as a number).
    const oid = Number(text);
    return visibleOids(a.view).has(oid) ? undefined : `is the oid ${oid}, which names no relation this link can see`;
  }
  const parts = splitQualified(text);
  if (parts.length > 2) return undefined;
  const name = parts[parts.length - 1]!;
  const schema = parts.length === 2 ? parts[0] : undefined;
  const catalog = a.view.catalog;
  const hiddenSchema = (s: string): boolean => catalog.schemas.includes(s) && !a.view.visibleSchemas.has(s);
  if (schema !== undefined) {
    if (hiddenSchema(schema)) throw undefinedTable(`schema ${quoteName(schema)} does not exist`);
    if (catalog.relations[`${schema}.${name}`] && !a.view.relations.has(`${schema}.${name}`))
      throw undefinedTable(`relation ${quoteName(text)} does not exist`, undefined, text);
    return undefined;
  }
  if (hiddenSchema(name)) throw undefinedTable(`schema ${quoteName(name)} does not exist`);
  for (const s of a.view.searchPath) {
    const key = `${s}.${name}`;
    if (a.view.relations.has(key)) return undefined;
    if (catalog.relations[key]) throw undefinedTable(`relation ${quoteName(name)} does not exist`, undefined, name);
  }
  return undefined;
}

const oidSets = new WeakMap<AccessView, Set<number>>();

function visibleOids(view: AccessView): Set<number> {
  let set = oidSets.get(view);
  if (!set) oidSets.set(view, (set = new Set([...view.relations.values()].map((r) => r.relation.oid))));
  return set;
}

/** Types whose values are oids: a column of one, read from a virtual catalog row, names a visible object. */
const OID_TYPES = new Set(["oid", "regclass", "regproc", "regprocedure", "regoper", "regoperator", "regtype", "regnamespace", "regrole", "regcollation", "regconfig", "regdictionary", "pg_node_tree"]);
/** Text-like types (information_schema's sql_identifier and character_data are domains over them). */
const TEXT_TYPES = /(^|\.)(name|text|character varying|character|bpchar|cstring|unknown|sql_identifier|character_data|yes_or_no)(\(\d+\))?(\[\])?$/;

interface CatalogColumnRef {
  key: string;
  column: string;
  entry: RangeEntry;
}

/**
 * Whether `fields` (a column reference) reads a column of a catalog range entry the virtual catalog
 * answers (or a harmless catalog), resolving as PostgreSQL does: the nearest level that has the name.
 */
export function catalogColumn(a: StatementAnalyzer, fields: string[], frame: Frame): CatalogColumnRef | undefined {
  if (fields.length === 0 || fields.length > 3) return undefined;
  const column = fields[fields.length - 1]!;
  if (fields.length >= 2) {
    const entry = findEntry(fields.slice(0, -1), frame);
    return entry && entry.catalog && catalogEntryHas(a, entry, column) === true ? { key: entry.catalog, column, entry } : undefined;
  }
  for (let f: Frame | null = frame; f; f = f.parent) {
    let found: RangeEntry | undefined;
    for (const e of f.entries) {
      if (e.qualifiedOnly) continue;
      const has = catalogEntryHas(a, e, column);
      if (has === "unknown") return undefined;
      if (has === false && e.columns?.some((c) => c.name === column)) return undefined;
      if (has === true) {
        // Two entries with the name: PostgreSQL calls it ambiguous; either way, not one known row.
        if (found) return undefined;
        found = e;
      }
    }
    if (found) return { key: found.catalog!, column, entry: found };
  }
  return undefined;
}

/** true / false for a catalog entry that has / lacks the column; "unknown" for an opaque other entry. */
function catalogEntryHas(a: StatementAnalyzer, entry: RangeEntry, column: string): boolean | "unknown" {
  const key = entry.catalog;
  if (key === undefined) return entry.columns === null ? "unknown" : false;
  const relname = key.slice(key.indexOf(".") + 1);
  const columns = a.view.catalog.systemColumns?.[key];
  if (HARMLESS_CATALOGS.has(relname)) return columns ? columns.includes(column) : "unknown";
  if (!virtualCatalogCovers(a.view.catalog, key) || !columns) return "unknown";
  return columns.includes(column);
}
