import { PortcullisError } from "@portcullis/db/errors";
import { AccessGrantError, decideAccessGrant, mayApprove, revokeAccessGrant } from "@portcullis/db/operations";
import type { TeamContext } from "../../lib/authz";
import { getPrisma } from "../../lib/db";

/**
 * Access requests (time-boxed elevation) decided from the Approvals page. The data operation decides
 * who may (approvers; one's own request only where the link allows self-approval) in one conditional
 * UPDATE; here the team is matched first and its typed errors become sentences.
 */
async function grantOf(ctx: TeamContext, id: string) {
  const grant = await getPrisma().accessGrant.findFirst({ where: { id, teamId: ctx.team.id }, select: { id: true, linkId: true, userId: true } });
  if (!grant) throw new PortcullisError("not_found", "access request not found");
  return grant;
}

function words(error: unknown, own: boolean): unknown {
  if (!(error instanceof AccessGrantError)) return error;
  switch (error.code) {
    case "already_decided":
    case "not_active":
      return new PortcullisError("conflict", `already decided — ${error.message}`);
    case "expired":
      return new PortcullisError("conflict", `expired: ${error.message}`);
    case "own_request":
      return new PortcullisError("forbidden", "you cannot grant your own request");
    case "not_member":
      return new PortcullisError("conflict", error.message);
    case "not_approver":
      // Someone else's request on a link one does not approve is not there at all.
      return own ? new PortcullisError("forbidden", "you are not an approver of this link") : new PortcullisError("not_found", "access request not found");
    default:
      return new PortcullisError("not_found", "access request not found");
  }
}

export async function decideGrant(ctx: TeamContext, input: { grantId: string; decision: "grant" | "refuse"; comment?: string | undefined }) {
  if (ctx.role === "viewer") throw new PortcullisError("forbidden", "viewers cannot decide access requests");
  const grant = await grantOf(ctx, input.grantId);
  try {
    const row = await decideAccessGrant(getPrisma(), {
      teamId: ctx.team.id, id: grant.id, deciderId: ctx.user.userId, decision: input.decision,
      ...(input.comment ? { comment: input.comment } : {}), via: "dashboard", sourceIp: ctx.sourceIp ?? null,
    });
    return { id: row.id, status: row.status };
  } catch (error) {
    throw words(error, grant.userId === ctx.user.userId);
  }
}

export async function endGrant(ctx: TeamContext, input: { grantId: string }) {
  if (ctx.role === "viewer") throw new PortcullisError("forbidden", "viewers cannot revoke access grants");
  const grant = await grantOf(ctx, input.grantId);
  // Checked here too: the page offers Revoke to approvers only, and a member must not learn of others' grants.
  if (!(await mayApprove(getPrisma(), { teamId: ctx.team.id, linkId: grant.linkId, userId: ctx.user.userId }))) {
    throw grant.userId === ctx.user.userId ? new PortcullisError("forbidden", "you are not an approver of this link") : new PortcullisError("not_found", "access grant not found");
  }
  try {
    const row = await revokeAccessGrant(getPrisma(), { teamId: ctx.team.id, id: grant.id, revokerId: ctx.user.userId, via: "dashboard", sourceIp: ctx.sourceIp ?? null });
    return { id: row.id, status: row.status };
  } catch (error) {
    throw words(error, grant.userId === ctx.user.userId);
  }
}
