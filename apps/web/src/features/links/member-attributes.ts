import { listMemberAttributes, setMemberAttributes, unsetMemberAttributes } from "@portcullis/db/operations";
import { requireRole, type TeamContext } from "../../lib/authz";
import { getPrisma } from "../../lib/db";

/**
 * Member attributes ({{member.attr.NAME}} in row filters) through the db operations, which look every
 * id up inside the caller's team, check that the member may use the link, and audit each change.
 * Gateways hear of changes from PostgreSQL itself (a trigger on the table), so nothing is published here.
 */
const actor = (ctx: TeamContext) => ({ teamId: ctx.team.id, actorUserId: ctx.user.userId, sourceIp: ctx.sourceIp ?? null, via: "dashboard" as const });

export async function linkMemberAttributes(ctx: TeamContext, linkId: string) {
  requireRole(ctx, "admin");
  return listMemberAttributes(getPrisma(), actor(ctx), { linkId });
}

export async function setMemberAttribute(ctx: TeamContext, input: { linkId: string; userId: string; name: string; value: string }) {
  requireRole(ctx, "admin");
  return setMemberAttributes(getPrisma(), actor(ctx), { linkId: input.linkId, userId: input.userId, values: { [input.name]: input.value } });
}

export async function unsetMemberAttribute(ctx: TeamContext, input: { linkId: string; userId: string; name: string }) {
  requireRole(ctx, "admin");
  return unsetMemberAttributes(getPrisma(), actor(ctx), { linkId: input.linkId, userId: input.userId, names: [input.name] });
}
