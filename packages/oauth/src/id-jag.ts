import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { z } from "zod";
import type { TrustedIdentityProvider } from "@portcullis/db/client";
import { loadLinkAccess } from "./access.js";
import { recordOAuthEvent } from "./audit.js";
import { resolveClient } from "./clients.js";
import { DEFAULT_FETCH_POLICY } from "./client-metadata.js";
import { nowOf, type OAuthContext } from "./context.js";
import { OAuthError, isOAuthError } from "./errors.js";
import { JwksCache } from "./jwks.js";
import { linkIdFromResource } from "./resource.js";
import { intersectScopes, normalizeScopes, requestedScopes } from "./scopes.js";
import { issueTokens, type TokenResponse } from "./tokens.js";

/**
 * Enterprise-managed authorization (MCP extension io.modelcontextprotocol/enterprise-managed-
 * authorization, SEP-990): the company's identity provider issues an Identity Assertion JWT
 * Authorization Grant (ID-JAG) for one client, one user and one link; the client redeems it here with
 * the RFC 7523 jwt-bearer grant for an ordinary link access token. The team's admins decide which
 * issuer they trust, its keys, and which clients may redeem.
 *
 * Client authentication: public clients, as everywhere on this server — the request's client_id (body,
 * or Basic with an empty secret) must equal the assertion's `client_id` and be on the provider's
 * allow-list. The assertion is what authenticates: signed by the IdP after the client authenticated
 * to it, bound to our issuer (aud), one link (resource) and one client, at most 10 minutes old, and
 * redeemable once. No refresh token is issued: when the access token expires the client asks the IdP
 * again, so the IdP (disabling a user, revoking the client) stays in control.
 */
export const ID_JAG_TYP = "oauth-id-jag+jwt";
/** Asymmetric only: with a shared secret the IdP's "public" key set would be the secret. Never `none`. */
export const ID_JAG_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"] as const;
export const ID_JAG_MAX_LIFETIME_SECONDS = 600;
export const ID_JAG_CLOCK_SKEW_SECONDS = 60;

const claimsSchema = z.object({
  iss: z.string().min(1).max(2000),
  sub: z.string().min(1).max(500),
  aud: z.union([z.string(), z.array(z.string()).min(1).max(5)]),
  resource: z.union([z.string().max(2000), z.array(z.string().max(2000)).length(1)]),
  client_id: z.string().min(1).max(2048),
  jti: z.string().min(1).max(200),
  exp: z.number().int(),
  iat: z.number().int(),
  scope: z.string().max(1000).optional(),
  email: z.string().max(320).optional(),
  email_verified: z.union([z.boolean(), z.literal("true"), z.literal("false")]).optional(),
});

type Claims = z.infer<typeof claimsSchema>;

let sharedJwks: JwksCache | undefined;
function jwksOf(ctx: OAuthContext): JwksCache {
  if (ctx.jwksCache) return ctx.jwksCache;
  sharedJwks ??= new JwksCache({ policy: ctx.fetchPolicy ?? DEFAULT_FETCH_POLICY });
  return sharedJwks;
}

/**
 * Every refusal before the assertion's signature verifies gets this one answer: malformed token, wrong
 * typ or alg, unknown link, disabled link, a team that does not trust the issuer, keys that cannot be
 * loaded, a bad signature. Until the signature holds the caller is anonymous, and any difference would
 * tell them which links exist and which issuer each link's team trusts. The detail goes to the server
 * log only; nothing is audited (nothing is known to be true yet).
 */
const UNVERIFIED = "the assertion could not be verified for this resource";

function unverified(ctx: OAuthContext, detail: string, extra: Record<string, unknown> = {}): OAuthError {
  ctx.warn?.("refused an enterprise assertion before its signature verified", { detail, ...extra });
  return new OAuthError("invalid_grant", UNVERIFIED);
}

/** A refusal after the signature verified: the assertion is the provider's own word, details are fine. */
function invalidGrant(description: string): OAuthError {
  return new OAuthError("invalid_grant", description);
}

/** POST /oauth/token with grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer. */
export async function exchangeIdJag(ctx: OAuthContext, form: URLSearchParams, meta: { sourceIp?: string | null } = {}): Promise<TokenResponse> {
  const assertion = form.get("assertion");
  const clientId = form.get("client_id") ?? "";
  if (!assertion) throw new OAuthError("invalid_request", "assertion is required");
  if (!clientId) throw new OAuthError("invalid_client", "client_id is required (public client: send it in the body)");
  if (!ctx.replayGuard) throw new OAuthError("unsupported_grant_type", "this server is not configured for the jwt-bearer grant");

  let header: ReturnType<typeof decodeProtectedHeader>;
  let payload: JWTPayload;
  try {
    header = decodeProtectedHeader(assertion);
    payload = decodeJwt(assertion);
  } catch {
    throw unverified(ctx, "the assertion is not a JWT");
  }
  // RFC 8725 §3.11: explicit typing, so an ID token or access token of the same IdP cannot be replayed as a grant.
  if (typeof header.typ !== "string" || header.typ.toLowerCase() !== ID_JAG_TYP) throw unverified(ctx, `typ must be ${ID_JAG_TYP}`, { typ: header.typ });
  if (!(ID_JAG_ALGORITHMS as readonly string[]).includes(String(header.alg))) {
    throw unverified(ctx, `alg must be one of ${ID_JAG_ALGORITHMS.join(", ")}`, { alg: header.alg });
  }
  const pre = claimsSchema.safeParse(payload);
  if (!pre.success) throw unverified(ctx, `a required claim is missing or malformed (${pre.error.issues[0]?.path.join(".") ?? "claims"})`);
  const resourceClaim = Array.isArray(pre.data.resource) ? pre.data.resource[0]! : pre.data.resource;
  const linkId = linkIdFromResource(ctx.config, resourceClaim);
  if (!linkId) throw unverified(ctx, "the resource is not a link of this gateway", { resource: resourceClaim });
  const link = await ctx.prisma.link.findUnique({ where: { id: linkId }, select: { id: true, teamId: true, status: true } });
  const provider = link
    ? await ctx.prisma.trustedIdentityProvider.findUnique({ where: { teamId_issuer: { teamId: link.teamId, issuer: pre.data.iss } } })
    : null;
  if (!link || !provider || link.status !== "active") {
    const detail = !link ? "unknown link" : !provider ? "the link's team does not trust this issuer" : "the link is not active";
    throw unverified(ctx, detail, { linkId, issuer: pre.data.iss });
  }

  const claims = await verifySignedClaims(ctx, assertion, provider);
  // From here the assertion is the provider's own word: refusals go to the team's audit trail.
  const audit = { teamId: link.teamId, linkId: link.id, oauthClientId: clientId, sourceIp: meta.sourceIp ?? null };
  const refuse = async (ruleId: string, error: OAuthError, userId: string | null = null) => {
    await recordOAuthEvent(ctx, { kind: "oauth_refused", ...audit, userId, ruleId, reason: `enterprise assertion from ${provider.issuer}: ${error.description}` });
    return error;
  };

  const now = Math.floor(nowOf(ctx).getTime() / 1000);
  if (claims.iat > now + ID_JAG_CLOCK_SKEW_SECONDS) throw await refuse("oauth.idjag_iat_future", invalidGrant("the assertion was issued in the future"));
  if (claims.exp - claims.iat > ID_JAG_MAX_LIFETIME_SECONDS) {
    throw await refuse("oauth.idjag_lifetime", invalidGrant(`the assertion's lifetime exceeds ${ID_JAG_MAX_LIFETIME_SECONDS} seconds`));
  }
  if (claims.client_id !== clientId) {
    throw await refuse("oauth.idjag_client_mismatch", invalidGrant("the assertion was issued to another client"));
  }
  if (!provider.allowedClientIds.includes(clientId)) {
    throw await refuse("oauth.idjag_client_not_allowed", new OAuthError("unauthorized_client", "this client is not allowed to redeem assertions from this identity provider"));
  }
  const resources = form.getAll("resource");
  if (resources.length > 1 || (resources.length === 1 && linkIdFromResource(ctx.config, resources[0]!) !== link.id)) {
    throw await refuse("oauth.resource_mismatch", new OAuthError("invalid_target", "resource differs from the assertion's resource"));
  }
  let client;
  try {
    client = await resolveClient(ctx, clientId);
  } catch (error) {
    if (isOAuthError(error)) throw await refuse("oauth.idjag_unknown_client", error);
    throw error;
  }

  // Spent before the user is looked up, so a replay is refused whatever happens next.
  const fresh = await ctx.replayGuard.claimOnce(`${provider.id}:${claims.jti}`, claims.exp - now + ID_JAG_CLOCK_SKEW_SECONDS);
  if (!fresh) throw await refuse("oauth.idjag_replay", invalidGrant("the assertion was already used"));

  const userId = await linkEnterpriseIdentity(ctx, provider, claims);
  if (!userId) throw await refuse("oauth.idjag_unlinked", invalidGrant("the enterprise user is not linked to a member of this team"));
  const access = await loadLinkAccess(ctx.prisma, userId, link.id);
  if (!access.allowed) throw await refuse("oauth.not_allowed_on_link", invalidGrant("the member may not use this link"), userId);

  // Scope: what the request asks (or the assertion names), within what the IdP put in the assertion.
  const asked = requestedScopes(form.get("scope") ?? claims.scope ?? null);
  const scopes = claims.scope !== undefined ? intersectScopes(asked, normalizeScopes(claims.scope)) : asked;
  if (scopes.length === 0) throw await refuse("oauth.idjag_scope", new OAuthError("invalid_scope", "none of the requested scopes is granted by the assertion"), userId);

  const nowDate = nowOf(ctx);
  const tokens = await ctx.prisma.$transaction(async (tx) => {
    const grant = await tx.oAuthGrant.create({
      data: { teamId: link.teamId, clientId: client.id, userId, linkId: link.id, scopes, identityProviderId: provider.id, lastUsedAt: nowDate },
    });
    return issueTokens(tx, ctx, grant.id, nowDate, scopes, { withRefresh: false });
  });
  await recordOAuthEvent(ctx, {
    kind: "oauth_grant",
    ...audit,
    userId,
    clientName: client.name,
    reason: `authorized ${client.name} on the link through the enterprise identity provider ${provider.name} (${provider.issuer})`,
  });
  return tokens;
}

async function verifySignedClaims(ctx: OAuthContext, assertion: string, provider: TrustedIdentityProvider): Promise<Claims> {
  const jwks = jwksOf(ctx);
  const options = {
    algorithms: [...ID_JAG_ALGORITHMS],
    issuer: provider.issuer,
    audience: ctx.config.issuer,
    typ: ID_JAG_TYP,
    clockTolerance: ID_JAG_CLOCK_SKEW_SECONDS,
    currentDate: nowOf(ctx),
    requiredClaims: ["iss", "sub", "aud", "exp", "iat", "jti"],
  };
  let getKey: JWTVerifyGetKey;
  try {
    getKey = await jwks.resolve(provider);
  } catch (error) {
    ctx.warn?.("could not load an identity provider's keys", { provider: provider.id, err: (error as Error).message });
    throw unverified(ctx, "the identity provider's keys could not be loaded", { provider: provider.id });
  }
  let payload: JWTPayload;
  try {
    payload = (await jwtVerify(assertion, getKey, options)).payload;
  } catch (error) {
    if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw describeJoseError(ctx, provider, error);
    // Key rotation at the IdP: one refetch, then the same verdict as any unknown key.
    const again = await jwks.refetch(provider).catch(() => null);
    if (!again) throw unverified(ctx, "signed with a key the identity provider does not publish", { provider: provider.id });
    try {
      payload = (await jwtVerify(assertion, again, options)).payload;
    } catch (retryError) {
      throw describeJoseError(ctx, provider, retryError);
    }
  }
  const parsed = claimsSchema.safeParse(payload);
  if (!parsed.success) throw invalidGrant("the assertion lacks or misforms a required claim");
  return parsed.data;
}

/**
 * jose checks the signature before any claim, so an expired or misaddressed assertion has a valid
 * signature and may be described; every other error (no key, alg, bad signature) is pre-verification.
 */
function describeJoseError(ctx: OAuthContext, provider: TrustedIdentityProvider, error: unknown): OAuthError {
  if (error instanceof joseErrors.JWTExpired) return invalidGrant("the assertion has expired");
  if (error instanceof joseErrors.JWTClaimValidationFailed) return invalidGrant(`the assertion's ${error.claim} claim is not valid here`);
  return unverified(ctx, (error as Error)?.message ?? "signature not valid", { provider: provider.id, code: (error as { code?: string })?.code });
}

/**
 * Enterprise identity → member. The (provider, sub) pair is the stable link; the first time, a verified
 * email that equals the email of a member of THIS team links it (never a user of another team, never
 * an unverified email, which any IdP user could set). Returns null when nothing links.
 */
async function linkEnterpriseIdentity(ctx: OAuthContext, provider: TrustedIdentityProvider, claims: Claims): Promise<string | null> {
  const linked = await ctx.prisma.enterpriseIdentity.findUnique({
    where: { providerId_subject: { providerId: provider.id, subject: claims.sub } },
    select: { userId: true },
  });
  if (linked) return linked.userId;
  const verified = claims.email_verified === true || claims.email_verified === "true";
  if (!claims.email || !verified) return null;
  const member = await ctx.prisma.membership.findFirst({
    where: { teamId: provider.teamId, user: { email: { equals: claims.email, mode: "insensitive" } } },
    select: { userId: true },
  });
  if (!member) return null;
  try {
    await ctx.prisma.enterpriseIdentity.create({ data: { providerId: provider.id, subject: claims.sub, userId: member.userId } });
  } catch (error) {
    if ((error as { code?: string }).code !== "P2002") throw error;
    // Linked concurrently: whoever won decides.
    const winner = await ctx.prisma.enterpriseIdentity.findUnique({ where: { providerId_subject: { providerId: provider.id, subject: claims.sub } } });
    return winner?.userId ?? null;
  }
  return member.userId;
}
