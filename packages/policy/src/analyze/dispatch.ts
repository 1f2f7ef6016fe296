import type { PgNode } from "../parse/parse.js";
import type { RuleId } from "../rules/rules.js";
import type { StatementAnalyzer, StatementClass } from "./analyzer.js";
import { call, codeCreation, doBlock } from "./code.js";
import { ddlStatement, extensionStatement, roleManagement, serverEscape } from "./ddl.js";
import { dml } from "./dml.js";
import { Refusal } from "./refusal.js";
import { select } from "./select.js";
import { allChildren, relationFromRangeVar, undefinedColumn } from "./names.js";
import { list, nodeType, quoteName, strings } from "./tree.js";

/** Emitted by decide/checker.ts on the text before any statement is analysed; listed here. */
export const TEXT_LEVEL_RULES = [
  "syntax_error",
  "empty_statement",
  "multiple_statements",
  "statement_too_long",
  "statement_too_complex",
  "control_character",
  "invalid_text",
] as const satisfies readonly RuleId[];

export const RULES_OWNED = [
  ...TEXT_LEVEL_RULES,
  "unsupported_statement",
  "transaction_control",
  "session_state",
  "copy",
  "copy_program",
  "prepared_statement",
  "cursor",
  "listen_notify",
  "lock_table",
  "maintenance",
  "load_library",
  "alter_system",
  "explain_analyze",
  "explain_verbose",
] as const satisfies readonly RuleId[];

// Refusals of this family that other families raise too (one owner per rule id).
export function tooComplex(message: string): Refusal {
  return new Refusal("statement_too_complex", message);
}
export function unsupported(message: string): Refusal {
  return new Refusal("unsupported_statement", message);
}
export function sessionState(message: string): Refusal {
  return new Refusal("session_state", message);
}
export function transactionControl(message: string): Refusal {
  return new Refusal("transaction_control", message);
}
export function controlCharacter(message: string): Refusal {
  return new Refusal("control_character", message);
}

/** The statement switch: each kind goes to its family, or is refused here by its rule. */
export function analyzeStatement(a: StatementAnalyzer, stmt: PgNode): StatementClass {
  const t = nodeType(stmt);
  if (!t) throw new Refusal("unsupported_statement", "empty statement");
  const [kind, node] = t;
  switch (kind) {
    case "SelectStmt":
      select(a, node, a.root, {});
      return a.cls;
    case "InsertStmt":
    case "UpdateStmt":
    case "DeleteStmt":
    case "MergeStmt":
      a.cls = "write";
      dml(a, kind, node, a.root);
      return a.cls;
    case "ExplainStmt":
      return explain(a, node);
    case "VariableShowStmt":
      return "read";
    case "VariableSetStmt":
    case "DiscardStmt":
      throw new Refusal("session_state", `${kind === "DiscardStmt" ? "DISCARD" : describeSet(node)} changes session state`);
    case "TransactionStmt":
      throw new Refusal("transaction_control", `${String(node.kind ?? "").replace("TRANS_STMT_", "")} is transaction control; each call already runs in its own transaction`);
    case "CopyStmt":
      if (node.is_program || node.filename)
        throw new Refusal("copy_program", node.is_program ? "COPY ... PROGRAM runs a program on the database server" : "COPY to or from a server file");
      throw new Refusal("copy", "COPY is not available through the gateway");
    case "DoStmt":
      return doBlock(a, node);
    case "CallStmt":
      return call(a, node);
    case "PrepareStmt":
    case "ExecuteStmt":
    case "DeallocateStmt":
      throw new Refusal("prepared_statement", "prepared statements are not available; send the statement itself");
    case "DeclareCursorStmt":
    case "FetchStmt":
    case "ClosePortalStmt":
      throw new Refusal("cursor", "cursors are not available; use LIMIT and OFFSET");
    case "ListenStmt":
    case "UnlistenStmt":
    case "NotifyStmt":
      throw new Refusal("listen_notify", "LISTEN/NOTIFY are not available");
    case "LockStmt":
      throw new Refusal("lock_table", "LOCK TABLE is not available");
    case "VacuumStmt":
      return vacuum(a, node);
    case "ClusterStmt":
    case "ReindexStmt":
    case "CheckPointStmt":
      throw new Refusal("maintenance", "maintenance commands are not available");
    case "LoadStmt":
      throw new Refusal("load_library", "LOAD is refused");
    case "AlterSystemStmt":
      throw new Refusal("alter_system", "ALTER SYSTEM is refused");
    case "CreateExtensionStmt":
    case "AlterExtensionStmt":
    case "AlterExtensionContentsStmt":
      return extensionStatement(a, kind, node);
    case "CreateFdwStmt":
    case "AlterFdwStmt":
    case "CreateForeignServerStmt":
    case "AlterForeignServerStmt":
    case "CreateUserMappingStmt":
    case "AlterUserMappingStmt":
    case "DropUserMappingStmt":
    case "ImportForeignSchemaStmt":
    case "CreateSubscriptionStmt":
    case "AlterSubscriptionStmt":
    case "DropSubscriptionStmt":
    case "CreatePublicationStmt":
    case "AlterPublicationStmt":
    case "CreateTableSpaceStmt":
    case "DropTableSpaceStmt":
    case "AlterTableSpaceOptionsStmt":
    case "AlterTableMoveAllStmt":
    case "CreatedbStmt":
    case "DropdbStmt":
    case "AlterDatabaseStmt":
    case "AlterDatabaseSetStmt":
    case "AlterDatabaseRefreshCollStmt":
    case "CreatePLangStmt":
    case "CreateEventTrigStmt":
    case "AlterEventTrigStmt":
    case "CreateForeignTableStmt":
      throw serverEscape();
    case "CreateRoleStmt":
    case "AlterRoleStmt":
    case "AlterRoleSetStmt":
    case "DropRoleStmt":
    case "GrantStmt":
    case "GrantRoleStmt":
    case "AlterDefaultPrivilegesStmt":
    case "ReassignOwnedStmt":
    case "DropOwnedStmt":
    case "SecLabelStmt":
    case "AlterOwnerStmt":
    case "CreatePolicyStmt":
    case "AlterPolicyStmt":
      throw roleManagement("roles, privileges, ownership and row security are managed outside the gateway");
    case "CreateFunctionStmt":
    case "AlterFunctionStmt":
    case "CreateTrigStmt":
    case "RuleStmt":
    case "CreateCastStmt":
    case "CreateOpClassStmt":
    case "CreateConversionStmt":
    case "CreateTransformStmt":
    case "DefineStmt":
      return codeCreation(a, kind, node);
    case "CreateStmt":
    case "CreateTableAsStmt":
    case "ViewStmt":
    case "AlterTableStmt":
    case "DropStmt":
    case "IndexStmt":
    case "RenameStmt":
    case "CommentStmt":
    case "CreateSeqStmt":
    case "AlterSeqStmt":
    case "CreateSchemaStmt":
    case "CreateEnumStmt":
    case "AlterEnumStmt":
    case "CompositeTypeStmt":
    case "CreateDomainStmt":
    case "AlterDomainStmt":
    case "TruncateStmt":
    case "RefreshMatViewStmt":
    case "AlterObjectSchemaStmt":
    case "CreateStatsStmt":
    case "AlterStatsStmt":
    case "CreateRangeStmt":
      return ddlStatement(a, kind, node);
    default:
      throw new Refusal("unsupported_statement", `${kind.replace(/Stmt$/, "")} statements are not available through the gateway`);
  }
}

function explain(a: StatementAnalyzer, node: PgNode): StatementClass {
  const analyze = list(node.options).some((o) => {
    const d = nodeType(o)?.[1];
    if (!d || d.defname !== "analyze") return false;
    const arg = nodeType(d.arg);
    // EXPLAIN (ANALYZE false) does not execute.
    if (!arg) return true;
    const v = arg[1] as { boolval?: boolean; sval?: { sval?: string } | string; ival?: number };
    const text = JSON.stringify(v).toLowerCase();
    return !(text.includes("false") || text.includes('"off"') || text.includes('"0"') || (arg[0] === "Boolean" && !v.boolval));
  });
  // VERBOSE prints each plan node's output columns, and a scan may output the whole physical row
  // (verified: a hash join over customer lists every column, hidden ones included).
  const verbose = list(node.options).some((o) => {
    const d = nodeType(o)?.[1];
    return d?.defname === "verbose" && !/false|"off"|"0"/i.test(JSON.stringify(d.arg ?? ""));
  });
  if (verbose && a.view.hidesSomething)
    throw new Refusal("explain_verbose", "EXPLAIN VERBOSE can print columns this link cannot see; use EXPLAIN without VERBOSE");
  // On admin links EXPLAIN ANALYZE of a write the link may run is that write (explain_query rolls it
  // back); elsewhere only reads are analysed.
  const admin = a.view.scope.access === "admin";
  // Refuse before analysing the inner statement, so the explanation names the real problem.
  if (analyze && !admin && nodeType(node.query)?.[0] !== "SelectStmt")
    throw new Refusal("explain_analyze", "EXPLAIN ANALYZE executes the statement, and it is not a read", "a plain EXPLAIN (without ANALYZE)");
  // A plain EXPLAIN writes nothing: what its statement would write is forgotten.
  const writesBefore = a.writes.length;
  const inner = analyzeStatement(a, node.query as PgNode);
  // Planning folds IMMUTABLE/STABLE calls with constant arguments, running their code: when the plan
  // runs read-write (a row lock), a function the catalog does not prove read-only keeps its effect.
  if (!analyze) {
    const kept = a.rowLocks ? a.writes.slice(writesBefore).filter((w) => w.opaque && w.code?.length) : [];
    a.writes.length = writesBefore;
    a.writes.push(...kept);
  }
  if (analyze && inner !== "read" && !(admin && inner === "write"))
    throw new Refusal("explain_analyze", "EXPLAIN ANALYZE executes the statement, and it is not a read", "a plain EXPLAIN (without ANALYZE), or running the statement itself with the access it needs");
  // Plain EXPLAIN only plans: it runs fine inside the READ ONLY transaction. A row lock still needs
  // UPDATE privilege to be planned, so that EXPLAIN is classed with the write it plans (a read needs
  // only SELECT privileges; the fuzz oracle holds the checker to that).
  return analyze ? inner : a.rowLocks ? "write" : "read";
}

/** Options that only change how VACUUM/ANALYZE works on the named tables, not what it touches. */
const VACUUM_OPTIONS = new Set([
  "analyze", "verbose", "freeze", "skip_locked", "disable_page_skipping", "index_cleanup", "process_main", "process_toast",
  "truncate", "parallel", "buffer_usage_limit",
]);

/**
 * VACUUM / ANALYZE (not FULL, which rewrites tables under an exclusive lock): each named relation needs
 * admin access, and so does every table a parent's VACUUM/ANALYZE also processes; without a relation
 * list it processes the whole database, so only on links with admin on everything that hide nothing.
 * VERBOSE prints per-table details (hidden tables' included through inheritance and TOAST), so not on
 * hiding links. A utility statement: VACUUM cannot run inside a transaction block (see the gateway).
 */
function vacuum(a: StatementAnalyzer, node: PgNode): StatementClass {
  const view = a.view;
  for (const o of list(node.options)) {
    const d = nodeType(o)?.[1];
    const name = String(d?.defname ?? "");
    const off = /false|"off"|"0"/i.test(JSON.stringify(d?.arg ?? ""));
    if (name === "verbose" && !off && view.hidesSomething)
      throw new Refusal("maintenance", "VACUUM/ANALYZE VERBOSE prints details of tables this link cannot see; leave out VERBOSE");
    if (!VACUUM_OPTIONS.has(name) && !(name === "full" && off))
      throw new Refusal("maintenance", `${name === "full" ? "VACUUM FULL rewrites tables under an exclusive lock, and" : `VACUUM option ${name.toUpperCase()}`} is not available through the gateway`);
  }
  const rels = list(node.rels);
  if (rels.length === 0) {
    let everything = view.scope.access === "admin" && !view.hidesSomething;
    for (const rel of view.relations.values()) if (rel.access !== "admin") everything = false;
    if (!everything)
      throw new Refusal("maintenance", "VACUUM/ANALYZE without a table list processes every table in the database; name the tables", "a link with full (admin) access that hides nothing");
    return "utility";
  }
  for (const vr of rels) {
    const v = nodeType(vr)?.[1];
    const rv = (v?.relation ?? {}) as PgNode;
    const rel = relationFromRangeVar(a, rv, false);
    if (!rel) throw new Refusal("maintenance", "VACUUM/ANALYZE of system catalogs is not available through the gateway");
    if (rel.access !== "admin") throw new Refusal("maintenance", `VACUUM/ANALYZE of ${rel.key} needs admin access`, `admin access on ${rel.key}`, rel.key);
    // The JSON tree omits false booleans: `inh` is present only without ONLY.
    if (rv.inh === true)
      for (const child of allChildren(rel, view))
        if (view.relations.get(child)?.access !== "admin")
          throw new Refusal("maintenance", `VACUUM/ANALYZE of ${rel.key} also processes ${child}; that needs admin access on it too`, `admin access on ${child}`, rel.key);
    for (const column of strings(v?.va_cols))
      if (!rel.columns.includes(column)) throw undefinedColumn(`column ${quoteName(column)} of relation ${quoteName(rel.relation.name)} does not exist`, undefined, column);
  }
  return "utility";
}

function describeSet(node: PgNode): string {
  const name = String(node.name ?? "").toLowerCase();
  if (name === "role") return "SET ROLE";
  if (name === "session_authorization") return "SET SESSION AUTHORIZATION";
  if (node.kind === "VAR_RESET" || node.kind === "VAR_RESET_ALL") return `RESET ${name || "ALL"}`;
  return `SET ${name}`;
}
