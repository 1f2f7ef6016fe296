import { AuditUnavailableError } from "../audit/producer.js";
import { toolCallEvent } from "../calls/audit-event.js";
import { CallAuditUnavailableError, type CallAudit, type CallOutcome } from "../calls/call-outcome.js";
import type { CallContext, LinkRecord } from "../context.js";
import type { Services } from "../services.js";
import { confirmActions } from "./confirm-actions.js";
import type { ConfirmationBroker } from "./confirmation-broker.js";
import { CONFIRM_WINDOW_MS, answerOf, bindingMismatch, elicitationParams, statementHashOf, type PendingConfirm } from "./confirmation.js";
import { TOOLS_BY_NAME } from "./tools/index.js";
import { savedToolAnswer, savedToolStatement } from "./tools/saved-tool.js";

const EXECUTE_SQL = "execute_sql";

/**
 * What a confirmation is bound to: the tool the call was made under and the statement it runs —
 * execute_sql's own `sql` and `params`, or a saved tool's fixed text with its arguments bound (issue 17)
 * — or null when `tool` cannot ask for one (any other built-in, or no saved tool of that name on this
 * link, or arguments it does not take). The request the call path stored holds the same text and values.
 */
export interface ConfirmedCall {
  tool: string;
  sql: string | undefined;
  params: unknown;
}

export function confirmedCall(link: LinkRecord, tool: string, args: Record<string, unknown>): ConfirmedCall | null {
  // A built-in the link hides answers nothing, a confirmation's retry included.
  if (link.disabledTools?.includes(tool)) return null;
  if (tool === EXECUTE_SQL) return { tool, sql: typeof args.sql === "string" ? args.sql : undefined, params: args.params };
  // A built-in name is never a saved tool's (a stored one is shadowed, as toolByName does).
  if (TOOLS_BY_NAME.has(tool)) return null;
  const statement = savedToolStatement(link, tool, args);
  return statement ? { tool, ...statement } : null;
}

/** The 2026-07-28 answer to a write the caller must confirm: one embedded elicitation and a signed state. */
export function inputRequiredFor(broker: ConfirmationBroker, ctx: CallContext, pending: PendingConfirm, call: ConfirmedCall): Record<string, unknown> {
  const expiresAt = Math.min(Date.parse(pending.expiresAt) || 0, Date.now() + CONFIRM_WINDOW_MS);
  const { token } = broker.codec.mint(
    {
      requestId: pending.requestId,
      teamId: ctx.principal.teamId,
      linkId: ctx.link.id,
      subject: ctx.principal.subject,
      statementHash: statementHashOf(call),
      tool: call.tool,
    },
    expiresAt,
  );
  return {
    resultType: "input_required",
    inputRequests: { confirm: { method: "elicitation/create", params: elicitationParams(pending, call.sql ?? "") } },
    requestState: token,
  };
}

/** The caller's answer, applied through the call path: confirm runs the statement once; anything else discards it. */
export async function applyAnswer(services: Services, ctx: CallContext, requestId: string, call: ConfirmedCall, response: unknown): Promise<CallOutcome> {
  const outcome =
    answerOf(response) === "confirm"
      ? await confirmActions.confirm(services, ctx, requestId, { sql: call.sql, params: call.params }, call.tool)
      : await confirmActions.decline(services, ctx, requestId, call.tool);
  return call.tool === EXECUTE_SQL ? outcome : savedToolAnswer(call.tool, outcome);
}

/**
 * A 2026-07-28 retry carrying `requestState` (and `inputResponses`). Everything in it came back
 * through the client: the state must verify, be unexpired and unused, and name this link, this key and
 * this statement — else the retry is refused (and audited) and nothing runs.
 */
export async function resumeConfirmation(
  services: Services,
  broker: ConfirmationBroker | undefined,
  ctx: CallContext,
  tool: string,
  args: Record<string, unknown>,
  retry: { requestState?: unknown; inputResponses?: unknown },
): Promise<CallOutcome> {
  const started = performance.now();
  // The statement named by the retry's own arguments: for a saved tool, its current text and the values bound.
  const call = confirmedCall(ctx.link, tool, args);
  const sql = call?.sql;
  const refuse = (ruleId: string, reason: string, writeRequestId?: string) => refused(services, ctx, tool, started, ruleId, reason, sql, writeRequestId);
  if (!broker) return refuse("write_request_mismatch", "this gateway does not take confirmations in the tool call; confirm the request in the dashboard");
  if (retry.requestState === undefined) return refuse("write_request_mismatch", "inputResponses came without the requestState of the confirmation they answer; nothing ran");
  const check = broker.codec.verify(retry.requestState);
  if (!check.ok) {
    return check.reason === "expired"
      ? refuse("write_request_expired", "the confirmation expired before the answer came back; nothing ran — run the statement again to ask anew")
      : refuse("write_request_mismatch", "the requestState is not one this gateway issued (or was altered); nothing ran");
  }
  const { claims } = check;
  const mismatch =
    tool !== (claims.tool ?? EXECUTE_SQL)
      ? "it was issued for another tool"
      : call
        ? bindingMismatch(claims, { teamId: ctx.principal.teamId, linkId: ctx.link.id, subject: ctx.principal.subject, statementHash: statementHashOf(call) })
        : "this link has no such tool taking these arguments now";
  if (mismatch || !call) return refuse("write_request_mismatch", `the requestState does not belong to this call: ${mismatch}; nothing ran`, claims.requestId);
  let first: boolean;
  try {
    first = await broker.consume(claims.nonce, claims.exp - Date.now() + 60_000);
  } catch {
    return refuse("write_request_used", "the gateway cannot check right now that this confirmation was not used before (Redis unavailable); nothing ran — confirm the request in the dashboard", claims.requestId);
  }
  if (!first) return refuse("write_request_used", "this confirmation was already used; a write runs at most once — nothing ran", claims.requestId);
  const responses = typeof retry.inputResponses === "object" && retry.inputResponses !== null ? (retry.inputResponses as Record<string, unknown>) : {};
  return applyAnswer(services, ctx, claims.requestId, call, responses.confirm);
}

/** A refused retry, with its own audit event (it never reached the call path that audits the rest). */
async function refused(
  services: Services,
  ctx: CallContext,
  tool: string,
  started: number,
  ruleId: string,
  reason: string,
  sql: string | undefined,
  writeRequestId: string | undefined,
): Promise<CallOutcome> {
  // The request id only once the state verified: a forged one names nothing.
  const audit: CallAudit = { verdict: "blocked", ruleId, reason, ...(sql === undefined ? {} : { sql: sql.slice(0, 100_000) }), ...(writeRequestId ? { writeRequestId } : {}) };
  const outcome: CallOutcome = { kind: "refused", refusal: { ruleId, reason }, audit };
  services.metrics.toolCalls.inc({ tool, verdict: "blocked" });
  try {
    await services.audit.recordDurable(toolCallEvent(ctx, tool, audit, performance.now() - started));
  } catch (error) {
    if (!(error instanceof AuditUnavailableError)) throw error;
    throw new CallAuditUnavailableError(error.message, false);
  }
  return outcome;
}
