import { randomToken, sha256Hex } from "@portcullis/db/keys";
import type { Prisma } from "@portcullis/db/client";
import { loadLinkAccess } from "./access.js";
import { recordOAuthEvent } from "./audit.js";
import { nowOf, type OAuthContext } from "./context.js";
import { OAuthError } from "./errors.js";
import { revokeGrant } from "./grants.js";
import { exchangeIdJag } from "./id-jag.js";
import { JWT_BEARER_GRANT } from "./metadata.js";
import { verifyCodeVerifier } from "./pkce.js";
import { resourceForLink } from "./resource.js";
import { formatScopes } from "./scopes.js";
import { ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX } from "./token-format.js";

export { ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, looksLikeAccessToken } from "./token-format.js";

export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  /** Absent for grants an enterprise IdP controls (jwt-bearer): the client asks the IdP again. */
  refresh_token?: string;
  scope: string;
}

interface TokenRequestMeta {
  sourceIp?: string | null;
}

/** The token endpoint: dispatches on grant_type (OAuth 2.1's two, and RFC 7523 for enterprise ID-JAGs). */
export async function handleTokenGrant(ctx: OAuthContext, form: URLSearchParams, meta: TokenRequestMeta = {}): Promise<TokenResponse> {
  const grantType = form.get("grant_type");
  if (grantType === "authorization_code") return exchangeAuthorizationCode(ctx, form, meta);
  if (grantType === "refresh_token") return refreshAccessToken(ctx, form, meta);
  if (grantType === JWT_BEARER_GRANT) return exchangeIdJag(ctx, form, meta);
  throw new OAuthError("unsupported_grant_type", `grant_type must be authorization_code, refresh_token or ${JWT_BEARER_GRANT}`);
}

/** Mints an access token (and, unless `withRefresh` is false, a refresh token) under a grant. */
export async function issueTokens(
  tx: Prisma.TransactionClient,
  ctx: OAuthContext,
  grantId: string,
  now: Date,
  scopes: readonly string[],
  options: { withRefresh?: boolean; accessTtlSeconds?: number } = {},
): Promise<TokenResponse> {
  const accessToken = `${ACCESS_TOKEN_PREFIX}${randomToken(32)}`;
  const refreshToken = options.withRefresh === false ? null : `${REFRESH_TOKEN_PREFIX}${randomToken(32)}`;
  const accessTtl = options.accessTtlSeconds ?? ctx.config.accessTokenTtlSeconds;
  await tx.oAuthToken.createMany({
    data: [
      { grantId, kind: "access", tokenHash: sha256Hex(accessToken), expiresAt: new Date(now.getTime() + accessTtl * 1000) },
      ...(refreshToken
        ? [{ grantId, kind: "refresh" as const, tokenHash: sha256Hex(refreshToken), expiresAt: new Date(now.getTime() + ctx.config.refreshTokenTtlSeconds * 1000) }]
        : []),
    ],
  });
  return {
    access_token: accessToken,
    token_type: "Bearer",
    expires_in: accessTtl,
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    // Legacy grants hold "mcp": the response names the three it stands for.
    scope: formatScopes(scopes),
  };
}

/**
 * authorization_code → tokens. The code is claimed atomically before anything else is checked, so
 * it is spent even by a failed attempt (a guessed PKCE verifier gets one try). A code presented a
 * second time means it leaked: the grant minted from it (whose id is the code's id, so it can be
 * found without another column) is revoked with all its tokens (OAuth 2.1 §4.1.3).
 */
export async function exchangeAuthorizationCode(ctx: OAuthContext, form: URLSearchParams, meta: TokenRequestMeta = {}): Promise<TokenResponse> {
  const code = form.get("code");
  const clientId = form.get("client_id") ?? "";
  if (!code) throw new OAuthError("invalid_request", "code is required");
  const now = nowOf(ctx);
  const row = await ctx.prisma.oAuthAuthorizationCode.findUnique({
    where: { codeHash: sha256Hex(code) },
    include: { client: true, link: { select: { teamId: true, status: true } } },
  });
  if (!row) throw new OAuthError("invalid_grant", "the authorization code is invalid");
  const refuse = async (ruleId: string, reason: string, error: OAuthError) => {
    await recordOAuthEvent(ctx, {
      kind: "oauth_refused",
      teamId: row.link.teamId,
      linkId: row.linkId,
      userId: row.userId,
      oauthClientId: row.client.clientId,
      clientName: row.client.name,
      ruleId,
      reason,
      sourceIp: meta.sourceIp ?? null,
    });
    return error;
  };
  const claim = await ctx.prisma.oAuthAuthorizationCode.updateMany({ where: { id: row.id, usedAt: null }, data: { usedAt: now } });
  if (claim.count === 0) {
    await revokeGrant(ctx, { grantId: row.id, reason: "authorization code reused", ruleId: "oauth.code_reuse", sourceIp: meta.sourceIp ?? null, silent: true });
    throw await refuse("oauth.code_reuse", "an authorization code was presented twice; tokens issued from it are revoked", new OAuthError("invalid_grant", "the authorization code was already used"));
  }
  if (row.expiresAt.getTime() <= now.getTime()) {
    throw await refuse("oauth.code_expired", "expired authorization code", new OAuthError("invalid_grant", "the authorization code has expired"));
  }
  if (!clientId || row.client.clientId !== clientId) {
    throw await refuse("oauth.client_mismatch", "authorization code presented by another client", new OAuthError("invalid_grant", "the authorization code was not issued to this client"));
  }
  if (form.get("redirect_uri") !== row.redirectUri) {
    throw await refuse("oauth.redirect_uri_mismatch", "redirect_uri differs from the authorization request's", new OAuthError("invalid_grant", "redirect_uri does not match the authorization request"));
  }
  if (!verifyCodeVerifier(form.get("code_verifier"), row.codeChallenge)) {
    throw await refuse("oauth.pkce_mismatch", "missing or wrong PKCE code_verifier", new OAuthError("invalid_grant", "code_verifier is missing or does not match the code_challenge"));
  }
  const resources = form.getAll("resource");
  if (resources.length > 1 || (resources.length === 1 && resources[0] !== row.resource)) {
    throw await refuse("oauth.resource_mismatch", "resource differs from the authorization request's", new OAuthError("invalid_target", "resource does not match the authorization request"));
  }
  // Access is checked again: the member may have lost the link between consent and exchange.
  const access = await loadLinkAccess(ctx.prisma, row.userId, row.linkId);
  if (!access.allowed) {
    throw await refuse("oauth.access_lost", "the member no longer has access to the link", new OAuthError("invalid_grant", "the member no longer has access to this link"));
  }
  const tokens = await ctx.prisma.$transaction(async (tx) => {
    await tx.oAuthGrant.create({
      data: { id: row.id, teamId: row.link.teamId, clientId: row.clientId, userId: row.userId, linkId: row.linkId, scopes: row.scopes, lastUsedAt: now },
    });
    return issueTokens(tx, ctx, row.id, now, row.scopes);
  });
  await recordOAuthEvent(ctx, {
    kind: "oauth_grant",
    teamId: row.link.teamId,
    linkId: row.linkId,
    userId: row.userId,
    oauthClientId: row.client.clientId,
    clientName: row.client.name,
    reason: `authorized ${row.client.name} on the link`,
    sourceIp: meta.sourceIp ?? null,
  });
  return tokens;
}

/**
 * refresh_token → a new access token and a new refresh token (rotation, OAuth 2.1 §4.3.1). The old
 * refresh token is marked rotated in the same conditional update that claims it; presenting a
 * rotated one again is the signature of a stolen token (either the thief or the client is replaying
 * it), so the whole grant is revoked and the member must sign in again.
 */
export async function refreshAccessToken(ctx: OAuthContext, form: URLSearchParams, meta: TokenRequestMeta = {}): Promise<TokenResponse> {
  const presented = form.get("refresh_token");
  const clientId = form.get("client_id") ?? "";
  if (!presented) throw new OAuthError("invalid_request", "refresh_token is required");
  const now = nowOf(ctx);
  const row = await ctx.prisma.oAuthToken.findUnique({
    where: { tokenHash: sha256Hex(presented) },
    include: { grant: { include: { client: true } } },
  });
  if (!row || row.kind !== "refresh") throw new OAuthError("invalid_grant", "the refresh token is invalid");
  const grant = row.grant;
  const audit = {
    teamId: grant.teamId,
    linkId: grant.linkId,
    userId: grant.userId,
    oauthClientId: grant.client.clientId,
    clientName: grant.client.name,
    sourceIp: meta.sourceIp ?? null,
  };
  const refuse = async (ruleId: string, reason: string, description: string) => {
    await recordOAuthEvent(ctx, { kind: "oauth_refused", ...audit, ruleId, reason });
    return new OAuthError("invalid_grant", description);
  };
  if (!clientId || grant.client.clientId !== clientId) {
    throw await refuse("oauth.client_mismatch", "refresh token presented by another client", "the refresh token was not issued to this client");
  }
  if (grant.revokedAt || row.revokedAt) throw await refuse("oauth.grant_revoked", "refresh with a revoked grant", "the authorization was revoked");
  if (row.rotatedAt) {
    await revokeGrant(ctx, { grantId: grant.id, reason: "refresh token replayed", ruleId: "oauth.refresh_replay", sourceIp: meta.sourceIp ?? null, silent: true });
    throw await refuse("oauth.refresh_replay", "a rotated refresh token was presented again; the grant is revoked", "the refresh token was already used; the authorization is revoked");
  }
  if (row.expiresAt.getTime() <= now.getTime()) throw await refuse("oauth.refresh_expired", "expired refresh token", "the refresh token has expired");
  const resources = form.getAll("resource");
  if (resources.length > 1 || (resources.length === 1 && resources[0] !== resourceForLink(ctx.config, grant.linkId))) {
    await recordOAuthEvent(ctx, { kind: "oauth_refused", ...audit, ruleId: "oauth.resource_mismatch", reason: "refresh for another resource" });
    throw new OAuthError("invalid_target", "a refresh token is valid only for the link it was issued for");
  }
  const claim = await ctx.prisma.oAuthToken.updateMany({ where: { id: row.id, rotatedAt: null, revokedAt: null }, data: { rotatedAt: now } });
  if (claim.count === 0) {
    // Lost a race with another use of the same token: the same signal as a replay.
    await revokeGrant(ctx, { grantId: grant.id, reason: "refresh token replayed", ruleId: "oauth.refresh_replay", sourceIp: meta.sourceIp ?? null, silent: true });
    throw await refuse("oauth.refresh_replay", "a refresh token was used twice concurrently; the grant is revoked", "the refresh token was already used; the authorization is revoked");
  }
  const access = await loadLinkAccess(ctx.prisma, grant.userId, grant.linkId);
  if (!access.allowed) {
    await revokeGrant(ctx, { grantId: grant.id, reason: "member lost access to the link", ruleId: "oauth.access_lost", sourceIp: meta.sourceIp ?? null, silent: true });
    throw await refuse("oauth.access_lost", "the member no longer has access to the link", "the member no longer has access to this link");
  }
  const tokens = await ctx.prisma.$transaction(async (tx) => {
    await tx.oAuthGrant.update({ where: { id: grant.id }, data: { lastUsedAt: now } });
    return issueTokens(tx, ctx, grant.id, now, grant.scopes);
  });
  await recordOAuthEvent(ctx, { kind: "oauth_refresh", ...audit, reason: "access token refreshed" });
  return tokens;
}
