import { sha256Hex } from "@portcullis/db/keys";
import { recordOAuthEvent } from "./audit.js";
import { describeClientOrigin } from "./clients.js";
import { nowOf, type OAuthContext } from "./context.js";
import { broadcastGrantRevocation } from "./revocation.js";

/**
 * Revokes a grant and every token under it, then tells the gateways. Idempotent: revoking a revoked
 * (or never created) grant changes nothing and broadcasts nothing. `silent` skips the oauth_revoke
 * audit event when the caller records a more specific refusal itself.
 */
export async function revokeGrant(
  ctx: OAuthContext,
  input: { grantId: string; reason: string; ruleId?: string; actorUserId?: string | null; sourceIp?: string | null; silent?: boolean },
): Promise<boolean> {
  const now = nowOf(ctx);
  const grant = await ctx.prisma.oAuthGrant.findUnique({ where: { id: input.grantId }, include: { client: true } });
  if (!grant) return false;
  const changed = await ctx.prisma.$transaction(async (tx) => {
    const marked = await tx.oAuthGrant.updateMany({ where: { id: grant.id, revokedAt: null }, data: { revokedAt: now } });
    await tx.oAuthToken.updateMany({ where: { grantId: grant.id, revokedAt: null }, data: { revokedAt: now } });
    return marked.count > 0;
  });
  if (!changed) return false;
  await broadcastGrantRevocation(ctx, grant.id);
  if (!input.silent) {
    await recordOAuthEvent(ctx, {
      kind: "oauth_revoke",
      teamId: grant.teamId,
      linkId: grant.linkId,
      userId: input.actorUserId ?? grant.userId,
      oauthClientId: grant.client.clientId,
      clientName: grant.client.name,
      ruleId: input.ruleId ?? null,
      reason: input.reason,
      sourceIp: input.sourceIp ?? null,
    });
  }
  return true;
}

/**
 * RFC 7009 revocation. Always "succeeds" from the caller's point of view (§2.2: an unknown or already
 * invalid token is not an error), so the endpoint reveals nothing about tokens. A refresh token takes
 * its whole grant with it (§2.1 SHOULD); an access token is revoked alone, and the grant's id is
 * still broadcast so gateways re-check that grant's cached tokens. A token presented with another
 * client's id is left alone.
 */
export async function revokeToken(ctx: OAuthContext, input: { token: string; clientId?: string | null; sourceIp?: string | null }): Promise<void> {
  if (!input.token || input.token.length > 4096) return;
  const row = await ctx.prisma.oAuthToken.findUnique({
    where: { tokenHash: sha256Hex(input.token) },
    include: { grant: { include: { client: true } } },
  });
  if (!row) return;
  if (input.clientId && row.grant.client.clientId !== input.clientId) return;
  if (row.kind === "refresh") {
    await revokeGrant(ctx, { grantId: row.grantId, reason: "revoked by the client (RFC 7009)", sourceIp: input.sourceIp ?? null });
    return;
  }
  const marked = await ctx.prisma.oAuthToken.updateMany({ where: { id: row.id, revokedAt: null }, data: { revokedAt: nowOf(ctx) } });
  if (marked.count === 0) return;
  await broadcastGrantRevocation(ctx, row.grantId);
  await recordOAuthEvent(ctx, {
    kind: "oauth_revoke",
    teamId: row.grant.teamId,
    linkId: row.grant.linkId,
    userId: row.grant.userId,
    oauthClientId: row.grant.client.clientId,
    clientName: row.grant.client.name,
    reason: "access token revoked by the client (RFC 7009)",
    sourceIp: input.sourceIp ?? null,
  });
}

export interface AuthorizedApp {
  grantId: string;
  clientName: string;
  clientId: string;
  origin: { kind: "metadata_document" | "dynamic_registration"; label: string };
  linkId: string;
  linkName: string;
  teamId: string;
  teamName: string;
  authorizedAt: Date;
  lastUsedAt: Date | null;
}

/**
 * The member's live authorizations for the settings page: not revoked, and still able to mint an
 * access token (an unexpired, unrotated refresh token) or, for an enterprise grant, holding a live
 * access token — a grant whose tokens all lapsed is dead weight.
 */
export async function listAuthorizedApps(ctx: OAuthContext, userId: string): Promise<AuthorizedApp[]> {
  const now = nowOf(ctx);
  const grants = await ctx.prisma.oAuthGrant.findMany({
    where: {
      userId,
      revokedAt: null,
      OR: [
        { tokens: { some: { kind: "refresh", revokedAt: null, expiresAt: { gt: now }, rotatedAt: null } } },
        // Enterprise (ID-JAG) grants carry no refresh token: live while an access token is.
        { identityProviderId: { not: null }, tokens: { some: { kind: "access", revokedAt: null, expiresAt: { gt: now } } } },
      ],
    },
    include: {
      client: { select: { clientId: true, name: true, kind: true } },
      link: { select: { id: true, name: true } },
      team: { select: { id: true, name: true } },
    },
    orderBy: [{ lastUsedAt: { sort: "desc", nulls: "last" } }, { createdAt: "desc" }],
    take: 200,
  });
  return grants.map((grant) => ({
    grantId: grant.id,
    clientName: grant.client.name,
    clientId: grant.client.clientId,
    origin: describeClientOrigin(grant.client),
    linkId: grant.link.id,
    linkName: grant.link.name,
    teamId: grant.team.id,
    teamName: grant.team.name,
    authorizedAt: grant.createdAt,
    lastUsedAt: grant.lastUsedAt,
  }));
}

/** The settings page's revoke button: only the member's own grants (another's answers "not found"). */
export async function revokeGrantForMember(ctx: OAuthContext, input: { grantId: string; userId: string; sourceIp?: string | null }): Promise<boolean> {
  const grant = await ctx.prisma.oAuthGrant.findFirst({ where: { id: input.grantId, userId: input.userId }, select: { id: true } });
  if (!grant) return false;
  await revokeGrant(ctx, { grantId: grant.id, reason: "revoked by the member in the dashboard", actorUserId: input.userId, sourceIp: input.sourceIp ?? null });
  return true;
}
