import { parseSql, type PgNode, type RawStatement } from "../parse/parse.js";
import {
  ALLOWED_NON_IMMUTABLE,
  CATALOG_FUNCTIONS_PATTERN,
  SEQUENCE_WRITERS,
  isDeniedFunction,
} from "../rules/functions.js";
import type { AccessView, RelationAccess } from "../scope/access.js";
import type { AccessLevel } from "../scope/schema.js";
import { checkPlpgsqlBody, dollarQuote, statementText } from "./bodies.js";
import { ALWAYS_DENIED_CATALOGS, HARMLESS_CATALOGS } from "./catalogs.js";
import { Refusal } from "./refusal.js";

export type StatementClass = "read" | "write" | "ddl" | "utility" | "transaction";

export { Refusal };

interface Column {
  name: string;
  hidden: boolean;
}

interface RangeEntry {
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
}

interface Frame {
  entries: RangeEntry[];
  /** Columns merged by USING/NATURAL joins: an unqualified reference to them is not ambiguous. */
  merged: Set<string> | null;
  parent: Frame | null;
}

interface Cte {
  columns: Column[] | null;
}

interface ExprContext {
  /** Output column names usable by name (ORDER BY / GROUP BY / DISTINCT ON). */
  outputNames?: readonly string[];
}

const MAX_DEPTH = 200;
/** Bodies inside bodies (a DO block creating a function whose body runs a DO block...). */
const MAX_NESTING = 8;
const SYSTEM_SCHEMAS = new Set(["pg_catalog", "information_schema"]);

function str(node: unknown): string | undefined {
  const s = (node as { String?: { sval?: string } } | undefined)?.String;
  return s ? (s.sval ?? "") : undefined;
}

/** The String values of a list node (names, qualified names), without a closure per call. */
function strings(value: unknown): string[] {
  const out: string[] = [];
  if (!Array.isArray(value)) return out;
  for (const item of value) {
    const s = str(item);
    if (s !== undefined) out.push(s);
  }
  return out;
}

function hasStar(fields: PgNode[]): boolean {
  for (const f of fields) if (f && typeof f === "object" && "A_Star" in f) return true;
  return false;
}

function nodeType(node: unknown): [string, PgNode] | undefined {
  if (!node || typeof node !== "object" || Array.isArray(node)) return undefined;
  // for-in instead of Object.keys: no array per node on the hot path.
  for (const key in node) return [key, (node as Record<string, PgNode>)[key]!];
  return undefined;
}

function list(value: unknown): PgNode[] {
  return Array.isArray(value) ? (value as PgNode[]) : [];
}

function quoteName(name: string): string {
  return `"${name}"`;
}

function rank(level: AccessLevel): number {
  return level === "admin" ? 3 : level === "write" ? 2 : level === "read" ? 1 : 0;
}

/**
 * Walks one statement's parse tree, resolving names the way PostgreSQL does under the scope's
 * search_path, and throws a Refusal on the first thing the scope does not allow.
 *
 * Unknown node kinds are walked generically, so a construct we did not anticipate still has its
 * relations, columns and function calls checked (against a permissive frame) rather than skipped.
 */
export class StatementAnalyzer {
  readonly tables = new Set<string>();
  cls: StatementClass = "read";
  private readonly cteStack: Map<string, Cte>[] = [];
  private depth = 0;
  /** Outermost name scope: permissive inside function bodies, where names may be variables or parameters. */
  private readonly root: Frame | null;
  // The statement's source, for bodies the PL/pgSQL compiler must see as written (set by analyzeRaw).
  private sql = "";
  private location = 0;
  private length = 0;

  constructor(
    private readonly view: AccessView,
    /** Set when analysing SQL embedded in a function body or DO block: how many bodies deep. */
    private readonly nesting = 0,
  ) {
    this.root = nesting > 0 ? permissiveFrame(null) : null;
  }

  /** Analyses one statement of `sql` as the parser split it (its text is needed for procedural bodies). */
  analyzeRaw(s: RawStatement, sql: string): StatementClass {
    this.sql = sql;
    this.location = s.stmt_location ?? 0;
    this.length = s.stmt_len ?? 0;
    return this.analyze(s.stmt);
  }

  analyze(stmt: PgNode): StatementClass {
    const t = nodeType(stmt);
    if (!t) throw new Refusal("unsupported_statement", "empty statement");
    const [kind, node] = t;
    switch (kind) {
      case "SelectStmt":
        this.topSelect(node);
        return this.cls;
      case "InsertStmt":
      case "UpdateStmt":
      case "DeleteStmt":
      case "MergeStmt":
        this.cls = "write";
        this.dml(kind, node, this.root);
        return this.cls;
      case "ExplainStmt":
        return this.explain(node);
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
        return this.doBlock(node);
      case "CallStmt":
        return this.call(node);
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
        throw new Refusal("create_extension", "installing or changing extensions is refused");
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
        throw new Refusal("server_escape", "this statement reaches outside the database");
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
        throw new Refusal("role_management", "roles, privileges, ownership and row security are managed outside the gateway");
      case "CreateFunctionStmt":
      case "AlterFunctionStmt":
      case "CreateTrigStmt":
      case "RuleStmt":
      case "CreateCastStmt":
      case "CreateOpClassStmt":
      case "CreateConversionStmt":
      case "CreateTransformStmt":
      case "DefineStmt":
        return this.codeCreation(kind, node);
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
        return this.ddl(kind, node);
      default:
        throw new Refusal("unsupported_statement", `${kind.replace(/Stmt$/, "")} statements are not available through the gateway`);
    }
  }

  // ---------------------------------------------------------------- statements

  private topSelect(sel: PgNode): void {
    this.select(sel, this.root, {});
  }

  private explain(node: PgNode): StatementClass {
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
    if (verbose && this.view.hidesSomething)
      throw new Refusal("explain_verbose", "EXPLAIN VERBOSE can print columns this link cannot see; use EXPLAIN without VERBOSE");
    // Refuse before analysing the inner statement, so the explanation names the real problem.
    if (analyze && nodeType(node.query)?.[0] !== "SelectStmt")
      throw new Refusal("explain_analyze", "EXPLAIN ANALYZE executes the statement, and it is not a read", "a plain EXPLAIN (without ANALYZE)");
    const inner = this.analyze(node.query as PgNode);
    if (analyze && inner !== "read")
      throw new Refusal("explain_analyze", "EXPLAIN ANALYZE executes the statement, and it is not a read", "a plain EXPLAIN (without ANALYZE), or running the statement itself with the access it needs");
    // Plain EXPLAIN only plans: it runs fine inside the READ ONLY transaction.
    return analyze ? inner : "read";
  }

  private call(node: PgNode): StatementClass {
    const fc = (node.funccall as PgNode | undefined) ?? {};
    const names = strings(fc.funcname);
    const name = names[names.length - 1] ?? "";
    if (isDeniedFunction(name)) throw new Refusal("dangerous_function", `procedure ${name} is refused under every scope`);
    if (this.view.scope.access !== "admin" || this.view.hidesSomething)
      throw new Refusal("call_procedure", `CALL ${names.join(".")} runs a procedure the checker cannot verify`, "a link with full (admin) access that hides nothing");
    this.checkFunction(names, false);
    for (const a of list(fc.args)) this.expr(a, permissiveFrame(null), {});
    return "write";
  }

  private codeCreation(kind: string, node: PgNode): StatementClass {
    this.cls = "ddl";
    if (this.view.scope.access !== "admin" || this.view.hidesSomething)
      throw new Refusal("code_creation", "creating functions, triggers, rules, casts or operators needs full (admin) access on a link that hides nothing", "admin access on every table");
    // Triggers and rules run their code later, as whichever role fires them (a DBA's bulk load, a
    // superuser's maintenance job): a trojan for privileges the link's role does not have.
    if (kind === "CreateTrigStmt" || kind === "RuleStmt")
      throw new Refusal("deferred_code", `${kind === "RuleStmt" ? "rules" : "triggers"} run code later as whichever role fires them, so they are not created through the gateway`);
    if (kind === "CreateFunctionStmt" || kind === "AlterFunctionStmt") {
      const returns = strings((node.returnType as PgNode | undefined)?.names);
      const returnType = returns[returns.length - 1];
      if (returnType === "trigger" || returnType === "event_trigger")
        throw new Refusal("deferred_code", "trigger functions run later as whichever role fires the trigger, so they are not created through the gateway");
      let language: string | undefined;
      let body: string[] = [];
      for (const o of [...list(node.options), ...list(node.actions)]) {
        const d = nodeType(o)?.[1];
        if (!d) continue;
        if (d.defname === "language") {
          language = str(d.arg) ?? "";
          if (language !== "sql" && language !== "plpgsql")
            throw new Refusal("code_creation", `functions in language ${language} are refused: only SQL and PL/pgSQL bodies can be verified`);
        }
        if (d.defname === "as") body = strings((nodeType(d.arg)?.[1] as PgNode | undefined)?.items ?? d.arg);
        if (d.defname === "security" && (d.arg as { Boolean?: { boolval?: boolean } } | undefined)?.Boolean?.boolval)
          throw new Refusal("code_creation", "SECURITY DEFINER functions run with their owner's privileges for every caller; they are refused");
        if (d.defname === "set") {
          const name = String((d.arg as { VariableSetStmt?: { name?: string } } | undefined)?.VariableSetStmt?.name ?? "").toLowerCase();
          if (name === "role" || name === "session_authorization")
            throw new Refusal("session_state", `a function that sets ${name} switches roles for whoever calls it; it is refused`);
        }
      }
      if (kind === "CreateFunctionStmt") {
        const name = strings(node.funcname).join(".");
        if (node.sql_body) this.routineBody(node.sql_body as PgNode, name);
        else if (language === "plpgsql") this.proceduralBody(statementText(this.sql, this.location, this.length), `function ${name}`);
        else if (language === "sql") for (const text of body) this.embedded(text, `function ${name}`);
        else throw new Refusal("code_creation", `function ${name} names no language the checker can verify`);
      }
    }
    this.genericDdl(node);
    return "ddl";
  }

  /** DO: on links that may create functions, its PL/pgSQL is verified like a function body. */
  private doBlock(node: PgNode): StatementClass {
    if (this.view.scope.access !== "admin" || this.view.hidesSomething)
      throw new Refusal("do_block", "DO blocks run procedural code; only full (admin) links that hide nothing may run them, and their bodies are verified", "a link with full (admin) access that hides nothing");
    let language = "plpgsql";
    let body: string | undefined;
    for (const o of list(node.args)) {
      const d = nodeType(o)?.[1];
      if (d?.defname === "language") language = str(d.arg) ?? "";
      if (d?.defname === "as") body = str(d.arg);
    }
    if (language !== "plpgsql") throw new Refusal("do_block", `DO in language ${language} is refused: only PL/pgSQL bodies can be verified`);
    this.proceduralBody(`DO ${dollarQuote(body ?? "")}`, "DO block");
    return "write";
  }

  /** BEGIN ATOMIC ... END / RETURN expr: already parsed statements. */
  private routineBody(sqlBody: PgNode, name: string): void {
    const t = nodeType(sqlBody);
    if (t?.[0] === "ReturnStmt") {
      // RETURN expr is checked as the SELECT of that expression.
      const select = { SelectStmt: { targetList: [{ ResTarget: { val: t[1].returnval } }], op: "SETOP_NONE" } };
      this.nested(`function ${name}`, (a) => a.analyze(select));
      return;
    }
    const stmts: PgNode[] = [];
    for (const item of list((t?.[1] as PgNode | undefined)?.items)) {
      const inner = nodeType(item);
      if (inner?.[0] === "List") stmts.push(...list(inner[1].items));
      else stmts.push(item);
    }
    for (const stmt of stmts) this.nested(`function ${name}`, (a) => a.analyze(stmt));
  }

  private proceduralBody(text: string, where: string): void {
    this.nested(where, () => checkPlpgsqlBody(text, (sql) => this.embedded(sql, where)));
  }

  /** Every statement of `sql` (found in a body) under this link's scope, names resolving permissively. */
  private embedded(sql: string, where: string): void {
    if (sql.includes("\0")) throw new Refusal("control_character", `the body of ${where} contains a NUL character`);
    const parsed = parseSql(sql);
    if (!parsed.ok) throw new Refusal("code_creation", `the body of ${where} does not parse (${parsed.message}), so it cannot be verified`);
    for (const s of parsed.statements) this.nested(where, (a) => a.analyzeRaw(s, sql));
  }

  private nested(where: string, run: (analyzer: StatementAnalyzer) => unknown): void {
    if (this.nesting >= MAX_NESTING) throw new Refusal("statement_too_complex", `bodies are nested more than ${MAX_NESTING} deep`);
    const analyzer = new StatementAnalyzer(this.view, this.nesting + 1);
    try {
      run(analyzer);
    } catch (error) {
      if (!(error instanceof Refusal) || error.message.startsWith("in the body of")) throw error;
      throw new Refusal(error.ruleId, `in the body of ${where}: ${error.message}`, error.need, error.object);
    }
    for (const t of analyzer.tables) this.tables.add(t);
  }

  private ddl(kind: string, node: PgNode): StatementClass {
    this.cls = "ddl";
    this.deferredExpressions({ [kind]: node }, 0);
    const needAdmin = (what: string): never => {
      throw new Refusal("ddl_not_permitted", `${what} needs admin access`, "admin access");
    };
    if (node.behavior === "DROP_CASCADE" && this.view.hidesSomething)
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
          throw new Refusal("session_state", "temporary tables, views and sequences outlive the call on shared sessions; create a regular one");
        const schema = (rv.schemaname as string | undefined) ?? this.view.searchPath[0] ?? "public";
        const name = rv.relname as string;
        if (rank(this.view.accessFor(schema, name)) < 3 || (this.view.catalog.relations[`${schema}.${name}`] && !this.view.relations.has(`${schema}.${name}`)))
          needAdmin(`creating ${schema}.${name}`);
        if (kind === "CreateTableAsStmt" || kind === "ViewStmt") {
          const query = (node.query as PgNode) ?? {};
          const q = nodeType(query);
          if (q?.[0] === "SelectStmt") this.select(q[1], this.root, {});
          else if (q) throw new Refusal("ddl_not_permitted", "CREATE ... AS must be a SELECT");
        }
        // Inherited/partitioned-of parents, LIKE sources and references are checked as relations.
        this.genericDdl({ ...node, relation: undefined, view: undefined, into: undefined, query: undefined, sequence: undefined });
        return "ddl";
      }
      case "CreateSchemaStmt":
        if (this.view.scope.access !== "admin" || this.view.scope.schemas) needAdmin("creating a schema");
        if (list(node.schemaElts).length) throw new Refusal("ddl_not_permitted", "CREATE SCHEMA with embedded statements is not supported; create the objects separately");
        return "ddl";
      case "DropStmt": {
        const relationTypes = new Set(["OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_SEQUENCE", "OBJECT_FOREIGN_TABLE", "OBJECT_INDEX"]);
        if (relationTypes.has(node.removeType as string) && node.removeType !== "OBJECT_INDEX") {
          for (const obj of list(node.objects)) {
            const names = list((nodeType(obj)?.[1] as PgNode | undefined)?.items).map(str).filter((s): s is string => s !== undefined);
            // DROP ... IF EXISTS of a name that exists nowhere is harmless; a hidden one must not be dropped.
            if (node.missing_ok && this.existsNowhere(names)) {
              const schema = names.length >= 2 ? names[names.length - 2]! : (this.view.searchPath[0] ?? "public");
              if (rank(this.view.accessFor(schema, names[names.length - 1]!)) < 3) needAdmin(`dropping ${names.join(".")}`);
              continue;
            }
            const rel = this.resolveRelationName(names, true);
            if (!rel || rel.access !== "admin") needAdmin(`dropping ${names.join(".")}`);
          }
          return "ddl";
        }
        if (this.view.scope.access !== "admin" || this.view.hidesSomething) needAdmin(`DROP ${String(node.removeType).replace("OBJECT_", "")}`);
        return "ddl";
      }
      default: {
        for (const cmd of list(node.cmds)) {
          const sub = nodeType(cmd)?.[1]?.subtype as string | undefined;
          if (sub === "AT_ChangeOwner" || sub === "AT_EnableRowSecurity" || sub === "AT_DisableRowSecurity" || sub === "AT_ForceRowSecurity" || sub === "AT_NoForceRowSecurity")
            throw new Refusal("role_management", "ownership and row security are managed outside the gateway");
        }
        const targets = this.adminTargets(node);
        const what = kind.replace(/Stmt$/, "").replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase();
        // Without a relation to check, the object could be a hidden one: only links hiding nothing.
        if (targets === "none" && (this.view.scope.access !== "admin" || this.view.hidesSomething)) needAdmin(`${what} on a link that hides nothing`);
        this.genericDdl(node);
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
  private deferredExpressions(node: unknown, depth: number): void {
    if (!node || typeof node !== "object" || depth > MAX_DEPTH) return;
    if (Array.isArray(node)) {
      for (const item of node) this.deferredExpressions(item, depth + 1);
      return;
    }
    for (const key in node as PgNode) {
      const value = (node as PgNode)[key] as PgNode;
      if (!value || typeof value !== "object") continue;
      switch (key) {
        case "Constraint":
          this.userCodeIn(value.raw_expr, "a default, CHECK or generated column expression");
          this.userCodeIn(value.where_clause, "an exclusion constraint");
          break;
        case "IndexElem":
        case "StatsElem":
        case "PartitionElem":
          this.userCodeIn(value.expr, key === "IndexElem" ? "an index expression" : key === "StatsElem" ? "a statistics expression" : "a partition key");
          break;
        case "AlterTableCmd":
          if (value.subtype === "AT_ColumnDefault" || value.subtype === "AT_SetExpression" || value.subtype === "AT_CookedColumnDefault")
            this.userCodeIn(value.def, "a column default or generated expression");
          break;
        case "IndexStmt":
          this.userCodeIn(value.whereClause, "a partial index predicate");
          break;
      }
      this.deferredExpressions(value, depth + 1);
    }
  }

  private userCodeIn(expr: unknown, where: string): void {
    const visit = (n: unknown, depth: number): void => {
      if (!n || typeof n !== "object" || depth > MAX_DEPTH) return;
      if (Array.isArray(n)) {
        for (const item of n) visit(item, depth + 1);
        return;
      }
      for (const key in n as PgNode) {
        const value = (n as PgNode)[key] as PgNode;
        if (key === "FuncCall" && this.isUserFunction(strings(value.funcname)))
          throw new Refusal("deferred_code", `function ${strings(value.funcname).join(".")} in ${where} would run later as whichever role writes or maintains the table; use built-in functions there`);
        if (key === "A_Expr") {
          const op = strings(value.name);
          if (this.view.catalog.operators?.[op[op.length - 1] ?? ""])
            throw new Refusal("deferred_code", `operator ${op.join(".")} in ${where} runs a user function later, as whichever role writes or maintains the table`);
        }
        visit(value, depth + 1);
      }
    };
    visit(expr, 0);
  }

  /** A function the link's side could have written: not built in, not from an extension. */
  private isUserFunction(names: string[]): boolean {
    const name = names[names.length - 1] ?? "";
    const schema = names.length >= 2 ? names[names.length - 2] : undefined;
    if (schema === "pg_catalog") return false;
    const catalog = this.view.catalog;
    const key = schema !== undefined ? `${schema}.${name}` : this.view.searchPath.map((s) => `${s}.${name}`).find((k) => catalog.functions[k]);
    const fn = key ? catalog.functions[key] : undefined;
    if (fn) return !fn.extension;
    // Unknown names (created in the same call, or later) count as user code; built-ins do not.
    return schema !== undefined || catalog.builtinFunctions[name] === undefined;
  }

  private existsNowhere(names: string[]): boolean {
    const name = names[names.length - 1]!;
    const schemas = names.length >= 2 ? [names[names.length - 2]!] : this.view.catalog.schemas;
    return schemas.every((s) => !this.view.catalog.relations[`${s}.${name}`]);
  }

  /** Whether the statement names relations ("some"), or none we can check ("none"). */
  private adminTargets(node: PgNode): "none" | "some" {
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
  private genericDdl(node: PgNode): void {
    const frame = permissiveFrame(null);
    this.generic(node, frame, {}, (rv) => {
      const rel = this.relationFromRangeVar(rv, true);
      if (rel && rel.access !== "admin") throw new Refusal("ddl_not_permitted", `changing ${rel.key} needs admin access`, "admin access", rel.key);
      // Renaming or altering a table whose columns are partly hidden would slip them out of the
      // scope's rule (rules are by name), so such tables are not changed through the gateway.
      if (rel && rel.hiddenColumns.size > 0)
        throw new Refusal("ddl_not_permitted", `${rel.key} has columns this link cannot see, so it cannot be changed through this link`, undefined, rel.key);
    });
  }

  private dml(kind: string, node: PgNode, outer: Frame | null): Column[] | null {
    this.pushCtes(node.withClause as PgNode | undefined, outer);
    try {
      const rv = node.relation as PgNode;
      const target = this.relationFromRangeVar(rv, false);
      if (!target) throw new Refusal("write_not_permitted", `${verb(kind)} on a system catalog is refused`);
      if (rank(target.access) < 2)
        throw new Refusal("write_not_permitted", `${verb(kind)} on ${target.key} is not allowed: this link can only read it`, `write access on ${target.key}`, target.key);
      for (const dep of target.relation.reads ?? []) {
        const base = this.view.relations.get(dep.relation);
        if (!base || rank(base.access) < 2)
          throw new Refusal("write_not_permitted", `${verb(kind)} through view ${target.key} writes tables this link can only read`, `write access on the view's tables`, target.key);
      }
      const alias = (rv.alias as PgNode | undefined)?.aliasname as string | undefined;
      const targetEntry = this.relationEntry(target, alias, undefined);
      const frame = newFrame(outer);
      const checkTargetColumn = (name: string | undefined): void => {
        if (name === undefined) return;
        const col = targetEntry.columns?.find((c) => c.name === name);
        if (!col || col.hidden) throw new Refusal("undefined_column", `column ${quoteName(name)} of relation ${quoteName(target.relation.name)} does not exist`, undefined, name);
      };
      const noColumnList = (): void => {
        if (target.hiddenColumns.size > 0)
          throw new Refusal("hidden_columns_wildcard", `INSERT into ${target.key} without a column list is not available on this link; list the columns: ${target.columns.join(", ")}`, undefined, target.key);
      };
      // A row can never be inserted when a hidden column is required: PostgreSQL's not-null error
      // would name the hidden column (and its DETAIL would print the row), so refuse up front.
      const requiredHidden = (): void => {
        if (target.relation.columns.some((c) => target.hiddenColumns.has(c.name) && !c.nullable && !c.hasDefault))
          throw new Refusal("hidden_required_column", `INSERT into ${target.key} is not available on this link: the table requires values for columns the link cannot see`, undefined, target.key);
      };
      switch (kind) {
        case "InsertStmt": {
          requiredHidden();
          const cols = list(node.cols);
          if (cols.length === 0) noColumnList();
          for (const c of cols) {
            const rt = nodeType(c)?.[1];
            checkTargetColumn(rt?.name as string | undefined);
            if (rt?.indirection) this.expr(rt.indirection as PgNode, frame, {});
          }
          const sel = nodeType(node.selectStmt);
          if (sel) this.select(sel[1], outer, {});
          const oc = node.onConflictClause as PgNode | undefined;
          if (oc) {
            const conflictFrame = newFrame(outer);
            conflictFrame.entries.push(targetEntry, { ...targetEntry, name: "excluded", schema: undefined, qualifiedOnly: true });
            const infer = oc.infer as PgNode | undefined;
            for (const ie of list(infer?.indexElems)) {
              const el = nodeType(ie)?.[1];
              if (el?.name) checkTargetColumn(el.name as string);
              if (el?.expr) this.expr(el.expr as PgNode, conflictFrame, {});
            }
            if (infer?.whereClause) this.expr(infer.whereClause as PgNode, conflictFrame, {});
            for (const t of list(oc.targetList)) {
              const rt = nodeType(t)?.[1];
              checkTargetColumn(rt?.name as string | undefined);
              if (rt?.val) this.expr(rt.val as PgNode, conflictFrame, {});
            }
            if (oc.whereClause) this.expr(oc.whereClause as PgNode, conflictFrame, {});
          }
          break;
        }
        case "UpdateStmt": {
          frame.entries.push(targetEntry);
          for (const f of list(node.fromClause)) this.fromItem(f, frame);
          for (const t of list(node.targetList)) {
            const rt = nodeType(t)?.[1];
            checkTargetColumn(rt?.name as string | undefined);
            if (rt?.val) this.expr(rt.val as PgNode, frame, {});
            if (rt?.indirection) this.expr(rt.indirection as PgNode, frame, {});
          }
          if (node.whereClause) this.expr(node.whereClause as PgNode, frame, {});
          break;
        }
        case "DeleteStmt": {
          frame.entries.push(targetEntry);
          for (const f of list(node.usingClause)) this.fromItem(f, frame);
          if (node.whereClause) this.expr(node.whereClause as PgNode, frame, {});
          break;
        }
        case "MergeStmt": {
          frame.entries.push(targetEntry);
          this.fromItem(node.sourceRelation as PgNode, frame);
          if (node.joinCondition) this.expr(node.joinCondition as PgNode, frame, {});
          for (const w of list(node.mergeWhenClauses)) {
            const mw = nodeType(w)?.[1];
            if (!mw) continue;
            if (mw.condition) this.expr(mw.condition as PgNode, frame, {});
            const targets = list(mw.targetList);
            if (mw.commandType === "CMD_INSERT") requiredHidden();
            if (mw.commandType === "CMD_INSERT" && targets.length === 0 && list(mw.values).length > 0) noColumnList();
            for (const t of targets) {
              const rt = nodeType(t)?.[1];
              checkTargetColumn(rt?.name as string | undefined);
              if (rt?.val) this.expr(rt.val as PgNode, frame, {});
            }
            for (const v of list(mw.values)) this.expr(v, frame, {});
          }
          break;
        }
      }
      const returning = list((node.returningClause as PgNode | undefined)?.exprs ?? node.returningList);
      if (returning.length === 0) return [];
      const retFrame = newFrame(outer);
      retFrame.entries.push(...frame.entries.filter((e) => e !== targetEntry), targetEntry, { ...targetEntry, name: "old", schema: undefined, qualifiedOnly: true }, { ...targetEntry, name: "new", schema: undefined, qualifiedOnly: true });
      return this.targetList(returning, retFrame, {});
    } finally {
      this.popCtes(node.withClause as PgNode | undefined);
    }
  }

  // ---------------------------------------------------------------- SELECT

  /** Returns the output columns (null when unknown). */
  private select(sel: PgNode, outer: Frame | null, _ctx: ExprContext): Column[] | null {
    this.enter();
    this.pushCtes(sel.withClause as PgNode | undefined, outer);
    try {
      if (sel.intoClause) throw new Refusal("select_into", "SELECT ... INTO creates a table", "CREATE TABLE ... AS with admin access");
      if (list(sel.lockingClause).length) throw new Refusal("row_locking", "FOR UPDATE/SHARE row locks are not available; remove the locking clause");
      if (sel.op && sel.op !== "SETOP_NONE") {
        const left = this.select(sel.larg as PgNode, outer, {});
        this.select(sel.rarg as PgNode, outer, {});
        const outFrame = newFrame(outer);
        outFrame.entries.push({ name: null, columns: left, label: "set operation" });
        for (const s of list(sel.sortClause)) this.expr(s, outFrame, {});
        if (sel.limitCount) this.expr(sel.limitCount as PgNode, outFrame, {});
        if (sel.limitOffset) this.expr(sel.limitOffset as PgNode, outFrame, {});
        return left;
      }
      if (list(sel.valuesLists).length) {
        let width = 0;
        for (const row of list(sel.valuesLists)) {
          const items = list((nodeType(row)?.[1] as PgNode | undefined)?.items);
          width = Math.max(width, items.length);
          for (const item of items) this.expr(item, outer ?? this.root ?? newFrame(null), {});
        }
        return Array.from({ length: width }, (_, i) => ({ name: `column${i + 1}`, hidden: false }));
      }
      const frame = newFrame(outer);
      for (const f of list(sel.fromClause)) this.fromItem(f, frame);
      if (sel.whereClause) this.expr(sel.whereClause as PgNode, frame, {});
      const output = this.targetList(list(sel.targetList), frame, {});
      const outputNames = (output ?? []).filter((c) => !c.hidden).map((c) => c.name);
      for (const g of list(sel.groupClause)) this.expr(g, frame, { outputNames });
      if (sel.havingClause) this.expr(sel.havingClause as PgNode, frame, {});
      for (const w of list(sel.windowClause)) this.expr(w, frame, {});
      for (const d of list(sel.distinctClause)) if (nodeType(d)) this.expr(d, frame, { outputNames });
      for (const s of list(sel.sortClause)) this.expr(s, frame, { outputNames });
      if (sel.limitCount) this.expr(sel.limitCount as PgNode, frame, {});
      if (sel.limitOffset) this.expr(sel.limitOffset as PgNode, frame, {});
      return output;
    } finally {
      this.popCtes(sel.withClause as PgNode | undefined);
      this.depth--;
    }
  }

  private targetList(targets: PgNode[], frame: Frame, _ctx: ExprContext): Column[] | null {
    const out: Column[] = [];
    let known = true;
    for (const t of targets) {
      const rt = nodeType(t)?.[1];
      if (!rt) continue;
      const val = rt.val as PgNode | undefined;
      const cr = nodeType(val);
      if (cr && cr[0] === "ColumnRef" && hasStar(list(cr[1].fields))) {
        const cols = this.star(list(cr[1].fields), frame);
        if (cols === null) known = false;
        else out.push(...cols);
        continue;
      }
      if (val) this.expr(val, frame, {});
      out.push({ name: (rt.name as string | undefined) ?? deriveName(val), hidden: false });
    }
    return known ? out : null;
  }

  /** `*` / `t.*`: refused over hidden columns. */
  private star(fields: PgNode[], frame: Frame): Column[] | null {
    const qualifier = strings(fields.slice(0, -1));
    const entries = qualifier.length ? [this.findEntry(qualifier, frame)] : frame.entries.filter((e) => !e.qualifiedOnly);
    if (qualifier.length && !entries[0]) throw new Refusal("undefined_table", `missing FROM-clause entry for table ${quoteName(qualifier[qualifier.length - 1]!)}`);
    const out: Column[] = [];
    let known = true;
    for (const e of entries) {
      if (!e) continue;
      if (e.columns === null) {
        known = false;
        continue;
      }
      // Even inside EXISTS, where the columns are never produced: PostgreSQL itself treats `*` as a
      // reference to every column (it checks column privileges on all of them), and so do we.
      if (e.columns.some((c) => c.hidden)) throw this.wildcardRefusal(e, qualifier.length ? `${qualifier.join(".")}.*` : "*");
      out.push(...e.columns.filter((c) => !c.hidden));
    }
    return known ? out : null;
  }

  private wildcardRefusal(e: RangeEntry, what: string): Refusal {
    const visible = (e.columns ?? []).filter((c) => !c.hidden).map((c) => c.name);
    return new Refusal(
      "hidden_columns_wildcard",
      `${what} on ${e.label} is not available on this link because it would include columns the link cannot see; name the columns instead: ${visible.join(", ")}`,
    );
  }

  // ---------------------------------------------------------------- FROM

  /** Adds a FROM item's range entries to the frame; returns the entries it added. */
  private fromItem(item: PgNode, frame: Frame): RangeEntry[] {
    this.enter();
    try {
      const t = nodeType(item);
      if (!t) return [];
      const [kind, node] = t;
      switch (kind) {
        case "RangeVar": {
          const entry = this.rangeVarEntry(node);
          frame.entries.push(entry);
          return [entry];
        }
        case "RangeSubselect": {
          const q = nodeType(node.subquery);
          let cols: Column[] | null = null;
          if (q?.[0] === "SelectStmt") cols = this.select(q[1], frame, {});
          const alias = node.alias as PgNode | undefined;
          const entry: RangeEntry = { name: (alias?.aliasname as string | undefined) ?? null, columns: renameColumns(cols, alias), label: `subquery ${alias?.aliasname ?? ""}`.trim() };
          frame.entries.push(entry);
          return [entry];
        }
        case "RangeFunction": {
          for (const fl of list(node.functions)) {
            for (const f of list((nodeType(fl)?.[1] as PgNode | undefined)?.items ?? fl)) if (nodeType(f)) this.expr(f, frame, {});
          }
          for (const cd of list(node.coldeflist)) this.generic(cd, frame, {});
          const alias = node.alias as PgNode | undefined;
          const colnames = strings(alias?.colnames);
          const defs = list(node.coldeflist).map((c) => (nodeType(c)?.[1]?.colname as string | undefined) ?? "");
          const named = colnames.length ? colnames : defs.length ? defs : null;
          const entry: RangeEntry = {
            name: (alias?.aliasname as string | undefined) ?? firstFunctionName(node),
            columns: named ? named.map((n) => ({ name: n, hidden: false })) : null,
            label: "function result",
          };
          frame.entries.push(entry);
          return [entry];
        }
        case "JoinExpr": {
          const left = this.fromItem(node.larg as PgNode, frame);
          const right = this.fromItem(node.rarg as PgNode, frame);
          const using = strings(node.usingClause);
          const colsOf = (entries: RangeEntry[]): Column[] | null =>
            entries.some((e) => e.columns === null) ? null : entries.flatMap((e) => e.columns!);
          const leftCols = colsOf(left);
          const rightCols = colsOf(right);
          if (node.isNatural) {
            if (leftCols && rightCols) {
              const common = leftCols.filter((c) => rightCols.some((r) => r.name === c.name));
              const hiddenCommon = common.some((c) => c.hidden || rightCols.some((r) => r.name === c.name && r.hidden));
              if (hiddenCommon)
                throw new Refusal("hidden_columns_wildcard", "NATURAL JOIN here is not available on this link because it would compare columns the link cannot see; use JOIN ... ON with named columns");
              for (const c of common) (frame.merged ??= new Set()).add(c.name);
            } else if (this.view.hidesSomething && [...left, ...right].some((e) => e.columns?.some((c) => c.hidden))) {
              throw new Refusal("hidden_columns_wildcard", "NATURAL JOIN with a table that has columns this link cannot see is not available; use JOIN ... ON");
            }
          }
          for (const name of using) {
            for (const [side, cols] of [["left", leftCols], ["right", rightCols]] as const) {
              if (!cols) continue;
              const c = cols.find((x) => x.name === name);
              if (!c || c.hidden) throw new Refusal("undefined_column", `column ${quoteName(name)} specified in USING clause does not exist in ${side} table`);
            }
            (frame.merged ??= new Set()).add(name);
          }
          if (node.quals) this.expr(node.quals as PgNode, frame, {});
          const alias = node.alias as PgNode | undefined;
          const added = [...left, ...right];
          if (alias?.aliasname) {
            const all = colsOf(added);
            const merged = all ? all.filter((c, i) => !(!!frame.merged?.has(c.name) && all.findIndex((x) => x.name === c.name) !== i)) : null;
            const entry: RangeEntry = { name: alias.aliasname as string, columns: renameColumns(merged, alias), label: `join ${alias.aliasname}` };
            frame.entries.push(entry);
            added.push(entry);
          }
          if (node.join_using_alias) {
            const ja = (node.join_using_alias as PgNode).aliasname as string;
            const entry: RangeEntry = { name: ja, columns: using.map((n) => ({ name: n, hidden: false })), label: `join ${ja}` };
            frame.entries.push(entry);
            added.push(entry);
          }
          return added;
        }
        case "RangeTableSample": {
          const added = this.fromItem(node.relation as PgNode, frame);
          for (const a of list(node.args)) this.expr(a, frame, {});
          if (node.repeatable) this.expr(node.repeatable as PgNode, frame, {});
          return added;
        }
        default: {
          // XMLTABLE, JSON_TABLE, ...: expressions checked; result columns unknown.
          this.generic(node, frame, {});
          const alias = node.alias as PgNode | undefined;
          const entry: RangeEntry = { name: (alias?.aliasname as string | undefined) ?? null, columns: null, label: "table function" };
          frame.entries.push(entry);
          return [entry];
        }
      }
    } finally {
      this.depth--;
    }
  }

  private rangeVarEntry(rv: PgNode): RangeEntry {
    const relname = rv.relname as string;
    const schemaname = rv.schemaname as string | undefined;
    const alias = rv.alias as PgNode | undefined;
    if (!schemaname && !rv.catalogname) {
      const cte = this.findCte(relname);
      if (cte) return { name: (alias?.aliasname as string | undefined) ?? relname, columns: renameColumns(cte.columns, alias), label: `WITH query ${quoteName(relname)}` };
    }
    const rel = this.relationFromRangeVar(rv, false);
    if (!rel) {
      return { name: (alias?.aliasname as string | undefined) ?? relname, schema: alias ? undefined : (schemaname ?? "pg_catalog"), columns: null, label: relname };
    }
    // The JSON tree omits false booleans: `inh` is present only without ONLY.
    if (rv.inh === true) {
      for (const child of allChildren(rel, this.view)) {
        if (!this.view.relations.has(child))
          throw new Refusal("hidden_inheritance", `reading ${rel.key} would also read rows of child tables this link cannot see; use FROM ONLY ${rel.key}`);
      }
    }
    return this.relationEntry(rel, alias?.aliasname as string | undefined, alias);
  }

  private relationEntry(rel: RelationAccess, aliasName: string | undefined, alias: PgNode | undefined): RangeEntry {
    const cols = rel.relation.columns.map((c) => ({ name: c.name, hidden: rel.hiddenColumns.has(c.name) }));
    return {
      name: aliasName ?? rel.relation.name,
      schema: aliasName ? undefined : rel.relation.schema,
      columns: renameColumns(cols, alias),
      relation: rel,
      label: rel.key,
    };
  }

  /**
   * Resolves a RangeVar to a visible user relation, checks system catalogs, or refuses with the
   * same words PostgreSQL uses for a missing relation. Returns undefined for an allowed system relation.
   */
  private relationFromRangeVar(rv: PgNode, forDdl: boolean): RelationAccess | undefined {
    const names: string[] = [];
    if (typeof rv.catalogname === "string") names.push(rv.catalogname);
    if (typeof rv.schemaname === "string") names.push(rv.schemaname);
    names.push(rv.relname as string);
    return this.resolveRelationName(names, forDdl);
  }

  private resolveRelationName(names: string[], forDdl: boolean): RelationAccess | undefined {
    const shown = names.join(".");
    const missing = (): Refusal => new Refusal("undefined_table", `relation ${quoteName(shown)} does not exist`, undefined, shown);
    let relname = names[names.length - 1]!;
    let schema = names.length >= 2 ? names[names.length - 2] : undefined;
    if (names.length === 3 && names[0] !== this.view.catalog.database)
      throw new Refusal("undefined_table", `cross-database references are not implemented: ${shown}`);
    if (names.length > 3) throw missing();
    if (schema === undefined) {
      // pg_catalog is searched before the search_path unless listed in it explicitly.
      if (this.view.catalog.systemRelations[`pg_catalog.${relname}`]) schema = "pg_catalog";
    }
    if (schema !== undefined && SYSTEM_SCHEMAS.has(schema)) {
      const key = `${schema}.${relname}`;
      if (!this.view.catalog.systemRelations[key]) throw missing();
      if (forDdl) throw new Refusal("ddl_not_permitted", `system catalog ${key} cannot be changed`);
      if (ALWAYS_DENIED_CATALOGS.has(relname)) throw new Refusal("catalog_denied", `reading ${key} is refused under every scope`);
      if (this.view.hidesSomething && !HARMLESS_CATALOGS.has(relname))
        throw new Refusal(
          "catalog_hidden",
          `reading ${key} is not available on this link because it would list objects the link cannot see; use the list_tables, describe_table and get_schema tools`,
        );
      this.tables.add(key);
      return undefined;
    }
    let rel: RelationAccess | undefined;
    if (schema !== undefined) rel = this.view.relations.get(`${schema}.${relname}`);
    else {
      rel = this.searchRelation(relname);
      relname = rel?.relation.name ?? relname;
    }
    if (!rel) throw missing();
    this.tables.add(rel.key);
    return rel;
  }

  /** First schema of the search path holding the name decides, even when that one is hidden. */
  private searchRelation(relname: string): RelationAccess | undefined {
    for (const schema of this.view.searchPath) {
      const key = `${schema}.${relname}`;
      const hit = this.view.relations.get(key);
      if (hit) return hit;
      if (this.view.catalog.relations[key]) return undefined;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- CTEs

  private pushCtes(withClause: PgNode | undefined, outer: Frame | null): void {
    if (!withClause) return;
    const scope = new Map<string, Cte>();
    this.cteStack.push(scope);
    for (const c of list(withClause.ctes)) {
      const cte = nodeType(c)?.[1];
      if (!cte) continue;
      const name = cte.ctename as string;
      const aliasCols = strings(cte.aliascolnames);
      if (withClause.recursive) scope.set(name, { columns: aliasCols.length ? aliasCols.map((n) => ({ name: n, hidden: false })) : null });
      const q = nodeType(cte.ctequery);
      let cols: Column[] | null = null;
      if (q?.[0] === "SelectStmt") cols = this.select(q[1], outer, {});
      else if (q && ["InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"].includes(q[0])) {
        // A data-modifying CTE makes the whole statement a write (never run in the READ ONLY
        // transaction); it is allowed only where the link may write the modified table.
        this.cls = "write";
        try {
          cols = this.dml(q[0], q[1], outer);
        } catch (error) {
          if (error instanceof Refusal && error.ruleId === "write_not_permitted")
            throw new Refusal("data_modifying_cte", `WITH query ${quoteName(name)} is a ${verb(q[0])}: ${error.message}`, error.need, error.object);
          throw error;
        }
      } else if (q) throw new Refusal("unsupported_statement", `WITH query ${quoteName(name)} is not a SELECT or a data change`);
      if (aliasCols.length && cols) cols = cols.map((c, i) => (aliasCols[i] ? { name: aliasCols[i]!, hidden: c.hidden } : c));
      else if (aliasCols.length) cols = aliasCols.map((n) => ({ name: n, hidden: false }));
      scope.set(name, { columns: cols });
    }
  }

  private popCtes(withClause: PgNode | undefined): void {
    if (withClause) this.cteStack.pop();
  }

  private findCte(name: string): Cte | undefined {
    for (let i = this.cteStack.length - 1; i >= 0; i--) {
      const hit = this.cteStack[i]!.get(name);
      if (hit) return hit;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- expressions

  private expr(node: PgNode, frame: Frame, ctx: ExprContext): void {
    this.generic(node, frame, ctx);
  }

  private generic(node: unknown, frame: Frame, ctx: ExprContext, onRangeVar?: (rv: PgNode) => void): void {
    if (!node || typeof node !== "object") return;
    this.enter();
    try {
      if (Array.isArray(node)) {
        for (const item of node) this.generic(item, frame, ctx, onRangeVar);
        return;
      }
      for (const key in node as PgNode) {
        const value = (node as PgNode)[key];
        switch (key) {
          case "ColumnRef":
            this.columnRef(list((value as PgNode).fields), frame, ctx);
            continue;
          case "FuncCall": {
            const fc = value as PgNode;
            const names = strings(fc.funcname);
            this.checkFunction(names, true, list(fc.args));
            this.generic({ args: fc.args, agg_order: fc.agg_order, agg_filter: fc.agg_filter, over: fc.over }, frame, {}, onRangeVar);
            continue;
          }
          case "A_Expr": {
            const ae = value as PgNode;
            const op = strings(ae.name);
            this.checkOperator(op);
            this.generic({ l: ae.lexpr, r: ae.rexpr }, frame, {}, onRangeVar);
            continue;
          }
          case "SubLink": {
            const sl = value as PgNode;
            const q = nodeType(sl.subselect);
            if (q?.[0] === "SelectStmt") this.select(q[1], frame, {});
            if (sl.testexpr) this.generic(sl.testexpr, frame, {}, onRangeVar);
            if (sl.operName) this.checkOperator(strings(sl.operName));
            continue;
          }
          case "SelectStmt":
            this.select(value as PgNode, frame, {});
            continue;
          case "InsertStmt":
          case "UpdateStmt":
          case "DeleteStmt":
          case "MergeStmt":
            throw new Refusal("unsupported_statement", "a data change nested here is not supported");
          case "TypeCast":
            this.typeCast(value as PgNode, frame, onRangeVar);
            continue;
          case "SortBy": {
            const sb = value as PgNode;
            this.sortOrGroupItem(sb.node as PgNode, frame, ctx, true);
            if (sb.useOp) this.checkOperator(strings(sb.useOp));
            continue;
          }
          case "RangeVar":
            if (onRangeVar) onRangeVar(value as PgNode);
            else this.relationFromRangeVar(value as PgNode, false);
            continue;
          case "relation":
          case "relations":
          case "view":
          case "sequence":
          case "rel":
          case "pktable":
            // Fields typed RangeVar arrive unwrapped (no {"RangeVar": ...} around them).
            if (isBareRangeVar(value)) {
              if (onRangeVar) onRangeVar(value as PgNode);
              else this.relationFromRangeVar(value as PgNode, false);
              continue;
            }
            this.generic(value, frame, ctx, onRangeVar);
            continue;
          case "GroupingSet":
            for (const c of list((value as PgNode).content)) this.sortOrGroupItem(c, frame, ctx, false);
            continue;
          default:
            this.generic(value, frame, key === "WindowDef" ? {} : ctx, onRangeVar);
        }
      }
    } finally {
      this.depth--;
    }
  }

  /** ORDER BY / GROUP BY / DISTINCT ON items: an output column name or ordinal is fine. */
  private sortOrGroupItem(item: PgNode, frame: Frame, ctx: ExprContext, outputFirst: boolean): void {
    const t = nodeType(item);
    if (t?.[0] === "ColumnRef" && ctx.outputNames) {
      const fields = list(t[1].fields);
      const only = fields.length === 1 ? str(fields[0]) : undefined;
      // ORDER BY prefers an output column of that name; GROUP BY prefers the input column.
      if (only !== undefined && ctx.outputNames.includes(only) && (outputFirst || !this.inputHasHidden(only, frame))) return;
    }
    this.generic(item, frame, { outputNames: ctx.outputNames });
  }

  private inputHasHidden(name: string, frame: Frame): boolean {
    return frame.entries.some((e) => e.columns?.some((c) => c.name === name && c.hidden));
  }

  private columnRef(fields: PgNode[], frame: Frame, ctx: ExprContext): void {
    if (hasStar(fields)) {
      // `t.*` outside a target list (row_to_json(t.*), ROW(t.*), count(t.*)): a whole-row value.
      this.star(fields, frame);
      return;
    }
    const names = strings(fields);
    if (names.length === 0) return;
    if (names.length === 1) return this.unqualified(names[0]!, frame, ctx, true);
    // a.b: table a's column b; else column a's field b (composite).
    const entry = this.findEntry(names.slice(0, -1), frame) ?? (names.length >= 3 ? this.findEntry(names.slice(0, -2), frame) : undefined);
    if (entry) {
      const colName = this.findEntry(names.slice(0, -1), frame) === entry ? names[names.length - 1]! : names[names.length - 2]!;
      if (entry.columns === null) return;
      const col = entry.columns.find((c) => c.name === colName);
      if (!col || col.hidden) throw new Refusal("undefined_column", `column ${names.slice(0, names.indexOf(colName) + 1).join(".")} does not exist`);
      return;
    }
    if (this.lookupColumn(names[0]!, frame) !== "none") return this.unqualified(names[0]!, frame, ctx, false);
    throw new Refusal("undefined_table", `missing FROM-clause entry for table ${quoteName(names[names.length - 2]!)}`);
  }

  private unqualified(name: string, frame: Frame, ctx: ExprContext, wholeRowAllowed: boolean): void {
    const found = this.lookupColumn(name, frame);
    if (found === "visible" || found === "opaque") return;
    if (found === "hidden") throw new Refusal("undefined_column", `column ${quoteName(name)} does not exist`, undefined, name);
    if (found === "ambiguous") throw new Refusal("ambiguous_column", `column reference ${quoteName(name)} is ambiguous; qualify it with its table name`);
    if (ctx.outputNames?.includes(name)) return;
    if (wholeRowAllowed) {
      const entry = this.findEntry([name], frame);
      if (entry) {
        if (entry.columns?.some((c) => c.hidden)) throw this.wildcardRefusal(entry, `whole-row reference ${name}`);
        return;
      }
    }
    throw new Refusal("undefined_column", `column ${quoteName(name)} does not exist`);
  }

  /** PostgreSQL's colNameToVar: innermost query level first; within a level, more than one match is ambiguous. */
  private lookupColumn(name: string, frame: Frame): "visible" | "hidden" | "ambiguous" | "opaque" | "none" {
    for (let f: Frame | null = frame; f; f = f.parent) {
      let visible = 0;
      let hidden = 0;
      let opaque = false;
      for (const e of f.entries) {
        if (e.qualifiedOnly) continue;
        if (e.columns === null) {
          opaque = true;
          continue;
        }
        for (const c of e.columns) {
          if (c.name !== name) continue;
          if (c.hidden) hidden++;
          else visible++;
        }
      }
      if (hidden > 0) return "hidden";
      if (visible > 1 && !f.merged?.has(name)) return "ambiguous";
      if (visible >= 1) return "visible";
      if (opaque) return "opaque";
    }
    return "none";
  }

  /** Finds a range entry by reference name (`t`, `schema.t`, `db.schema.t`), innermost level first. */
  private findEntry(qualifier: string[], frame: Frame): RangeEntry | undefined {
    const name = qualifier[qualifier.length - 1]!;
    const schema = qualifier.length >= 2 ? qualifier[qualifier.length - 2] : undefined;
    for (let f: Frame | null = frame; f; f = f.parent) {
      for (let i = f.entries.length - 1; i >= 0; i--) {
        const e = f.entries[i]!;
        if (e.name === name && (schema === undefined || e.schema === schema)) return e;
      }
    }
    return undefined;
  }

  // ---------------------------------------------------------------- functions, operators, casts

  private checkFunction(names: string[], inExpression: boolean, args: PgNode[] = []): void {
    const name = names[names.length - 1] ?? "";
    const schema = names.length >= 2 ? names[names.length - 2] : undefined;
    const shown = names.join(".");
    if (isDeniedFunction(name)) throw new Refusal("dangerous_function", `function ${shown} is refused under every scope`);
    const catalog = this.view.catalog;
    const builtin = schema === "pg_catalog" || (schema === undefined && catalog.builtinFunctions[name] !== undefined);
    if (builtin && schema === undefined) {
      // PostgreSQL resolves overloads across pg_catalog and the search path together: `lower(1)`
      // picks a user's public.lower(int) over pg_catalog.lower(text). So a user function of the
      // same name on the search path must pass the user-function checks as well.
      const shadow = this.view.searchPath.map((s) => `${s}.${name}`).find((k) => catalog.functions[k]);
      const arity = args.length;
      if (shadow && catalog.functions[shadow]!.arities.some(([min, max]) => arity >= min && arity <= max))
        this.checkFunction(shadow.split("."), inExpression, args);
    }
    if (builtin || schema === "information_schema") {
      if (schema === "pg_catalog" && catalog.builtinFunctions[name] === undefined)
        throw new Refusal("undefined_function", `function ${shown} does not exist`);
      if (SEQUENCE_WRITERS.has(name)) return this.sequenceWrite(name, args);
      if (schema === "information_schema" || CATALOG_FUNCTIONS_PATTERN.test(name)) {
        if (this.view.hidesSomething)
          throw new Refusal("catalog_hidden", `function ${shown} looks up catalog objects, which is not available on this link because it hides some; use the schema tools`);
        return;
      }
      const volatility = catalog.builtinFunctions[name] ?? "volatile";
      if (volatility === "immutable" || ALLOWED_NON_IMMUTABLE.has(name)) return;
      throw new Refusal("function_not_allowed", `function ${shown} is not on the list of functions allowed in queries on this link`);
    }
    let key: string | undefined;
    if (schema !== undefined) key = this.view.functionFor(schema, name) ? `${schema}.${name}` : undefined;
    else key = this.view.searchPath.map((s) => `${s}.${name}`).find((k) => catalog.functions[k]);
    const fn = key ? catalog.functions[key] : undefined;
    if (!fn || !key) throw new Refusal("undefined_function", `function ${shown} does not exist`);
    if (fn.extension) {
      if (fn.volatility === "immutable" || ALLOWED_NON_IMMUTABLE.has(name)) return;
      throw new Refusal("function_not_allowed", `function ${shown} (extension ${fn.extension}) is not on the list of functions allowed on this link`);
    }
    if (fn.kind === "procedure" && inExpression) throw new Refusal("undefined_function", `function ${shown} does not exist`);
    if (fn.volatility === "volatile") {
      if (this.view.scope.access !== "admin" || this.view.hidesSomething)
        throw new Refusal("volatile_function", `function ${shown} is VOLATILE (it may write or have side effects)`, "a link with full (admin) access that hides nothing");
      this.cls = this.cls === "ddl" ? "ddl" : "write";
      return;
    }
    if (this.view.hidesSomething && (fn.securityDefiner || !this.view.functionVerified(key)))
      throw new Refusal("function_unverified", `function ${shown} cannot be shown to read only objects visible to this link`);
  }

  private checkOperator(names: string[]): void {
    const op = names[names.length - 1];
    if (!op) return;
    const fns = this.view.catalog.operators?.[op];
    if (!fns) return;
    for (const fn of fns) this.checkFunction(fn.split("."), true);
  }

  private sequenceWrite(name: string, args: PgNode[]): void {
    const lit = literalString(args[0]);
    if (lit === undefined) throw new Refusal("sequence_manipulation", `${name} needs the sequence name as a string literal`);
    const rel = this.resolveRelationName(splitQualified(lit), false);
    if (!rel) throw new Refusal("sequence_manipulation", `${name} on a system object is refused`);
    if (rank(rel.access) < 2) throw new Refusal("sequence_manipulation", `${name}('${lit}') changes the sequence; this link can only read it`, `write access on ${rel.key}`, rel.key);
    this.cls = this.cls === "ddl" ? "ddl" : "write";
  }

  private typeCast(tc: PgNode, frame: Frame, onRangeVar?: (rv: PgNode) => void): void {
    const typeNames = strings((tc.typeName as PgNode | undefined)?.names);
    const type = typeNames[typeNames.length - 1];
    const lit = literalString(tc.arg as PgNode);
    this.checkTypeName(typeNames);
    if (type === "regtype" && lit !== undefined) this.checkTypeName(splitQualified(lit.replace(/\[\]$/, "")));
    if (type && /^reg/.test(type)) {
      // 'name'::regclass resolves (and so reveals) an object: hidden ones must look absent.
      if (lit === undefined) {
        if (this.view.hidesSomething) throw new Refusal("catalog_hidden", `casts to ${type} look up catalog objects, which is not available on this link because it hides some`);
      } else if (type === "regclass") {
        this.resolveRelationName(splitQualified(lit), false);
      } else if (type === "regproc" || type === "regprocedure") {
        this.checkFunction(splitQualified(lit.replace(/\(.*$/, "")), false);
      } else if (type === "regnamespace") {
        if (!this.view.visibleSchemas.has(lit) && !SYSTEM_SCHEMAS.has(lit)) throw new Refusal("undefined_table", `schema ${quoteName(lit)} does not exist`);
      } else if (this.view.hidesSomething && type !== "regtype" && type !== "regconfig" && type !== "regdictionary")
        throw new Refusal("catalog_hidden", `casts to ${type} look up catalog objects, which is not available on this link because it hides some`);
    }
    this.generic(tc.arg, frame, {}, onRangeVar);
  }

  /**
   * A table's row type carries the table's name and all its columns: `null::employee` would confirm
   * a hidden table exists, and `json_populate_record(null::customer, ...)` would list hidden columns.
   */
  private checkTypeName(names: string[]): void {
    const name = names[names.length - 1];
    if (!name || names.length > 2) return;
    const schema = names.length === 2 ? names[0]! : undefined;
    if (schema === "pg_catalog" || schema === "information_schema") return;
    const shown = names.join(".");
    if (schema !== undefined && !this.view.visibleSchemas.has(schema)) throw new Refusal("undefined_table", `schema ${quoteName(schema)} does not exist`);
    let key: string | undefined;
    if (schema !== undefined) key = `${schema}.${name}`;
    else {
      if (this.view.catalog.builtinTypeNames?.[name]) return;
      key = this.view.searchPath.map((s) => `${s}.${name}`).find((k) => this.view.catalog.relations[k]);
    }
    if (!key || !this.view.catalog.relations[key]) return;
    const rel = this.view.relations.get(key);
    if (!rel) throw new Refusal("undefined_table", `type ${quoteName(shown)} does not exist`);
    if (rel.hiddenColumns.size > 0)
      throw new Refusal("hidden_columns_wildcard", `the row type ${shown} includes columns this link cannot see; use the visible columns: ${rel.columns.join(", ")}`, undefined, rel.key);
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw new Refusal("statement_too_complex", `the statement is nested more than ${MAX_DEPTH} levels deep`);
  }
}

// ---------------------------------------------------------------- helpers

function newFrame(parent: Frame | null): Frame {
  return { entries: [], merged: null, parent };
}

function permissiveFrame(parent: Frame | null): Frame {
  const f = newFrame(parent);
  f.entries.push({ name: null, columns: null, label: "statement" });
  return f;
}

function renameColumns(cols: Column[] | null, alias: PgNode | undefined): Column[] | null {
  const names = strings(alias?.colnames);
  if (!cols || names.length === 0) return cols;
  return cols.map((c, i) => (names[i] !== undefined ? { name: names[i]!, hidden: c.hidden } : c));
}

function deriveName(val: PgNode | undefined): string {
  const t = nodeType(val);
  if (!t) return "?column?";
  const [kind, node] = t;
  if (kind === "ColumnRef") {
    const fields = list(node.fields);
    return str(fields[fields.length - 1]) ?? "?column?";
  }
  if (kind === "FuncCall") {
    const names = list(node.funcname);
    return str(names[names.length - 1]) ?? "?column?";
  }
  if (kind === "TypeCast") {
    const inner = deriveName(node.arg as PgNode);
    if (inner !== "?column?") return inner;
    const names = list((node.typeName as PgNode | undefined)?.names);
    return str(names[names.length - 1]) ?? "?column?";
  }
  if (kind === "A_Indirection") {
    const ind = list(node.indirection);
    return str(ind[ind.length - 1]) ?? deriveName(node.arg as PgNode);
  }
  if (kind === "CaseExpr") return "case";
  if (kind === "CoalesceExpr") return "coalesce";
  return "?column?";
}

function firstFunctionName(rf: PgNode): string | null {
  const first = list(rf.functions)[0];
  const items = list((nodeType(first)?.[1] as PgNode | undefined)?.items ?? first);
  const fc = nodeType(items[0]);
  if (fc?.[0] !== "FuncCall") return null;
  const names = list(fc[1].funcname);
  return str(names[names.length - 1]) ?? null;
}

function isBareRangeVar(value: unknown): boolean {
  return !!value && typeof value === "object" && !Array.isArray(value) && typeof (value as PgNode).relname === "string";
}

function literalString(node: PgNode | undefined): string | undefined {
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
function splitQualified(text: string): string[] {
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

function allChildren(rel: RelationAccess, view: AccessView): string[] {
  const out: string[] = [];
  const stack = [...rel.relation.children];
  const seen = new Set<string>();
  while (stack.length) {
    const key = stack.pop()!;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(key);
    stack.push(...(view.catalog.relations[key]?.children ?? []));
  }
  return out;
}

function verb(kind: string): string {
  return kind.replace("Stmt", "").toUpperCase();
}

function describeSet(node: PgNode): string {
  const name = String(node.name ?? "").toLowerCase();
  if (name === "role") return "SET ROLE";
  if (name === "session_authorization") return "SET SESSION AUTHORIZATION";
  if (node.kind === "VAR_RESET" || node.kind === "VAR_RESET_ALL") return `RESET ${name || "ALL"}`;
  return `SET ${name}`;
}
