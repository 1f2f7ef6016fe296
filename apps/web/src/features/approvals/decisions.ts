import { PortcullisError } from "@portcullis/db/errors";
import { decideWriteRequest, WriteRequestDecisionError } from "@portcullis/db/operations";
import type { TeamContext } from "../../lib/authz";
import { getPrisma } from "../../lib/db";

/**
 * Decisions are made by the data operations (packages/db): each is one conditional UPDATE, so two
 * approvers at once, or an approval racing the expiry, have exactly one winner and the loser gets a
 * typed error. Here those errors become sentences a person can act on; anything else stays a bug.
 */
function decisionCode(error: unknown): string | null {
  return error instanceof WriteRequestDecisionError ? error.code : null;
}

async function requestWords(ctx: TeamContext, id: string, code: string, message: string): Promise<PortcullisError> {
  switch (code) {
    case "already_decided":
      // The data layer names who decided and when ("this request was already approved by … at …").
      return new PortcullisError("conflict", `already decided — ${message}`);
    case "expired":
      return new PortcullisError("conflict", "expired: this request expired before the decision; nothing ran, and the client has to ask again");
    case "own_request":
      return new PortcullisError("forbidden", "you cannot approve your own request");
    case "not_approver": {
      // Someone else's request on a link one does not approve is not there at all (as on the page).
      const row = await getPrisma().writeRequest.findFirst({ where: { id, teamId: ctx.team.id }, select: { userId: true } });
      if (row?.userId !== ctx.user.userId) return new PortcullisError("not_found", "write request not found");
      return new PortcullisError("forbidden", "you are not an approver of this link");
    }
    case "not_confirmable":
      return new PortcullisError("forbidden", message);
    default:
      return new PortcullisError("not_found", "write request not found");
  }
}

export async function decideRequest(ctx: TeamContext, input: { requestId: string; decision: "approve" | "reject"; comment?: string | undefined }) {
  // Viewers decide nothing, whatever approver list they are on (the page hides the buttons too).
  if (ctx.role === "viewer") throw new PortcullisError("forbidden", "viewers cannot decide write requests");
  try {
    const row = await decideWriteRequest(getPrisma(), {
      teamId: ctx.team.id, id: input.requestId, deciderId: ctx.user.userId, decision: input.decision,
      ...(input.comment ? { comment: input.comment } : {}), via: "dashboard", sourceIp: ctx.sourceIp ?? null,
    });
    return { id: row.id, status: row.status };
  } catch (error) {
    const code = decisionCode(error);
    if (code) throw await requestWords(ctx, input.requestId, code, (error as Error).message);
    throw error;
  }
}
