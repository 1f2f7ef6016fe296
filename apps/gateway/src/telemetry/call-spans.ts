import { SpanKind, SpanStatusCode, trace, type Attributes } from "@portcullis/telemetry";
import type { Verdict } from "@portcullis/policy";
import { activeTelemetry, sqlCommentFor } from "@portcullis/telemetry";
import type { LinkRecord } from "../context.js";
import { instrumentsFor } from "./instruments.js";
import { currentRequestTrace, type McpRequestTrace } from "./request-trace.js";

let sqlCommenter = false;

/** PORTCULLIS_SQLCOMMENTER, set once by main.ts (in-process test gateways leave it off). */
export function configureSqlCommenter(enabled: boolean): void {
  sqlCommenter = enabled;
}

/** The policy check, as a child span of the request (sync: the checker is). */
export function tracedPolicy(check: () => Verdict): Verdict {
  const requestTrace = currentRequestTrace();
  const span = requestTrace?.child("portcullis.policy", SpanKind.INTERNAL, {});
  if (!requestTrace || !span) return check();
  try {
    const verdict = check();
    span.setAttribute("portcullis.verdict", verdict.allowed ? "allowed" : "blocked");
    if (verdict.ruleId) span.setAttribute("portcullis.rule_id", verdict.ruleId);
    span.setAttribute("portcullis.statement_count", verdict.statementCount);
    return verdict;
  } catch (error) {
    span.setAttribute("error.type", error instanceof Error ? error.constructor.name : "unknown");
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw error;
  } finally {
    requestTrace.finish(span);
  }
}

// db.operation.name is the statement's first keyword, and only one of these (never free text).
const OPERATIONS = new Set(["SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "VALUES", "TABLE", "EXPLAIN", "SHOW", "CREATE", "ALTER", "DROP", "TRUNCATE", "COMMENT", "GRANT", "REVOKE", "CALL", "DO", "ANALYZE", "VACUUM", "REFRESH", "REINDEX", "CLUSTER", "LOCK", "COPY"]);

function operationOf(sql: string): string | null {
  const keyword = /^(?:\s+|--[^\n]*\n|\/\*[^]*?\*\/)*([A-Za-z]+)/.exec(sql)?.[1]?.toUpperCase();
  return keyword && OPERATIONS.has(keyword) ? keyword : null;
}

interface RoutedLike {
  server: string;
  failure?: unknown;
  outcome?: { error?: { code?: string; fatal?: boolean } | null; rowCount?: number | null };
}

/**
 * The statement's execution on the target: a CLIENT span after the database conventions, the
 * db.client.operation.duration metric, and the SQLCommenter tail. `run` gets the comment to append
 * ("" when off): it names our ids only (link, team, this span), never anything the client sent.
 */
export function tracedExecution<R extends RoutedLike>(link: LinkRecord, verdict: Verdict, callerSql: string, run: (comment: string) => Promise<R>): Promise<R> {
  const requestTrace = currentRequestTrace();
  // Not async itself: with telemetry and SQLCommenter off the caller awaits run's own promise.
  return requestTrace || sqlCommenter ? observedExecution(requestTrace, link, verdict, callerSql, run) : run("");
}

async function observedExecution<R extends RoutedLike>(
  requestTrace: McpRequestTrace | null,
  link: LinkRecord,
  verdict: Verdict,
  callerSql: string,
  run: (comment: string) => Promise<R>,
): Promise<R> {
  const telemetry = activeTelemetry();
  const operation = operationOf(callerSql);
  const tables = verdict.tables;
  const attributes: Attributes = {
    "db.system.name": "postgresql",
    "db.namespace": link.connection.database,
    "server.address": link.connection.host,
    "server.port": link.connection.port,
  };
  if (operation) attributes["db.operation.name"] = operation;
  // Tables the verdict names are the ones the link may see (hidden ones are refused before this point).
  if (tables.length === 1) attributes["db.collection.name"] = tables[0]!;
  if (operation) attributes["db.query.summary"] = [operation, ...tables.slice(0, 4)].join(" ").slice(0, 255);
  if (telemetry?.plan.dbQueryText) attributes["db.query.text"] = callerSql.slice(0, 8_192);
  const span = requestTrace?.child(operation ? `${operation} ${link.connection.database}` : link.connection.database, SpanKind.CLIENT, attributes) ?? null;
  const context = span?.spanContext();
  const comment = sqlCommenter
    ? sqlCommentFor({
        portcullis_link: link.id,
        portcullis_team: link.teamId,
        traceparent: context && trace.isSpanContextValid(context) ? `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 1).toString(16).padStart(2, "0")}` : null,
      })
    : "";
  const started = performance.now();
  let errorType: string | null = null;
  try {
    const routed = await run(comment ? `\n${comment}` : "");
    if (routed.failure !== undefined) errorType = "connection_failure";
    else if (routed.outcome?.error) errorType = routed.outcome.error.code ?? (routed.outcome.error.fatal ? "connection_failure" : "error");
    if (span) {
      if (routed.server && routed.server !== "primary") span.setAttribute("portcullis.server", routed.server);
      if (typeof routed.outcome?.rowCount === "number") span.setAttribute("db.response.returned_rows", routed.outcome.rowCount);
      if (routed.outcome?.error?.code) span.setAttribute("db.response.status_code", routed.outcome.error.code);
    }
    return routed;
  } catch (error) {
    errorType = error instanceof Error ? error.constructor.name : "unknown";
    throw error;
  } finally {
    const seconds = (performance.now() - started) / 1000;
    if (span) {
      if (errorType) {
        span.setAttribute("error.type", errorType);
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      requestTrace!.finish(span);
    }
    if (telemetry?.meter) {
      const metric: Attributes = { "db.system.name": "postgresql" };
      if (operation) metric["db.operation.name"] = operation;
      if (errorType) metric["error.type"] = errorType;
      instrumentsFor(telemetry.meter).dbDuration.record(seconds, metric);
    }
  }
}

/** Recording the call's audit event (journal + enqueue), a child span; notes the call's verdict. */
export function tracedAudit<T>(audit: { verdict: string; ruleId?: string }, failed: boolean, record: () => Promise<T>): Promise<T> {
  const requestTrace = currentRequestTrace();
  return requestTrace ? auditSpan(requestTrace, audit, failed, record) : record();
}

async function auditSpan<T>(requestTrace: McpRequestTrace, audit: { verdict: string; ruleId?: string }, failed: boolean, record: () => Promise<T>): Promise<T> {
  requestTrace.outcome(audit.verdict, audit.ruleId, failed);
  const span = requestTrace.child("portcullis.audit", SpanKind.INTERNAL, { "portcullis.verdict": audit.verdict });
  try {
    return await record();
  } catch (error) {
    span?.setAttribute("error.type", error instanceof Error ? error.constructor.name : "unknown");
    span?.setStatus({ code: SpanStatusCode.ERROR });
    throw error;
  } finally {
    if (span) requestTrace.finish(span);
  }
}
