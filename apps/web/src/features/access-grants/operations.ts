import { PortcullisError } from "@portcullis/db/errors";
import { AccessGrantError, decideAccessGrant, listAccessGrants, mayApprove, revokeAccessGrant } from "@portcullis/db/operations";
import { roleAtLeast, type TeamContext } from "../../lib/authz";
import { getPrisma } from "../../lib/db";
import type { GrantView } from "./grants-panel";

/**
 * Time-boxed elevation: active grants, pending requests and recent history of a link, and the
 * decisions on them — the one place both the link page and the Approvals page decide through. Who
 * decides is D's rule (mayApprove: owners and admins of the team, or a member named as the link's
 * approver who is still a member), asked on every call with the team from the resolved context. Each
 * decision is one conditional UPDATE in the db operation: two approvers at once have one winner, and
 * the loser's typed error becomes a sentence here.
 */
export const GRANT_HISTORY_LIMIT = 50;

/** The link must be the team's; a member who may not decide learns nothing about it (not found). */
async function requireDecider(ctx: TeamContext, linkId: string): Promise<void> {
  const prisma = getPrisma();
  const link = await prisma.link.findFirst({ where: { id: linkId, teamId: ctx.team.id }, select: { id: true, access: { where: { userId: ctx.user.userId }, select: { userId: true } } } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  if (await mayApprove(prisma, { teamId: ctx.team.id, linkId, userId: ctx.user.userId })) return;
  // A member who may use the link knows it exists: they hear why; anyone else hears "not found".
  if (roleAtLeast(ctx.role, "admin") || link.access.length > 0) throw new PortcullisError("forbidden", "only the team's owners and admins, or this link's named approvers, decide its access requests");
  throw new PortcullisError("not_found", "link not found");
}

export async function mayDecideGrants(ctx: TeamContext, linkId: string): Promise<boolean> {
  return mayApprove(getPrisma(), { teamId: ctx.team.id, linkId, userId: ctx.user.userId });
}

/** Active, pending and recent grants of the link, newest first, as the page shows them. */
export async function linkAccessGrants(ctx: TeamContext, linkId: string): Promise<GrantView[]> {
  await requireDecider(ctx, linkId);
  const rows = await listAccessGrants(getPrisma(), { teamId: ctx.team.id, linkId, limit: GRANT_HISTORY_LIMIT });
  return rows.map((g) => ({
    id: g.id,
    member: g.userEmail,
    databaseLabel: g.databaseLabel,
    tableKey: g.tableKey,
    access: g.access,
    minutes: g.minutes,
    reason: g.reason,
    status: g.status,
    createdAt: g.createdAt.toISOString(),
    expiresAt: g.expiresAt?.toISOString() ?? null,
    requestExpiresAt: g.requestExpiresAt.toISOString(),
    // A revoked grant's last word is the revoke; otherwise the decision.
    decidedBy: g.status === "revoked" ? g.revokerEmail : g.deciderEmail,
    decidedAt: (g.status === "revoked" ? g.revokedAt : g.decidedAt)?.toISOString() ?? null,
    comment: g.decisionComment,
  }));
}

async function grantFor(ctx: TeamContext, grantId: string) {
  const grant = await getPrisma().accessGrant.findFirst({ where: { id: grantId, teamId: ctx.team.id }, select: { id: true, linkId: true, userId: true, status: true } });
  if (!grant) throw new PortcullisError("not_found", "access request not found");
  return grant;
}

/** The data layer's typed refusals, as sentences (anything else stays a bug, hidden by the action client). */
async function explained(ctx: TeamContext, grantId: string, error: unknown): Promise<unknown> {
  if (!(error instanceof AccessGrantError)) return error;
  switch (error.code) {
    case "already_decided":
      return new PortcullisError("conflict", `already decided: this access request is ${(await grantFor(ctx, grantId)).status}`);
    case "expired":
      return new PortcullisError("conflict", "this access request expired before the decision; the member has to ask again");
    case "not_active":
      return new PortcullisError("conflict", `this grant is no longer in force (it is ${(await grantFor(ctx, grantId)).status})`);
    case "own_request":
      return new PortcullisError("forbidden", "you cannot grant your own request; another approver must decide it");
    case "not_member":
      return new PortcullisError("conflict", "this member no longer uses the link; the request cannot be granted");
    case "not_approver":
      return new PortcullisError("forbidden", "you are not an approver of this link");
    default:
      return new PortcullisError("not_found", "access request not found");
  }
}

export async function decideGrant(ctx: TeamContext, input: { grantId: string; decision: "grant" | "refuse"; comment?: string | undefined }) {
  const grant = await grantFor(ctx, input.grantId);
  await requireDecider(ctx, grant.linkId);
  // Raising one's own access is what the request is for; only those who could edit the scope anyway may.
  if (input.decision === "grant" && grant.userId === ctx.user.userId && !roleAtLeast(ctx.role, "admin")) throw new PortcullisError("forbidden", "you cannot grant your own request; another approver must decide it");
  try {
    const row = await decideAccessGrant(getPrisma(), {
      teamId: ctx.team.id, id: grant.id, deciderId: ctx.user.userId, decision: input.decision,
      ...(input.comment ? { comment: input.comment } : {}), via: "dashboard", sourceIp: ctx.sourceIp ?? null,
    });
    return { id: row.id, status: row.status };
  } catch (error) {
    throw await explained(ctx, grant.id, error);
  }
}

/** Ends a grant early: an approver of the link, or the member giving their own up. */
export async function revokeGrant(ctx: TeamContext, input: { grantId: string }) {
  const grant = await grantFor(ctx, input.grantId);
  if (grant.userId !== ctx.user.userId) await requireDecider(ctx, grant.linkId);
  try {
    const row = await revokeAccessGrant(getPrisma(), { teamId: ctx.team.id, id: grant.id, revokerId: ctx.user.userId, via: "dashboard", sourceIp: ctx.sourceIp ?? null });
    return { id: row.id, status: row.status };
  } catch (error) {
    throw await explained(ctx, grant.id, error);
  }
}
