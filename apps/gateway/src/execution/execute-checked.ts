import { isGoverned, scopeHidesObjects, searchPathFor, type Verdict } from "@portcullis/policy";
import type { LinkRecord, Principal } from "../context.js";
import type { Services } from "../services.js";
import { costGate, firstWordAt, type CostEstimate } from "./cost-gate.js";
import { isPlanResult, redactPlanRows, type BoundConstant } from "./plan-redaction.js";
import { bindRewrite, describeAttributeError, rowFilterViolation } from "./rewrite-binding.js";
import { runRouted } from "./replica-run.js";
import { tracedExecution, tracedPolicy } from "../telemetry/index.js";
import type { RunOutcome } from "./run-statement.js";
import { encodeParam } from "./values.js";

export interface CheckedExecution {
  verdict: Verdict;
  outcome?: RunOutcome;
  /** Text for the caller when the statement failed (database error or unreachable database). */
  error?: string;
  /** Gateway-level refusal on top of the policy's verdict (several statements, the caller's own gate, the cost gate). */
  refusal?: GateRefusal;
  /** The planner's estimate when the cost gate planned the statement first (limits.maxEstimated*). */
  estimate?: CostEstimate;
  /** Where the statement ran (or failed to reach): "primary" or a replica's name; absent when nothing ran. */
  targetServer?: string;
}

/** Where an execution ran, for its audit (CallAudit.targetServer, issue 17); nothing when nothing was sent. */
export function ranOn(execution: Pick<CheckedExecution, "targetServer">): { targetServer?: string } {
  return execution.targetServer ? { targetServer: execution.targetServer } : {};
}

/** A refusal of a statement the policy allowed; step-up refusals also name the scopes to ask for. */
export interface GateRefusal {
  ruleId: string;
  reason: string;
  needs?: "read" | "write" | "admin";
  stepUpScopes?: string[];
}

/** Whether an error is the target database being unreachable (rather than a bug or a SQL error). */
export function isConnectionFailure(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  // The SSH route's typed failures (packages/db/src/ssh/errors.ts): the database is as unreachable.
  if (e?.code === "target_refused" || e?.code === "ssh" || e?.code === "ssh_auth" || e?.code === "ssh_host_key") return true;
  if (typeof e?.code === "string" && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EPIPE|EHOSTUNREACH|28P01|28000|57P0[123]|08\w{3})$/.test(e.code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|connection timeout/i.test(e?.message ?? "");
}

// The SSH route's failures, in words that name no bastion, port, user or fingerprint.
const SSH_WORDS: Record<string, string> = {
  ssh_host_key: "the SSH server's host key is not the one confirmed for this connection; a team admin must check it",
  ssh_auth: "the SSH server did not accept the stored key",
  ssh: "the SSH tunnel to the database failed",
};

/** Connection-level failures, in words that never name the host, port, user or database. */
export function describeConnectionFailure(error: unknown): string {
  const e = error as { code?: string; message?: string };
  if (e?.code === "target_refused")
    return "This link's database connection is refused by this Portcullis's target policy (its address is not allowed, or its role can reach the database server's programs or files). Nothing was run; a team admin must fix the connection (its settings page explains why).";
  const ssh = e.code ? SSH_WORDS[e.code] : undefined;
  if (ssh) return `The database is unreachable right now (${ssh}). Nothing was run; try again shortly.`;
  const why =
    e.code === "ECONNREFUSED"
      ? "connection refused"
      : e.code === "ENOTFOUND" || e.code === "EAI_AGAIN"
        ? "host name does not resolve"
        : e.code === "ETIMEDOUT" || /timeout/i.test(e.message ?? "")
          ? "connection timed out"
          : e.code === "28P01" || e.code === "28000"
            ? "the server refused the stored credentials"
            : e.code === "57P01" || e.code === "57P02" || e.code === "57P03"
              ? "the server is shutting down or starting up"
              : /terminat|ECONNRESET|EPIPE|Connection terminated/i.test(e.message ?? "")
                ? "the connection was closed by the server"
                : "connection failed";
  return `The database is unreachable right now (${why}). Nothing was run; try again shortly.`;
}

const MAX_ERROR_TEXT = 2_000;

// Per scope object (link records are cached and reused): the hot path pays one WeakMap lookup.
const governedScopes = new WeakMap<LinkRecord["scope"], boolean>();
function governsTables(scope: LinkRecord["scope"]): boolean {
  let governed = governedScopes.get(scope);
  if (governed === undefined) {
    governed = Object.values(scope.tables).some(isGoverned);
    governedScopes.set(scope, governed);
  }
  return governed;
}

/**
 * Whether the text is an EXPLAIN (after whitespace and comments, nested ones included, scanned in one
 * pass): EXPLAIN ANALYZE of a write the link may run (admin links) executes it, and an explanation must
 * not change data, so it is rolled back. Missing one would only commit a write the link may run anyway.
 */
function isExplain(sql: string): boolean {
  const i = firstWordAt(sql);
  return /^explain\b/i.test(sql.slice(i, i + 8));
}

function clip(text: string): string {
  return text.length <= MAX_ERROR_TEXT ? text : `${text.slice(0, MAX_ERROR_TEXT)}… (${text.length - MAX_ERROR_TEXT} more characters cut)`;
}

export function describeDatabaseError(
  error: NonNullable<RunOutcome["error"]>,
  sql: string,
  positionShift = 0,
  hidesObjects = false,
  callerLeft = false,
  /** The statement that ran was our rewrite of the caller's: a position would point into our text. */
  rewritten = false,
): string {
  if (error.fatal) return describeConnectionFailure(error);
  // A message can carry a value (invalid input syntax for type integer: "<the whole value>"): bounded.
  const parts = [`PostgreSQL error${error.code ? ` ${error.code}` : ""}: ${clip(error.message)}`];
  if (error.position !== undefined && !rewritten) {
    const position = error.position - positionShift;
    if (position >= 1 && position <= sql.length + 1) parts.push(`at character ${position}`);
  }
  // On links that hide tables or columns, PostgreSQL's DETAIL ("Failing row contains (...)", "Key
  // (email)=(...)") and HINT ("Perhaps you meant ...") can print hidden columns and values: left out.
  if (error.detail && !hidesObjects) parts.push(`detail: ${clip(error.detail)}`);
  if (error.hint && !hidesObjects) parts.push(`hint: ${clip(error.hint)}`);
  if (error.code === "57014") parts.push(callerLeft ? "the caller went away, so the statement was cancelled" : "the link's statement timeout cancelled it");
  return parts.join("; ");
}

/**
 * The bound values an EXPLAIN must not print: the virtual catalog's constants and, should a plan ever
 * carry them (the policy refuses EXPLAIN over a hash mask), the hash key's pads as bytea literals.
 */
function foldedConstants(rewrite: NonNullable<Verdict["rewrite"]>, values: readonly (string | Buffer | null)[]): BoundConstant[] {
  return rewrite.params.flatMap((p, i): BoundConstant[] => {
    const param = `$${rewrite.firstParam + i}`;
    if (p.kind === "constant") return [{ param, value: p.value }];
    const bound = values[rewrite.firstParam - 1 + i];
    if ((p.kind === "mask_key_inner" || p.kind === "mask_key_outer") && Buffer.isBuffer(bound)) return [{ param, value: `\\x${bound.toString("hex")}` }];
    return [];
  });
}

/**
 * Policy first, then execution under the verdict's transaction mode. Shared by execute_sql,
 * explain_query and the dashboard's playground, so all three take exactly the same path.
 */
export async function executeChecked(
  services: Services,
  link: LinkRecord,
  input: {
    sql: string;
    params?: unknown[];
    /** Who is calling: a rewritten statement binds their id, email and attributes (row filters). */
    principal: Principal;
    checkSql?: string;
    forceRollback?: boolean;
    positionShift?: number;
    maxRows?: number;
    signal?: AbortSignal;
    /** Last say before anything runs, on a verdict the link allows (the OAuth token's scope ceiling). */
    gate?: (verdict: Verdict) => GateRefusal | null;
    /**
     * Pipelined right before the statement (run-statement's `guard`): a statement that fails with an
     * error naming `marker` when the statement must not run; the call is then refused with `refusal`.
     */
    guard?: { sql: string; marker: string; refusal: GateRefusal };
    /** Journals the call's intent (CallContext.auditAhead), called once right before the statement goes out. */
    ahead?: (verdict: Verdict) => Promise<void>;
  },
): Promise<CheckedExecution> {
  const catalog = await services.catalogFor(link);
  const checkSql = input.checkSql ?? input.sql;
  const verdict = tracedPolicy(() => services.checker.check(checkSql, link.scope, catalog));
  if (!verdict.allowed) return { verdict };
  if (verdict.statementCount !== 1) {
    return {
      verdict,
      refusal: {
        ruleId: "multiple_statements",
        reason: `The text holds ${verdict.statementCount} statements; Portcullis runs exactly one statement per call. Send them one at a time. [rule multiple_statements]`,
      },
    };
  }
  const gated = input.gate?.(verdict);
  if (gated) return { verdict, refusal: gated };
  let values: (string | Buffer | null)[];
  try {
    values = (input.params ?? []).map(encodeParam);
  } catch {
    return { verdict, error: "params must be JSON values (strings, numbers, booleans, null, arrays or objects)" };
  }
  const rewrite = verdict.rewrite;
  if (rewrite) {
    const bound = await bindRewrite(services, link, input.principal, rewrite, values);
    if (!bound.ok) return { verdict, error: bound.error };
    values = bound.values;
  }
  const runSql = rewrite?.sql ?? input.sql;
  // The cost gate plans exactly what will run (the rewritten text, its bound values) before it runs.
  // Figures withheld where explain_query redacts estimates (rewritten statements, governed links).
  // explain_query's EXPLAIN ANALYZE (forceRollback) runs its statement too: gated on the inner plan.
  const gate = costGate(link.scope, verdict, runSql, { showEstimate: !rewrite && !governsTables(link.scope) });
  if (gate?.upfront) return { verdict, refusal: gate.upfront };
  // The call's intent goes to the audit journal now. A statement that may write runs only once it is on
  // disk (write-ahead: a crash cannot leave a write without its record); a read runs while it is written.
  const ahead = input.ahead?.(verdict);
  if (ahead && !verdict.readOnly) await ahead;
  // Pure reads may go to a replica (issue 17); everything else, and anything guarded, to the primary.
  const routed = await tracedExecution(link, verdict, input.sql, (comment) => runRouted(services, link, verdict, {
    guarded: input.guard !== undefined,
    catalog,
    // Only asked where there is a replica to choose (the hot path of other connections pays nothing).
    explain: link.connection.replicas?.length ? isExplain(input.sql) : false,
    sql: runSql + comment,
    ...(gate ? { preflight: gate.preflight() } : {}),
    ...(input.guard ? { guard: input.guard.sql } : {}),
    values,
    // The write check itself needs no full fetch: PostgreSQL runs a statement with a data-modifying
    // CTE to completion on its first Execute (portal strategy ONE_MOD_WITH), outer WHERE included
    // (measured: a 3,001-row UPDATE whose last row leaves the filter, row limit 2, is refused). Read to
    // the end for the count of written rows (one row each), which the caller gets as rows affected.
    readAll: rewrite?.writeCheck === true,
    outsideTransaction: verdict.classes.length > 0 && verdict.classes.every((c) => c === "utility") && !input.forceRollback,
    readOnly: verdict.readOnly,
    rollback: input.forceRollback === true || (!verdict.readOnly && isExplain(input.sql)),
    statementTimeoutMs: link.scope.limits.statementTimeoutMs,
    searchPath: searchPathFor(link.scope),
    maxRows: input.maxRows ?? link.scope.limits.maxRows,
    maxBytes: services.maxResultBytes,
    signal: input.signal,
  }));
  const targetServer = routed.server;
  if ("failure" in routed) return { verdict, error: describeConnectionFailure(routed.failure), targetServer };
  let outcome: RunOutcome = routed.outcome;
  if (input.guard && outcome.error?.message.includes(input.guard.marker)) return { verdict, targetServer, refusal: input.guard.refusal };
  const estimate = gate?.estimate ?? undefined;
  if (gate && outcome.preflight?.stopped) {
    const refusal = gate.refusal ?? (outcome.error ? null : gate.unreadable());
    if (refusal) return { verdict, targetServer, refusal, ...(estimate ? { estimate } : {}) };
    // The plan failed as the statement would have (the server's error): said as its error, below.
  }
  // Even a failed DDL statement may have been the last of a series; reload either way.
  if (verdict.classes.includes("ddl") && !input.forceRollback) services.schemaChanged(link);
  // DETAIL ("Failing row contains (…)") prints the stored row, masked columns and filtered rows included.
  const hides = scopeHidesObjects(link.scope, catalog) || governsTables(link.scope);
  if (rewrite?.writeCheck) {
    const violation = rowFilterViolation(outcome, verdict, link);
    if (violation) return { verdict, targetServer, outcome, refusal: violation };
    // An oversized RETURNING row closed the connection before COMMIT: say so rather than show a cut result.
    if (outcome.abandoned) return { verdict, targetServer, outcome, error: "A returned row was larger than the result size limit, so the connection was closed before the write committed; nothing was written. Return fewer or smaller columns." };
  }
  if (outcome.error) {
    const attribute = rewrite && describeAttributeError(outcome.error, rewrite, input.principal);
    if (attribute) return { verdict, targetServer, outcome, error: attribute };
    const shift = (input.positionShift ?? 0) + (outcome.preflight?.stopped && gate ? gate.positionShift : 0);
    const error = describeDatabaseError(outcome.error, input.sql, shift, hides, input.signal?.aborted === true, rewrite !== undefined);
    return { verdict, targetServer, outcome, error };
  }
  if (isPlanResult(outcome.columns) && (hides || rewrite)) {
    // Row estimates, widths and costs describe the whole table, not the rows the filter leaves.
    const constants = rewrite ? foldedConstants(rewrite, values) : [];
    outcome = { ...outcome, rowsJson: redactPlanRows(outcome.rowsJson, { estimates: rewrite !== undefined || governsTables(link.scope), constants }) };
  }
  return { verdict, targetServer, outcome, ...(estimate ? { estimate } : {}) };
}
