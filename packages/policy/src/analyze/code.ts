import { parseSql, type PgNode } from "../parse/parse.js";
import { isDeniedFunction } from "../rules/functions.js";
import type { RuleId } from "../rules/rules.js";
import type { StatementAnalyzer, StatementClass } from "./analyzer.js";
import { checkPlpgsqlBody, dollarQuote, statementText } from "./bodies.js";
import { deferredCode, genericDdl } from "./ddl.js";
import { opaqueEffect } from "./effects.js";
import { controlCharacter, sessionState, tooComplex } from "./dispatch.js";
import { expr } from "./expressions.js";
import { checkFunction, dangerousFunction } from "./functions.js";
import { Refusal } from "./refusal.js";
import { MAX_NESTING, list, nodeType, permissiveFrame, str, strings } from "./tree.js";

/** Code the link creates or runs: CREATE FUNCTION/PROCEDURE/..., DO, CALL, and the bodies' statements. */
export const RULES_OWNED = ["code_creation", "do_block", "call_procedure", "dynamic_sql"] as const satisfies readonly RuleId[];

/** A body that cannot be verified (bodies.ts raises it while compiling PL/pgSQL). */
export function unverifiable(message: string): Refusal {
  return new Refusal("code_creation", message);
}
export function dynamicSql(message: string): Refusal {
  return new Refusal("dynamic_sql", message);
}

export function call(a: StatementAnalyzer, node: PgNode): StatementClass {
  const fc = (node.funccall as PgNode | undefined) ?? {};
  const names = strings(fc.funcname);
  const name = names[names.length - 1] ?? "";
  if (isDeniedFunction(name)) throw dangerousFunction(`procedure ${name} is refused under every scope`);
  if (a.view.scope.access !== "admin" || a.view.hidesSomething)
    throw new Refusal("call_procedure", `CALL ${names.join(".")} runs a procedure the checker cannot verify`, "a link with full (admin) access that hides nothing");
  checkFunction(a, names, false);
  for (const x of list(fc.args)) expr(a, x, permissiveFrame(null), {});
  opaqueEffect(a);
  return "write";
}

export function codeCreation(a: StatementAnalyzer, kind: string, node: PgNode): StatementClass {
  a.cls = "ddl";
  if (a.view.scope.access !== "admin" || a.view.hidesSomething)
    throw new Refusal("code_creation", "creating functions, triggers, rules, casts or operators needs full (admin) access on a link that hides nothing", "admin access on every table");
  // Triggers and rules run their code later, as whichever role fires them (a DBA's bulk load, a
  // superuser's maintenance job): a trojan for privileges the link's role does not have.
  if (kind === "CreateTrigStmt" || kind === "RuleStmt")
    throw deferredCode(`${kind === "RuleStmt" ? "rules" : "triggers"} run code later as whichever role fires them, so they are not created through the gateway`);
  if (kind === "CreateFunctionStmt" || kind === "AlterFunctionStmt") {
    const returns = strings((node.returnType as PgNode | undefined)?.names);
    const returnType = returns[returns.length - 1];
    if (returnType === "trigger" || returnType === "event_trigger")
      throw deferredCode("trigger functions run later as whichever role fires the trigger, so they are not created through the gateway");
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
          throw sessionState(`a function that sets ${name} switches roles for whoever calls it; it is refused`);
      }
    }
    if (kind === "CreateFunctionStmt") {
      const name = strings(node.funcname).join(".");
      if (node.sql_body) routineBody(a, node.sql_body as PgNode, name);
      else if (language === "plpgsql") proceduralBody(a, statementText(a.sql, a.location, a.length), `function ${name}`);
      else if (language === "sql") for (const text of body) embedded(a, text, `function ${name}`);
      else throw new Refusal("code_creation", `function ${name} names no language the checker can verify`);
    }
  }
  genericDdl(a, node);
  // New or replaced code (a function, cast, operator, aggregate…) writes whatever it likes when it
  // runs later, and a replaced body changes what statements already approved would do.
  const name = kind === "CreateFunctionStmt" ? strings(node.funcname) : kind === "AlterFunctionStmt" ? strings((node.func as PgNode | undefined)?.objname) : [];
  opaqueEffect(a, name.length ? qualifiedName(a, name) : undefined);
  return "ddl";
}

function qualifiedName(a: StatementAnalyzer, names: string[]): string {
  return names.length >= 2 ? names.slice(-2).join(".") : `${a.view.searchPath[0] ?? "public"}.${names[0]}`;
}

/** DO: on links that may create functions, its PL/pgSQL is verified like a function body. */
export function doBlock(a: StatementAnalyzer, node: PgNode): StatementClass {
  if (a.view.scope.access !== "admin" || a.view.hidesSomething)
    throw new Refusal("do_block", "DO blocks run procedural code; only full (admin) links that hide nothing may run them, and their bodies are verified", "a link with full (admin) access that hides nothing");
  let language = "plpgsql";
  let body: string | undefined;
  for (const o of list(node.args)) {
    const d = nodeType(o)?.[1];
    if (d?.defname === "language") language = str(d.arg) ?? "";
    if (d?.defname === "as") body = str(d.arg);
  }
  if (language !== "plpgsql") throw new Refusal("do_block", `DO in language ${language} is refused: only PL/pgSQL bodies can be verified`);
  proceduralBody(a, `DO ${dollarQuote(body ?? "")}`, "DO block");
  opaqueEffect(a);
  return "write";
}

/** BEGIN ATOMIC ... END / RETURN expr: already parsed statements. */
function routineBody(a: StatementAnalyzer, sqlBody: PgNode, name: string): void {
  const t = nodeType(sqlBody);
  if (t?.[0] === "ReturnStmt") {
    // RETURN expr is checked as the SELECT of that expression.
    const select = { SelectStmt: { targetList: [{ ResTarget: { val: t[1].returnval } }], op: "SETOP_NONE" } };
    nested(a, `function ${name}`, (inner) => inner.analyze(select));
    return;
  }
  const stmts: PgNode[] = [];
  for (const item of list((t?.[1] as PgNode | undefined)?.items)) {
    const inner = nodeType(item);
    if (inner?.[0] === "List") stmts.push(...list(inner[1].items));
    else stmts.push(item);
  }
  for (const stmt of stmts) nested(a, `function ${name}`, (inner) => inner.analyze(stmt));
}

function proceduralBody(a: StatementAnalyzer, text: string, where: string): void {
  nested(a, where, () => checkPlpgsqlBody(text, (sql) => embedded(a, sql, where)));
}

/** Every statement of `sql` (found in a body) under this link's scope, names resolving permissively. */
function embedded(a: StatementAnalyzer, sql: string, where: string): void {
  if (sql.includes("\0")) throw controlCharacter(`the body of ${where} contains a NUL character`);
  const parsed = parseSql(sql);
  if (!parsed.ok) throw new Refusal("code_creation", `the body of ${where} does not parse (${parsed.message}), so it cannot be verified`);
  for (const s of parsed.statements) nested(a, where, (inner) => inner.analyzeRaw(s, sql));
}

function nested(a: StatementAnalyzer, where: string, run: (analyzer: StatementAnalyzer) => unknown): void {
  if (a.nesting >= MAX_NESTING) throw tooComplex(`bodies are nested more than ${MAX_NESTING} deep`);
  const analyzer = a.child();
  try {
    run(analyzer);
  } catch (error) {
    if (!(error instanceof Refusal) || error.message.startsWith("in the body of")) throw error;
    throw new Refusal(error.ruleId, `in the body of ${where}: ${error.message}`, error.need, error.object);
  }
  for (const t of analyzer.tables) a.tables.add(t);
}
