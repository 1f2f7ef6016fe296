import type { PgNode } from "../parse/parse.js";
import type { RuleId } from "../rules/rules.js";
import type { StatementAnalyzer, StatementClass } from "./analyzer.js";
import { sessionState } from "./dispatch.js";
import { ddlEffect, opaqueEffect, relationEffect, truncateEffects } from "./effects.js";
import { generic } from "./expressions.js";
import { relationFromRangeVar, resolveRelationName } from "./names.js";
import type { RelationAccess } from "../scope/access.js";
import { Refusal } from "./refusal.js";
import { select } from "./select.js";
import { MAX_DEPTH, list, nodeType, permissiveFrame, rank, str, strings } from "./tree.js";

/** Schema changes, and the statements that reach outside the database or manage roles. */
export const RULES_OWNED = ["ddl_not_permitted", "create_extension", "server_escape", "role_management", "deferred_code"] as const satisfies readonly RuleId[];

export function ddlNotPermitted(message: string, need?: string, object?: string): Refusal {
  return new Refusal("ddl_not_permitted", message, need, object);
}
export function deferredCode(message: string): Refusal {
  return new Refusal("deferred_code", message);
}
export function roleManagement(message: string): Refusal {
  return new Refusal("role_management", message);
}
function governedDdl(key: string): Refusal {
  return new Refusal("ddl_not_permitted", `${key} has a row filter or masked columns on this link, so it cannot be changed through this link`, undefined, key);
}
export function serverEscape(): Refusal {
  return new Refusal("server_escape", "this statement reaches outside the database");
}

/**
 * CREATE EXTENSION of an extension the server marks trusted (pg_available_extension_versions.trusted:
 * its authors vouch it is safe for any role with CREATE on the database), on admin links that hide
 * nothing; untrusted extensions and ALTER EXTENSION stay refused. Not CASCADE (it would install the
 * required extensions unchecked), and only into a schema of the link's.
 */
export function extensionStatement(a: StatementAnalyzer, kind: string, node: PgNode): StatementClass {
  a.cls = "ddl";
  if (kind !== "CreateExtensionStmt") throw new Refusal("create_extension", "changing installed extensions is refused");
  const name = String(node.extname ?? "");
  if (a.view.scope.access !== "admin" || a.view.hidesSomething)
    throw new Refusal("create_extension", `installing extension ${name} needs a link with full (admin) access that hides nothing`, "a link with full (admin) access that hides nothing", name);
  // A catalog loaded before the loader collected extensions has none: every extension stays refused.
  if (a.view.catalog.availableExtensions?.[name]?.trusted !== true)
    throw new Refusal("create_extension", `extension ${name} is not a trusted extension of this server (or is not available), so installing it is refused`, undefined, name);
  for (const o of list(node.options)) {
    const d = nodeType(o)?.[1];
    if (d?.defname === "cascade" && (d.arg as { Boolean?: { boolval?: boolean } } | undefined)?.Boolean?.boolval !== false)
      throw new Refusal("create_extension", `CASCADE would also install the extensions ${name} requires, unchecked; install them one by one`, undefined, name);
    if (d?.defname === "schema") {
      const schema = str(d.arg) ?? "";
      if (!a.view.visibleSchemas.has(schema) || schema === "pg_catalog" || schema === "information_schema")
        throw new Refusal("create_extension", `extension ${name} can be installed only into one of this link's schemas, not ${schema}`, undefined, name);
    }
  }
  // Its scripts create functions, operators and casts that later statements may run.
  opaqueEffect(a);
  return "ddl";
}

export function ddlStatement(a: StatementAnalyzer, kind: string, node: PgNode): StatementClass {
  a.cls = "ddl";
  deferredExpressions(a, { [kind]: node }, 0);
  const needAdmin = (what: string): never => {
    throw new Refusal("ddl_not_permitted", `${what} needs admin access`, "admin access");
  };
  if (node.behavior === "DROP_CASCADE" && a.view.hidesSomething)
    throw new Refusal("ddl_not_permitted", "DROP ... CASCADE could drop objects this link cannot see", "admin access on a link that hides nothing");
  switch (kind) {
    case "CreateStmt":
    case "CreateTableAsStmt":
    case "ViewStmt":
    case "CreateSeqStmt": {
      const rv = ((kind === "CreateTableAsStmt" ? (node.into as PgNode)?.rel : kind === "CreateSeqStmt" ? node.sequence : kind === "ViewStmt" ? node.view : node.relation) ?? {}) as PgNode;
      // A temporary object outlives the call on the pooled session and would shadow a real table
      // for the next caller (pg_temp is searched first).
      if (rv.relpersistence === "t" || rv.schemaname === "pg_temp")
        throw sessionState("temporary tables, views and sequences outlive the call on shared sessions; create a regular one");
      const schema = (rv.schemaname as string | undefined) ?? a.view.searchPath[0] ?? "public";
      const name = rv.relname as string;
      if (rank(a.view.accessFor(schema, name)) < 3 || (a.view.catalog.relations[`${schema}.${name}`] && !a.view.relations.has(`${schema}.${name}`)))
        needAdmin(`creating ${schema}.${name}`);
      if (kind === "CreateTableAsStmt" || kind === "ViewStmt") {
        const query = (node.query as PgNode) ?? {};
        const q = nodeType(query);
        if (q?.[0] === "SelectStmt") select(a, q[1], a.root, {});
        else if (q) throw new Refusal("ddl_not_permitted", "CREATE ... AS must be a SELECT");
      }
      // Inherited/partitioned-of parents, LIKE sources and references are checked as relations.
      genericDdl(a, { ...node, relation: undefined, view: undefined, into: undefined, query: undefined, sequence: undefined });
      // A new partition or child takes rows of its parents' from now on: their approval applies too.
      const parents = list(node.inhRelations).map((r) => relationFromRangeVar(a, nodeType(r)?.[1] ?? {}, true)?.key).filter((k): k is string => !!k);
      ddlEffect(a, `${schema}.${name}`, parents);
      return "ddl";
    }
    case "CreateSchemaStmt":
      if (a.view.scope.access !== "admin" || a.view.scope.schemas) needAdmin("creating a schema");
      if (list(node.schemaElts).length) throw new Refusal("ddl_not_permitted", "CREATE SCHEMA with embedded statements is not supported; create the objects separately");
      ddlEffect(a, null);
      return "ddl";
    case "DropStmt": {
      const relationTypes = new Set(["OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_SEQUENCE", "OBJECT_FOREIGN_TABLE", "OBJECT_INDEX"]);
      // CASCADE drops whatever depends on the objects (views, defaults, whole tables' columns…): not listable.
      if (node.behavior === "DROP_CASCADE") opaqueEffect(a);
      if (relationTypes.has(node.removeType as string) && node.removeType !== "OBJECT_INDEX") {
        for (const obj of list(node.objects)) {
          const names = list((nodeType(obj)?.[1] as PgNode | undefined)?.items).map(str).filter((s): s is string => s !== undefined);
          // DROP ... IF EXISTS of a name that exists nowhere is harmless; a hidden one must not be dropped.
          if (node.missing_ok && existsNowhere(a, names)) {
            const schema = names.length >= 2 ? names[names.length - 2]! : (a.view.searchPath[0] ?? "public");
            if (rank(a.view.accessFor(schema, names[names.length - 1]!)) < 3) needAdmin(`dropping ${names.join(".")}`);
            ddlEffect(a, `${schema}.${names[names.length - 1]!}`);
            continue;
          }
          const rel = resolveRelationName(a, names, true);
          if (!rel || rel.access !== "admin") needAdmin(`dropping ${names.join(".")}`);
          // Dropping it would take the rows outside the link's row filter with it.
          if (rel && a.view.governed.has(rel.key)) throw governedDdl(rel.key);
          // DROP TABLE of a parent drops nothing else without CASCADE (which the link may use only when it hides nothing).
          if (rel) ddlEffect(a, rel.key);
        }
        return "ddl";
      }
      if (a.view.scope.access !== "admin" || a.view.hidesSomething) needAdmin(`DROP ${String(node.removeType).replace("OBJECT_", "")}`);
      // A schema, type, domain, index, function… : what it takes with it (its tables, the columns of
      // that type, what calls the code) is not listed in the catalog, so every rule applies.
      opaqueEffect(a);
      return "ddl";
    }
    default: {
      for (const cmd of list(node.cmds)) {
        const sub = nodeType(cmd)?.[1]?.subtype as string | undefined;
        if (sub === "AT_ChangeOwner" || sub === "AT_EnableRowSecurity" || sub === "AT_DisableRowSecurity" || sub === "AT_ForceRowSecurity" || sub === "AT_NoForceRowSecurity")
          throw roleManagement("ownership and row security are managed outside the gateway");
      }
      const targets = adminTargets(node);
      const what = kind.replace(/Stmt$/, "").replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase();
      // Without a relation to check, the object could be a hidden one: only links hiding nothing.
      if (targets === "none" && (a.view.scope.access !== "admin" || a.view.hidesSomething)) needAdmin(`${what} on a link that hides nothing`);
      genericDdl(a, node);
      targetEffects(a, kind, node);
      // DROP COLUMN / DROP CONSTRAINT … CASCADE drops what depends on them, in other tables too.
      if (list(node.cmds).some((cmd) => nodeType(cmd)?.[1]?.behavior === "DROP_CASCADE")) opaqueEffect(a);
      return "ddl";
    }
  }
}

/**
 * Defaults, CHECK and generated-column expressions, index, partition and statistics expressions run
 * later, as whichever role writes, indexes or analyses the table (a DBA's load, autovacuum's
 * ANALYZE): a user function there is a trigger by another name, refused like one. Built-in and
 * extension functions are the operator's code, not the link's.
 */
function deferredExpressions(a: StatementAnalyzer, node: unknown, depth: number): void {
  if (!node || typeof node !== "object" || depth > MAX_DEPTH) return;
  if (Array.isArray(node)) {
    for (const item of node) deferredExpressions(a, item, depth + 1);
    return;
  }
  for (const key in node as PgNode) {
    const value = (node as PgNode)[key] as PgNode;
    if (!value || typeof value !== "object") continue;
    switch (key) {
      case "Constraint":
        userCodeIn(a, value.raw_expr, "a default, CHECK or generated column expression");
        userCodeIn(a, value.where_clause, "an exclusion constraint");
        break;
      case "IndexElem":
      case "StatsElem":
      case "PartitionElem":
        userCodeIn(a, value.expr, key === "IndexElem" ? "an index expression" : key === "StatsElem" ? "a statistics expression" : "a partition key");
        break;
      case "AlterTableCmd":
        if (value.subtype === "AT_ColumnDefault" || value.subtype === "AT_SetExpression" || value.subtype === "AT_CookedColumnDefault")
          userCodeIn(a, value.def, "a column default or generated expression");
        break;
      case "IndexStmt":
        userCodeIn(a, value.whereClause, "a partial index predicate");
        break;
    }
    deferredExpressions(a, value, depth + 1);
  }
}

function userCodeIn(a: StatementAnalyzer, expr: unknown, where: string): void {
  const visit = (n: unknown, depth: number): void => {
    if (!n || typeof n !== "object" || depth > MAX_DEPTH) return;
    if (Array.isArray(n)) {
      for (const item of n) visit(item, depth + 1);
      return;
    }
    for (const key in n as PgNode) {
      const value = (n as PgNode)[key] as PgNode;
      if (key === "FuncCall" && isUserFunction(a, strings(value.funcname)))
        throw new Refusal("deferred_code", `function ${strings(value.funcname).join(".")} in ${where} would run later as whichever role writes or maintains the table; use built-in functions there`);
      if (key === "A_Expr") {
        const op = strings(value.name);
        if (a.view.catalog.operators?.[op[op.length - 1] ?? ""])
          throw new Refusal("deferred_code", `operator ${op.join(".")} in ${where} runs a user function later, as whichever role writes or maintains the table`);
      }
      visit(value, depth + 1);
    }
  };
  visit(expr, 0);
}

/** A function the link's side could have written: not built in, not from an extension. */
function isUserFunction(a: StatementAnalyzer, names: string[]): boolean {
  const name = names[names.length - 1] ?? "";
  const schema = names.length >= 2 ? names[names.length - 2] : undefined;
  if (schema === "pg_catalog") return false;
  const catalog = a.view.catalog;
  const key = schema !== undefined ? `${schema}.${name}` : a.view.searchPath.map((s) => `${s}.${name}`).find((k) => catalog.functions[k]);
  const fn = key ? catalog.functions[key] : undefined;
  if (fn) return !fn.extension;
  // Unknown names (created in the same call, or later) count as user code; built-ins do not.
  return schema !== undefined || catalog.builtinFunctions[name] === undefined;
}

function existsNowhere(a: StatementAnalyzer, names: string[]): boolean {
  const name = names[names.length - 1]!;
  const schemas = names.length >= 2 ? [names[names.length - 2]!] : a.view.catalog.schemas;
  return schemas.every((s) => !a.view.catalog.relations[`${s}.${name}`]);
}

/** New types and schemas: they change nothing that exists, so only the link's rule applies. */
const CREATES_NEW = new Set(["CreateEnumStmt", "CompositeTypeStmt", "CreateDomainStmt", "CreateRangeStmt"]);
/** Relation kinds COMMENT ON names by their own name; OBJECT_COLUMN names the relation then the column. */
const COMMENTED_RELATIONS = new Set(["OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE", "OBJECT_SEQUENCE", "OBJECT_COLUMN"]);

/**
 * What a DDL statement changes: the relation it names (TRUNCATE: each it empties). When the object is
 * not a relation of the catalog (a schema, type, domain, index, function, statistics object…), what
 * it reaches cannot be computed — renaming a schema moves every table out from under the rules that
 * name them, a domain's constraint or an enum's label changes rows of every table using it — so the
 * effect is opaque: every approval rule applies.
 */
function targetEffects(a: StatementAnalyzer, kind: string, node: PgNode): void {
  const resolve = (rv: PgNode): RelationAccess | undefined => (typeof rv.relname === "string" ? relationFromRangeVar(a, rv, true) : undefined);
  if (kind === "TruncateStmt") return truncateEffects(a, node, resolve);
  if (CREATES_NEW.has(kind)) return ddlEffect(a, null);
  if (kind === "CommentStmt") return commentEffect(a, node);
  if (kind === "CreateStatsStmt") {
    const rels = list(node.relations).map((r) => nodeType(r)?.[1]).map((rv) => (rv ? resolve(rv) : undefined));
    if (rels.length === 0 || rels.some((r) => !r)) return opaqueEffect(a);
    for (const rel of rels) relationEffect(a, rel!.key, "ddl", true);
    return;
  }
  const rv = (node.relation ?? node.sequence) as PgNode | undefined;
  const rel = rv ? resolve(rv) : undefined;
  if (!rel) return opaqueEffect(a);
  const also = kind === "AlterTableStmt" ? hierarchyEffects(a, node) : [];
  // ALTER TABLE without ONLY recurses into children.
  relationEffect(a, rel.key, "ddl", true, { inherited: rv!.inh === true, also });
}

/**
 * INHERIT / NO INHERIT change which rows a scan of the parent returns (t07: rows injected into an
 * approval table): an effect on the parent, whose own and ancestors' rules apply. ATTACH / DETACH
 * PARTITION (the statement names the parent): the partition is reached too, its own rule applies.
 */
function hierarchyEffects(a: StatementAnalyzer, node: PgNode): string[] {
  const reached: string[] = [];
  for (const cmd of list(node.cmds)) {
    const c = nodeType(cmd)?.[1];
    const sub = c?.subtype as string | undefined;
    if (sub === "AT_AddInherit" || sub === "AT_DropInherit") {
      const parent = relationFromRangeVar(a, nodeType(c!.def)?.[1] ?? {}, true);
      if (!parent) opaqueEffect(a);
      else relationEffect(a, parent.key, "ddl", true);
    } else if (sub === "AT_AttachPartition" || sub === "AT_DetachPartition" || sub === "AT_DetachPartitionFinalize") {
      const name = (nodeType(c!.def)?.[1] as PgNode | undefined)?.name as PgNode | undefined;
      const part = name && typeof name.relname === "string" ? relationFromRangeVar(a, name, true) : undefined;
      if (!part) opaqueEffect(a);
      else {
        if (part.access !== "admin") throw new Refusal("ddl_not_permitted", `changing ${part.key} needs admin access`, "admin access", part.key);
        reached.push(part.key);
      }
    }
  }
  return reached;
}

function commentEffect(a: StatementAnalyzer, node: PgNode): void {
  if (!COMMENTED_RELATIONS.has(node.objtype as string)) return opaqueEffect(a);
  const names = strings((nodeType(node.object)?.[1] as PgNode | undefined)?.items);
  if (node.objtype === "OBJECT_COLUMN") names.pop();
  const rel = names.length ? resolveRelationName(a, names, true) : undefined;
  if (!rel) return opaqueEffect(a);
  if (rel.access !== "admin") throw new Refusal("ddl_not_permitted", `changing ${rel.key} needs admin access`, "admin access", rel.key);
  if (rel.hiddenColumns.size > 0 || a.view.governed.has(rel.key))
    throw new Refusal("ddl_not_permitted", `${rel.key} has hidden, filtered or masked data on this link, so it cannot be changed through this link`, undefined, rel.key);
  relationEffect(a, rel.key, "ddl", true);
}

/** Whether the statement names relations ("some"), or none we can check ("none"). */
function adminTargets(node: PgNode): "none" | "some" {
  let found = false;
  const visit = (n: unknown, depth: number): void => {
    if (depth > MAX_DEPTH || !n || typeof n !== "object") return;
    if (Array.isArray(n)) return n.forEach((x) => visit(x, depth + 1));
    for (const [k, v] of Object.entries(n)) {
      if (k === "RangeVar" || k === "relation") {
        const rv = v as PgNode;
        if (rv && typeof rv.relname === "string") {
          found = true;
        }
      }
      visit(v, depth + 1);
    }
  };
  visit(node, 0);
  return found ? "some" : "none";
}

/** DDL: every relation named must be visible and admin; expressions are checked permissively. */
export function genericDdl(a: StatementAnalyzer, node: PgNode): void {
  const frame = permissiveFrame(null);
  generic(a, node, frame, {}, (rv) => {
    const rel = relationFromRangeVar(a, rv, true);
    if (rel && rel.access !== "admin") throw new Refusal("ddl_not_permitted", `changing ${rel.key} needs admin access`, "admin access", rel.key);
    // Renaming or altering a table whose columns are partly hidden would slip them out of the
    // scope's rule (rules are by name), so such tables are not changed through the gateway.
    if (rel && rel.hiddenColumns.size > 0)
      throw new Refusal("ddl_not_permitted", `${rel.key} has columns this link cannot see, so it cannot be changed through this link`, undefined, rel.key);
    // Likewise a row filter or masks (renaming the table or a masked column would escape them), and
    // TRUNCATE, a new child, or a foreign key would reach or reveal rows outside the filter.
    if (rel && a.view.governed.has(rel.key)) throw governedDdl(rel.key);
  });
}
