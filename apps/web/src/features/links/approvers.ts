import { listLinkApprovers, setLinkApprovers } from "@portcullis/db/operations";
import { requireRole, type TeamContext } from "../../lib/authz";
import { getPrisma } from "../../lib/db";

/**
 * The members an admin names to decide a link's write and access requests (owners and admins always
 * decide). The db operation checks each id is a member of this team and not a viewer, and audits the
 * change; here only the caller's role is checked (teamId comes from the resolved context, never input).
 */
export async function linkApprovers(ctx: TeamContext, linkId: string) {
  requireRole(ctx, "admin");
  return listLinkApprovers(getPrisma(), { teamId: ctx.team.id, linkId });
}

export async function setApprovers(ctx: TeamContext, input: { linkId: string; userIds: string[] }) {
  requireRole(ctx, "admin");
  return setLinkApprovers(getPrisma(), { teamId: ctx.team.id, linkId: input.linkId, userIds: input.userIds, actorUserId: ctx.user.userId, via: "dashboard", sourceIp: ctx.sourceIp ?? null });
}
