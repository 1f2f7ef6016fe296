import { decideWriteRequest, WriteRequestDecisionError } from "@portcullis/db/operations";
import { z } from "zod";
import type { CallContext } from "../context.js";
import type { Services } from "../services.js";
import type { CallOutcome } from "./call-outcome.js";
import { linkAllowance } from "./link-allowance.js";
import { runAuditedCall } from "./run-call.js";
import { executeApproved, ownRequest } from "./write-requests.js";

/**
 * The caller's answer to a confirmation (issue 15, `approval: "confirm"`), for the protocol layer
 * (mcp/confirm-actions.ts): yes = the requester's own decision through their client (decideWriteRequest
 * via "client", audited by that operation) followed by the execution exactly as execute_sql with the
 * requestId runs it (claim once, current scope, one audit event); no = the request rejected, nothing run.
 */
const confirmArgs = z.object({ sql: z.string().min(1).max(100_000), params: z.array(z.unknown()).max(1000).optional() });

const uuid = z.string().uuid();

function refused(ctx: CallContext, ruleId: string, words: string, requestId: string, sql?: string): CallOutcome {
  const reason = `${words} [rule ${ruleId}]`;
  return { kind: "refused", refusal: { ruleId, reason, allows: linkAllowance(ctx.link) }, audit: { ...(sql ? { sql } : {}), verdict: "blocked", ruleId, reason, ...(uuid.safeParse(requestId).success ? { writeRequestId: requestId } : {}) } };
}

const DECISION_WORDS: Record<string, string> = {
  already_decided: "was already decided",
  expired: "expired before it was confirmed",
  not_confirmable: "needs a lead's approval, which the caller cannot give",
};

async function decide(services: Services, ctx: CallContext, requestId: string, decision: "approve" | "reject"): Promise<CallOutcome | null> {
  const request = uuid.safeParse(requestId).success ? await ownRequest(services, ctx, requestId) : null;
  if (!request || request.kind !== "confirm" || ctx.principal.userId === null)
    return refused(ctx, "write_request_mismatch", `There is no confirmation ${requestId} for you on this link. Nothing was run.`, requestId);
  try {
    await decideWriteRequest(services.metadata, { teamId: ctx.link.teamId, id: request.id, deciderId: ctx.principal.userId, decision, via: "client" });
    return null;
  } catch (error) {
    if (!(error instanceof WriteRequestDecisionError)) throw error;
    const ruleId = error.code === "expired" ? "write_request_expired" : "write_request_not_approved";
    return refused(ctx, ruleId, `Write request ${request.id} ${DECISION_WORDS[error.code] ?? "cannot be decided by you"}. Nothing was run.`, request.id, request.sql);
  }
}

/** `tool`: the name the call was made under (a saved tool's writes are confirmed too), for its audit event. */
export async function confirmAndExecute(services: Services, ctx: CallContext, requestId: string, args: Record<string, unknown>, tool = "execute_sql"): Promise<CallOutcome> {
  return runAuditedCall(services, ctx, tool, async (ctx) => {
    const parsed = confirmArgs.safeParse(args);
    if (!parsed.success) return { kind: "failed", failure: { code: "invalid_arguments", message: "the confirmed call's sql and params are not valid", retryable: false }, audit: { verdict: "error", error: "invalid confirmed arguments" } };
    const stopped = await decide(services, ctx, requestId, "approve");
    if (stopped) return stopped;
    return executeApproved(services, ctx, { ...parsed.data, requestId });
  });
}

export async function declineConfirmation(services: Services, ctx: CallContext, requestId: string, tool = "execute_sql"): Promise<CallOutcome> {
  return runAuditedCall(services, ctx, tool, async (ctx) => {
    const stopped = await decide(services, ctx, requestId, "reject");
    if (stopped) return stopped;
    return refused(ctx, "write_request_not_approved", `You declined write request ${requestId}; it is rejected and nothing was run.`, requestId);
  });
}
