import { randomToken, sha256Hex } from "@portcullis/db/keys";
import type { OAuthClient } from "@portcullis/db/client";
import { loadLinkAccess } from "./access.js";
import { recordOAuthEvent } from "./audit.js";
import { resolveClient } from "./clients.js";
import { nowOf, type OAuthContext } from "./context.js";
import { OAuthError, isOAuthError } from "./errors.js";
import { checkCodeChallenge } from "./pkce.js";
import { matchRedirectUri } from "./redirect-uri.js";
import { linkIdFromResource } from "./resource.js";
import { formatScopes, requestedScopes, unionScopes, type OperationScope } from "./scopes.js";

/** A validated authorization request: everything the consent page shows and the approval binds. */
export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  state: string | null;
  codeChallenge: string;
  resource: string;
  linkId: string;
  /** The scopes asked for, normalized (space-separated, closed downwards). */
  scope: string;
  scopes: OperationScope[];
}

export type ParsedAuthorization =
  | { ok: true; request: AuthorizationRequest; client: OAuthClient }
  /**
   * `redirectTo` is set once the client and redirect URI are trusted: later errors go back to the
   * client (RFC 6749 §4.1.2.1). Before that they must be shown to the user, never redirected, or
   * the authorization endpoint becomes an open redirector.
   */
  | { ok: false; error: OAuthError; redirectTo: string | null };

const MAX_STATE = 2000;

/** Validates the query of `/oauth/authorize` (GET) or the consent form's hidden fields (POST). */
export async function parseAuthorizationRequest(ctx: OAuthContext, params: URLSearchParams): Promise<ParsedAuthorization> {
  // A repeated parameter is ambiguous (which redirect_uri was checked, which one is used?): refused
  // before anything else, without redirecting (RFC 6749 §3.1; resource may repeat per RFC 8707).
  for (const key of new Set(params.keys())) {
    if (key !== "resource" && params.getAll(key).length > 1) {
      return { ok: false, error: new OAuthError("invalid_request", `parameter ${key} is repeated`), redirectTo: null };
    }
  }
  // Both entry points (the consent page and its decision form) come here: a NUL byte would otherwise
  // reach PostgreSQL in the client lookup and fail there as a 500.
  for (const [key, value] of params) {
    if (value.includes("\u0000")) return { ok: false, error: new OAuthError("invalid_request", `parameter ${key} contains a NUL byte`), redirectTo: null };
  }
  const clientId = params.get("client_id") ?? "";
  let client: OAuthClient;
  try {
    client = await resolveClient(ctx, clientId);
  } catch (error) {
    if (isOAuthError(error)) return { ok: false, error, redirectTo: null };
    throw error;
  }
  const redirectUri = params.get("redirect_uri") ?? "";
  if (!redirectUri) {
    return { ok: false, error: new OAuthError("invalid_request", "redirect_uri is required"), redirectTo: null };
  }
  if (!matchRedirectUri(client.redirectUris, redirectUri)) {
    return {
      ok: false,
      error: new OAuthError("invalid_request", "redirect_uri does not match any redirect URI registered for this client"),
      redirectTo: null,
    };
  }
  const state = params.get("state");
  const fail = (error: OAuthError): ParsedAuthorization => ({
    ok: false,
    error,
    redirectTo: buildRedirect(redirectUri, { error: error.error, error_description: error.description, state, iss: ctx.config.issuer }),
  });
  if (state !== null && state.length > MAX_STATE) return fail(new OAuthError("invalid_request", "state is too long"));
  if (params.get("response_type") !== "code") {
    return fail(new OAuthError("unsupported_response_type", "only response_type=code is supported"));
  }
  const pkce = checkCodeChallenge(params.get("code_challenge"), params.get("code_challenge_method"));
  if (pkce === "missing_challenge") return fail(new OAuthError("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256"));
  if (pkce === "unsupported_method") return fail(new OAuthError("invalid_request", "code_challenge_method must be S256 (plain is not accepted)"));
  if (pkce) return fail(new OAuthError("invalid_request", "code_challenge is not a base64url SHA-256"));
  const resources = params.getAll("resource");
  if (resources.length !== 1) {
    return fail(new OAuthError("invalid_target", "send exactly one resource parameter: the MCP link URL (RFC 8707)"));
  }
  const resource = resources[0]!;
  const linkId = linkIdFromResource(ctx.config, resource);
  if (!linkId) {
    return fail(new OAuthError("invalid_target", `resource must be an MCP link URL of this server (${ctx.config.gatewayPublicUrl}/mcp/…)`));
  }
  const scopes = requestedScopes(params.get("scope"));
  return {
    ok: true,
    client,
    request: {
      clientId: client.clientId,
      redirectUri,
      state,
      codeChallenge: params.get("code_challenge")!,
      resource,
      linkId,
      // Unknown scopes asked for by generic clients (openid, profile…) are ignored rather than failing
      // the sign-in; the link's scope document stays the real permission (see scopes.ts).
      scope: formatScopes(scopes),
      scopes,
    },
  };
}

/** The form fields that carry a parsed request through the consent page back to the decision. */
export function authorizationRequestToParams(request: AuthorizationRequest): URLSearchParams {
  const params = new URLSearchParams({
    response_type: "code",
    client_id: request.clientId,
    redirect_uri: request.redirectUri,
    code_challenge: request.codeChallenge,
    code_challenge_method: "S256",
    resource: request.resource,
    scope: request.scope,
  });
  if (request.state !== null) params.set("state", request.state);
  return params;
}

/**
 * The member approved. Access is checked again here (never trust that the page was rendered for an
 * allowed member), then a single-use code is stored as a hash, bound to client, member, link,
 * redirect URI, PKCE challenge and resource. Returns the URL to send the browser to.
 */
export async function approveAuthorization(
  ctx: OAuthContext,
  input: { request: AuthorizationRequest; client: OAuthClient; userId: string; sourceIp?: string | null },
): Promise<string> {
  const { request, client } = input;
  const access = await loadLinkAccess(ctx.prisma, input.userId, request.linkId);
  if (!access.allowed) {
    // The page offers no Approve button to such a member, so this is a forged or stale form: the
    // link's team hears of it (a link of no team, or a disabled one, has nobody to tell).
    const link = await ctx.prisma.link.findUnique({ where: { id: request.linkId }, select: { teamId: true } });
    if (link) {
      await recordOAuthEvent(ctx, {
        kind: "oauth_refused",
        teamId: link.teamId,
        linkId: request.linkId,
        userId: input.userId,
        oauthClientId: client.clientId,
        clientName: client.name,
        ruleId: "oauth.not_allowed_on_link",
        reason: "a user without access to the link tried to approve a client for it",
        sourceIp: input.sourceIp ?? null,
      });
    }
    throw new OAuthError("access_denied", "you do not have access to this link", 403);
  }
  // Step-up: what this member already granted this client on this link is kept, so a client asking
  // for mcp:write after a 403 does not lose mcp:read (nor an admin scope granted earlier).
  const scopes = unionScopes(await previousGrantScopes(ctx, client.id, input.userId, request.linkId), request.scopes);
  const code = randomToken(32);
  await ctx.prisma.oAuthAuthorizationCode.create({
    data: {
      codeHash: sha256Hex(code),
      clientId: client.id,
      userId: input.userId,
      linkId: request.linkId,
      redirectUri: request.redirectUri,
      codeChallenge: request.codeChallenge,
      resource: request.resource,
      scopes,
      expiresAt: new Date(nowOf(ctx).getTime() + ctx.config.authorizationCodeTtlSeconds * 1000),
    },
  });
  return buildRedirect(request.redirectUri, { code, state: request.state, iss: ctx.config.issuer });
}

/** The union of the scopes of this member's live grants to this client on this link (none: []). */
export async function previousGrantScopes(ctx: OAuthContext, clientRowId: string, userId: string, linkId: string): Promise<OperationScope[]> {
  const grants = await ctx.prisma.oAuthGrant.findMany({
    where: { clientId: clientRowId, userId, linkId, revokedAt: null },
    select: { scopes: true },
    take: 50,
    orderBy: { createdAt: "desc" },
  });
  return unionScopes(...grants.map((grant) => grant.scopes));
}

/** The member declined: the client hears access_denied; the team's audit hears of it too. */
export async function denyAuthorization(
  ctx: OAuthContext,
  input: { request: AuthorizationRequest; client: OAuthClient; userId: string; sourceIp?: string | null },
): Promise<string> {
  const access = await loadLinkAccess(ctx.prisma, input.userId, input.request.linkId);
  if (access.allowed) {
    await recordOAuthEvent(ctx, {
      kind: "oauth_refused",
      teamId: access.link.teamId,
      linkId: access.link.id,
      userId: input.userId,
      oauthClientId: input.client.clientId,
      clientName: input.client.name,
      ruleId: "oauth.consent_denied",
      reason: "the member declined the authorization request",
      sourceIp: input.sourceIp ?? null,
    });
  }
  return buildRedirect(input.request.redirectUri, {
    error: "access_denied",
    error_description: "the member declined the request",
    state: input.request.state,
    iss: ctx.config.issuer,
  });
}

/** Adds parameters to a redirect URI, keeping any query it already has (RFC 6749 §3.1.2). */
export function buildRedirect(redirectUri: string, params: Record<string, string | null | undefined>): string {
  const url = new URL(redirectUri);
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined) url.searchParams.set(key, value);
  }
  return url.toString();
}
