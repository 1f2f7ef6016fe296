import { Buffer } from "node:buffer";
import { parsePlpgsql, scanSql, type PgNode } from "../parse/parse.js";
import { dynamicSql, unverifiable } from "./code.js";
import { tooComplex, transactionControl } from "./dispatch.js";

/** Analyses one piece of SQL text found in a body (every statement in it), or throws a Refusal. */
export type EmbeddedSqlCheck = (sql: string) => void;

// PostgreSQL's RawParseMode, as the PL/pgSQL compiler records it on each expression.
const RAW_PARSE_DEFAULT = 0;
const RAW_PARSE_PLPGSQL_EXPR = 2;
const RAW_PARSE_PLPGSQL_ASSIGN1 = 3;
const RAW_PARSE_PLPGSQL_ASSIGN3 = 5;
const MAX_BODY_DEPTH = 400;

/**
 * Compiles a PL/pgSQL body with the server's own PL/pgSQL grammar and hands every embedded statement
 * and expression to `check`. Dynamic SQL (EXECUTE, FOR ... IN EXECUTE, OPEN ... FOR EXECUTE, RETURN
 * QUERY EXECUTE) is refused outright: its text exists only at run time, so no check can see it.
 */
export function checkPlpgsqlBody(statementText: string, check: EmbeddedSqlCheck): void {
  const compiled = parsePlpgsql(statementText);
  if (!compiled.ok)
    throw unverifiable(`the PL/pgSQL body does not compile (${compiled.message}), so it cannot be verified`);
  // One statement's text holds exactly one body: anything else means the text was not the statement.
  if (compiled.functions.length !== 1) throw unverifiable("the PL/pgSQL body could not be isolated, so it cannot be verified");
  walk(compiled.functions, check, 0);
}

function walk(node: unknown, check: EmbeddedSqlCheck, depth: number): void {
  if (!node || typeof node !== "object") return;
  if (depth > MAX_BODY_DEPTH) throw tooComplex("the body is nested too deeply to analyse");
  if (Array.isArray(node)) {
    for (const item of node) walk(item, check, depth + 1);
    return;
  }
  for (const key in node as PgNode) {
    const value = (node as PgNode)[key];
    if (key === "PLpgSQL_stmt_dynexecute" || key === "PLpgSQL_stmt_dynfors" || key === "dynquery")
      throw dynamicSql("EXECUTE of a string builds SQL at run time that no check can see; write the statement itself in the body");
    // A COMMIT inside the body would end the gateway's transaction and, with it, its SET LOCAL limits.
    if (key === "PLpgSQL_stmt_commit" || key === "PLpgSQL_stmt_rollback")
      throw transactionControl("COMMIT/ROLLBACK inside a body would end the transaction the gateway runs the call in (and its time limit)");
    if (key === "PLpgSQL_expr") {
      const expr = value as { query?: unknown; parseMode?: unknown };
      checkExpression(typeof expr.query === "string" ? expr.query : "", typeof expr.parseMode === "number" ? expr.parseMode : RAW_PARSE_DEFAULT, check);
      continue;
    }
    walk(value, check, depth + 1);
  }
}

function checkExpression(query: string, mode: number, check: EmbeddedSqlCheck): void {
  if (mode === RAW_PARSE_DEFAULT) return check(query);
  if (mode === RAW_PARSE_PLPGSQL_EXPR) return check(`SELECT ${query}`);
  if (mode >= RAW_PARSE_PLPGSQL_ASSIGN1 && mode <= RAW_PARSE_PLPGSQL_ASSIGN3) {
    const [target, value] = splitAssignment(query);
    // The target's subscripts are expressions too (`arr[(SELECT ...)] := 1`).
    check(`SELECT ${target}`);
    return check(`SELECT ${value}`);
  }
  throw unverifiable("the body holds an expression of a kind the checker does not analyse");
}

/** `target := value` (or `=`): splits at the first assignment operator outside brackets, as the grammar does. */
function splitAssignment(query: string): [string, string] {
  let depth = 0;
  for (const token of scanSql(query)) {
    if (token.text === "[" || token.text === "(") depth++;
    else if (token.text === "]" || token.text === ")") depth--;
    else if (depth === 0 && (token.text === ":=" || token.text === "=")) {
      const bytes = Buffer.from(query, "utf8");
      return [bytes.subarray(0, token.start).toString("utf8"), bytes.subarray(token.end).toString("utf8")];
    }
  }
  throw unverifiable("an assignment in the body could not be analysed");
}

/** Dollar-quotes `body` with a tag it does not contain. */
export function dollarQuote(body: string): string {
  let tag = "$body$";
  for (let i = 0; body.includes(tag); i++) tag = `$body${i}$`;
  return `${tag}${body}${tag}`;
}

/** The text of one statement of `sql`, from the parser's byte offsets. */
export function statementText(sql: string, location: number, length: number): string {
  const bytes = Buffer.from(sql, "utf8");
  return bytes.subarray(location, length > 0 ? location + length : undefined).toString("utf8");
}
