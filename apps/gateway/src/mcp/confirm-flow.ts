import { AuditUnavailableError } from "../audit/producer.js";
import { toolCallEvent } from "../calls/audit-event.js";
import { CallAuditUnavailableError, type CallAudit, type CallOutcome } from "../calls/call-outcome.js";
import type { CallContext } from "../context.js";
import type { Services } from "../services.js";
import { confirmActions } from "./confirm-actions.js";
import type { ConfirmationBroker } from "./confirmation-broker.js";
import { CONFIRM_WINDOW_MS, answerOf, bindingMismatch, elicitationParams, statementHashOf, type PendingConfirm } from "./confirmation.js";

const STATE_TOOL = "execute_sql";

/** The 2026-07-28 answer to a write the caller must confirm: one embedded elicitation and a signed state. */
export function inputRequiredFor(broker: ConfirmationBroker, ctx: CallContext, pending: PendingConfirm, args: { sql?: unknown; params?: unknown }): Record<string, unknown> {
  const expiresAt = Math.min(Date.parse(pending.expiresAt) || 0, Date.now() + CONFIRM_WINDOW_MS);
  const { token } = broker.codec.mint(
    {
      requestId: pending.requestId,
      teamId: ctx.principal.teamId,
      linkId: ctx.link.id,
      subject: ctx.principal.subject,
      statementHash: statementHashOf(args),
    },
    expiresAt,
  );
  return {
    resultType: "input_required",
    inputRequests: { confirm: { method: "elicitation/create", params: elicitationParams(pending, String(args.sql ?? "")) } },
    requestState: token,
  };
}

/** The caller's answer, applied through the call path: confirm runs the statement once; anything else discards it. */
export function applyAnswer(services: Services, ctx: CallContext, requestId: string, args: Record<string, unknown>, response: unknown): Promise<CallOutcome> {
  return answerOf(response) === "confirm" ? confirmActions.confirm(services, ctx, requestId, args) : confirmActions.decline(services, ctx, requestId);
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
  const sql = typeof args.sql === "string" ? args.sql : undefined;
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
    tool !== STATE_TOOL
      ? "it was issued for another tool"
      : bindingMismatch(claims, { teamId: ctx.principal.teamId, linkId: ctx.link.id, subject: ctx.principal.subject, statementHash: statementHashOf(args) });
  if (mismatch) return refuse("write_request_mismatch", `the requestState does not belong to this call: ${mismatch}; nothing ran`, claims.requestId);
  let first: boolean;
  try {
    first = await broker.consume(claims.nonce, claims.exp - Date.now() + 60_000);
  } catch {
    return refuse("write_request_used", "the gateway cannot check right now that this confirmation was not used before (Redis unavailable); nothing ran — confirm the request in the dashboard", claims.requestId);
  }
  if (!first) return refuse("write_request_used", "this confirmation was already used; a write runs at most once — nothing ran", claims.requestId);
  const responses = typeof retry.inputResponses === "object" && retry.inputResponses !== null ? (retry.inputResponses as Record<string, unknown>) : {};
  return applyAnswer(services, ctx, claims.requestId, args, responses.confirm);
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
