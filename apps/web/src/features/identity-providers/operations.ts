import { addIdentityProvider, listIdentityProviders, removeIdentityProvider, type IdentityProviderView } from "@portcullis/oauth";
import { requireRole, type TeamContext } from "../../lib/authz";
import { getPrisma } from "../../lib/db";
import { publishRevocation } from "../../lib/redis";

/**
 * Trusted identity providers of the team (enterprise-managed authorization). Owners and admins only:
 * a trusted issuer can mint access for every member it can name. The operations (input parsing,
 * config-change records, grant revocation on removal) live in @portcullis/oauth, shared with the CLI.
 */
export async function teamIdentityProviders(ctx: TeamContext): Promise<IdentityProviderView[]> {
  requireRole(ctx, "admin");
  return listIdentityProviders(getPrisma(), ctx.team.id);
}

export async function addTeamIdentityProvider(ctx: TeamContext, input: unknown) {
  requireRole(ctx, "admin");
  return addIdentityProvider(getPrisma(), { teamId: ctx.team.id, actorUserId: ctx.user.userId, sourceIp: ctx.sourceIp ?? null, via: "dashboard" }, input);
}

export async function removeTeamIdentityProvider(ctx: TeamContext, providerId: string) {
  requireRole(ctx, "admin");
  const result = await removeIdentityProvider(getPrisma(), { teamId: ctx.team.id, actorUserId: ctx.user.userId, sourceIp: ctx.sourceIp ?? null, via: "dashboard" }, providerId);
  // Committed: the gateways drop what they cached for those grants (their TTL bounds a lost message).
  for (const grantId of result.revokedGrantIds) await publishRevocation({ kind: "oauth_grant", grantId }).catch(() => {});
  return { id: result.provider.id, revokedGrants: result.revokedGrantIds.length };
}
