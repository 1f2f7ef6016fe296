import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { sha256Hex } from "@portcullis/db/keys";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import {
  AccessTokenVerifier,
  approveAuthorization,
  authorizationRequestToParams,
  handleRegistrationRequest,
  handleRevocationRequest,
  handleTokenRequest,
  listAuthorizedApps,
  parseAuthorizationRequest,
  resourceForLink,
  revokeGrantForMember,
  verifyAccessToken,
  type OAuthContext,
} from "../src/index.js";
import { createContext, createTeamWithLinks, pkcePair, postForm, ISSUER } from "./support/fixtures.js";

let db: TestDatabase;
let prisma: PrismaClient;
let ctx: ReturnType<typeof createContext>;
let fx: Awaited<ReturnType<typeof createTeamWithLinks>>;

const REDIRECT = "http://127.0.0.1/callback";

interface TokenBody {
  access_token: string;
  refresh_token: string;
  error?: string;
  [key: string]: unknown;
}

beforeAll(async () => {
  db = await createMetadataDatabase();
  prisma = createPrismaClient(db.url);
  ctx = createContext(prisma);
  fx = await createTeamWithLinks(prisma);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

async function register(name = "Test client", redirectUris = [REDIRECT]): Promise<string> {
  const response = await handleRegistrationRequest(
    ctx,
    new Request(`${ISSUER}/oauth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_name: name, redirect_uris: redirectUris, token_endpoint_auth_method: "client_secret_basic" }),
    }),
  );
  expect(response.status).toBe(201);
  const body = (await response.json()) as { client_id: string; token_endpoint_auth_method: string; client_secret?: string };
  // Public clients only: whatever was asked, no secret is issued.
  expect(body.token_endpoint_auth_method).toBe("none");
  expect(body.client_secret).toBeUndefined();
  return body.client_id;
}

function authorizeParams(clientId: string, challenge: string, overrides: Record<string, string | null> = {}, linkId = fx.linkA.id) {
  const params = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: "http://127.0.0.1:49152/callback",
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource: resourceForLink(ctx.config, linkId),
    state: "st-123",
    scope: "mcp",
  });
  for (const [key, value] of Object.entries(overrides)) {
    if (value === null) params.delete(key);
    else params.set(key, value);
  }
  return params;
}

/** Runs the authorization step as the consent page does, returning the code and the redirect. */
async function authorize(clientId: string, userId: string, challenge: string, context: OAuthContext = ctx, linkId = fx.linkA.id) {
  const parsed = await parseAuthorizationRequest(context, authorizeParams(clientId, challenge, {}, linkId));
  if (!parsed.ok) throw parsed.error;
  const location = new URL(await approveAuthorization(context, { request: parsed.request, client: parsed.client, userId }));
  return { code: location.searchParams.get("code")!, location };
}

async function exchange(values: Record<string, string | undefined>, context: OAuthContext = ctx) {
  const response = await handleTokenRequest(context, postForm("/oauth/token", { grant_type: "authorization_code", ...values }));
  return { status: response.status, body: (await response.json()) as TokenBody };
}

async function refresh(clientId: string, refreshToken: string, extra: Record<string, string> = {}) {
  const response = await handleTokenRequest(ctx, postForm("/oauth/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: refreshToken, ...extra }));
  return { status: response.status, body: (await response.json()) as TokenBody };
}

async function fullGrant(clientId: string, userId = fx.users.owner.id, linkId = fx.linkA.id) {
  const pkce = pkcePair();
  const { code } = await authorize(clientId, userId, pkce.challenge, ctx, linkId);
  const result = await exchange({
    client_id: clientId,
    code,
    code_verifier: pkce.verifier,
    redirect_uri: "http://127.0.0.1:49152/callback",
    resource: resourceForLink(ctx.config, linkId),
  });
  expect(result.status).toBe(200);
  return result.body as unknown as { access_token: string; refresh_token: string; expires_in: number; token_type: string };
}

describe("authorization code flow", () => {
  it("registers, authorizes, exchanges, verifies for its link only, refreshes with rotation", async () => {
    const clientId = await register();
    const pkce = pkcePair();
    const { code, location } = await authorize(clientId, fx.users.owner.id, pkce.challenge);
    // The code comes back to the exact (loopback, port-chosen-at-run-time) redirect URI with state and iss.
    expect(location.origin + location.pathname).toBe("http://127.0.0.1:49152/callback");
    expect(location.searchParams.get("state")).toBe("st-123");
    expect(location.searchParams.get("iss")).toBe(ISSUER);

    const tokens = await exchange({
      client_id: clientId,
      code,
      code_verifier: pkce.verifier,
      redirect_uri: "http://127.0.0.1:49152/callback",
      resource: resourceForLink(ctx.config, fx.linkA.id),
    });
    expect(tokens.status).toBe(200);
    expect(tokens.body).toMatchObject({ token_type: "Bearer", expires_in: 900, scope: "mcp:read mcp:write mcp:admin" });
    const access = tokens.body.access_token;
    const refreshToken = tokens.body.refresh_token;
    expect(access).toMatch(/^pca_/);
    expect(refreshToken).toMatch(/^pcr_/);
    // Stored hashed only.
    expect(await prisma.oAuthToken.count({ where: { tokenHash: access } })).toBe(0);

    const verified = await verifyAccessToken({ prisma, token: access, resource: resourceForLink(ctx.config, fx.linkA.id) });
    expect(verified).toMatchObject({ teamId: fx.team.id, linkId: fx.linkA.id, userId: fx.users.owner.id, clientId, clientName: "Test client" });
    // RFC 8707: the token for link A is worthless on link B.
    expect(await verifyAccessToken({ prisma, token: access, resource: resourceForLink(ctx.config, fx.linkB.id) })).toBeNull();
    expect(await verifyAccessToken({ prisma, token: access, linkId: fx.linkB.id })).toBeNull();

    const rotated = await refresh(clientId, refreshToken, { resource: resourceForLink(ctx.config, fx.linkA.id) });
    expect(rotated.status).toBe(200);
    expect(rotated.body.refresh_token).not.toBe(refreshToken);
    expect(await verifyAccessToken({ prisma, token: rotated.body.access_token, linkId: fx.linkA.id })).not.toBeNull();

    const kinds = ctx.recorder.events.map((event) => event.kind);
    expect(kinds).toContain("oauth_grant");
    expect(kinds).toContain("oauth_refresh");
    const grantEvent = ctx.recorder.events.find((event) => event.kind === "oauth_grant")!;
    expect(grantEvent).toMatchObject({ teamId: fx.team.id, linkId: fx.linkA.id, userId: fx.users.owner.id, oauthClientId: clientId, verdict: "allowed" });

    // "Last used" moves forward when the token is used (throttled, written in the background).
    const grantId = (await prisma.oAuthToken.findFirstOrThrow({ where: { tokenHash: sha256Hex(access) } })).grantId;
    const usedAt = Date.now() + 120_000;
    expect(await verifyAccessToken({ prisma, token: access, linkId: fx.linkA.id, now: usedAt })).not.toBeNull();
    await expect.poll(async () => (await prisma.oAuthGrant.findUniqueOrThrow({ where: { id: grantId } })).lastUsedAt?.getTime()).toBe(usedAt);

    const apps = await listAuthorizedApps(ctx, fx.users.owner.id);
    expect(apps.some((app) => app.clientId === clientId && app.linkName === "A" && app.origin.label === "registered dynamically")).toBe(true);
  });

  it("refuses a refresh token for another link's resource", async () => {
    const clientId = await register();
    const tokens = await fullGrant(clientId);
    const result = await refresh(clientId, tokens.refresh_token, { resource: resourceForLink(ctx.config, fx.linkB.id) });
    expect(result.body.error).toBe("invalid_target");
  });
});

describe("attacks", () => {
  it("refuses a missing or wrong PKCE verifier, and the failed attempt burns the code", async () => {
    const clientId = await register();
    const pkce = pkcePair();
    for (const verifier of [undefined, pkcePair().verifier]) {
      const { code } = await authorize(clientId, fx.users.owner.id, pkce.challenge);
      const bad = await exchange({ client_id: clientId, code, code_verifier: verifier, redirect_uri: "http://127.0.0.1:49152/callback" });
      expect(bad.status).toBe(400);
      expect(bad.body.error).toBe("invalid_grant");
      const retry = await exchange({ client_id: clientId, code, code_verifier: pkce.verifier, redirect_uri: "http://127.0.0.1:49152/callback" });
      expect(retry.body.error).toBe("invalid_grant");
    }
    expect(ctx.recorder.events.some((event) => event.ruleId === "oauth.pkce_mismatch" && event.verdict === "blocked")).toBe(true);
  });

  it("refuses the plain method and a missing challenge, back at the client's redirect URI", async () => {
    const clientId = await register();
    const plain = await parseAuthorizationRequest(ctx, authorizeParams(clientId, "x".repeat(43), { code_challenge_method: "plain" }));
    expect(plain.ok).toBe(false);
    if (plain.ok) return;
    expect(plain.error.error).toBe("invalid_request");
    expect(new URL(plain.redirectTo!).searchParams.get("error")).toBe("invalid_request");
    expect(new URL(plain.redirectTo!).searchParams.get("state")).toBe("st-123");
    const missing = await parseAuthorizationRequest(ctx, authorizeParams(clientId, "", { code_challenge: null, code_challenge_method: null }));
    expect(missing.ok).toBe(false);
  });

  it("a NUL byte in any authorization parameter is invalid_request, not a database error", async () => {
    const clientId = await register();
    const extras: Record<string, string>[] = [{ client_id: `${clientId}\u0000` }, { state: "st\u0000" }, { scope: "a\u0000b" }];
    for (const extra of extras) {
      const parsed = await parseAuthorizationRequest(ctx, authorizeParams(clientId, pkcePair().challenge, extra));
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) {
        expect(parsed.error.error).toBe("invalid_request");
        expect(parsed.redirectTo).toBeNull();
      }
    }
  });

  it("revokes the tokens issued from a code that is presented twice", async () => {
    const clientId = await register();
    const pkce = pkcePair();
    const { code } = await authorize(clientId, fx.users.owner.id, pkce.challenge);
    const values = { client_id: clientId, code, code_verifier: pkce.verifier, redirect_uri: "http://127.0.0.1:49152/callback" };
    const first = await exchange(values);
    expect(first.status).toBe(200);
    expect(await verifyAccessToken({ prisma, token: first.body.access_token, linkId: fx.linkA.id })).not.toBeNull();
    ctx.recorder.revocations.length = 0;
    const second = await exchange(values);
    expect(second.body.error).toBe("invalid_grant");
    expect(await verifyAccessToken({ prisma, token: first.body.access_token, linkId: fx.linkA.id })).toBeNull();
    expect((await refresh(clientId, first.body.refresh_token)).body.error).toBe("invalid_grant");
    expect(ctx.recorder.revocations).toHaveLength(1);
    expect(ctx.recorder.revocations[0]).toMatchObject({ kind: "oauth_grant" });
    expect(ctx.recorder.events.some((event) => event.ruleId === "oauth.code_reuse")).toBe(true);
  });

  it("refuses a redirect URI that does not match, without redirecting to it", async () => {
    const clientId = await register();
    const pkce = pkcePair();
    for (const uri of ["https://evil.example/callback", "http://127.0.0.1:49152/callback/../steal", "http://localhost:49152/callback"]) {
      const parsed = await parseAuthorizationRequest(ctx, authorizeParams(clientId, pkce.challenge, { redirect_uri: uri }));
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.redirectTo).toBeNull();
    }
    // At the token endpoint the redirect_uri must equal the authorization request's.
    const { code } = await authorize(clientId, fx.users.owner.id, pkce.challenge);
    const bad = await exchange({ client_id: clientId, code, code_verifier: pkce.verifier, redirect_uri: "http://127.0.0.1:40000/callback" });
    expect(bad.body.error).toBe("invalid_grant");
  });

  it("refuses a code presented by another client, and unknown clients", async () => {
    const victim = await register("victim");
    const attacker = await register("attacker");
    const pkce = pkcePair();
    const { code } = await authorize(victim, fx.users.owner.id, pkce.challenge);
    const stolen = await exchange({ client_id: attacker, code, code_verifier: pkce.verifier, redirect_uri: "http://127.0.0.1:49152/callback" });
    expect(stolen.body.error).toBe("invalid_grant");
    const unknown = await parseAuthorizationRequest(ctx, authorizeParams("pcc_nope", pkce.challenge));
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) expect(unknown.redirectTo).toBeNull();
  });

  it("refuses repeated parameters without redirecting", async () => {
    const clientId = await register();
    const params = authorizeParams(clientId, pkcePair().challenge);
    params.append("redirect_uri", "https://evil.example/callback");
    const parsed = await parseAuthorizationRequest(ctx, params);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.redirectTo).toBeNull();
  });

  it("refuses a resource that is not one of our links", async () => {
    const clientId = await register();
    const pkce = pkcePair();
    for (const resource of ["https://evil.example/mcp/" + fx.linkA.id, "http://gateway.test:3001/other"]) {
      const parsed = await parseAuthorizationRequest(ctx, authorizeParams(clientId, pkce.challenge, { resource }));
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.error.error).toBe("invalid_target");
    }
    const none = await parseAuthorizationRequest(ctx, authorizeParams(clientId, pkce.challenge, { resource: null }));
    expect(none.ok).toBe(false);
  });

  it("revokes the whole grant when a rotated refresh token is replayed", async () => {
    const clientId = await register();
    const first = await fullGrant(clientId);
    const second = await refresh(clientId, first.refresh_token);
    expect(second.status).toBe(200);
    ctx.recorder.revocations.length = 0;
    const replay = await refresh(clientId, first.refresh_token);
    expect(replay.body.error).toBe("invalid_grant");
    // Everything minted under the grant is dead, including the newest pair.
    expect(await verifyAccessToken({ prisma, token: second.body.access_token, linkId: fx.linkA.id })).toBeNull();
    expect((await refresh(clientId, second.body.refresh_token)).body.error).toBe("invalid_grant");
    expect(ctx.recorder.revocations).toEqual([expect.objectContaining({ kind: "oauth_grant" })]);
    expect(ctx.recorder.events.some((event) => event.ruleId === "oauth.refresh_replay")).toBe(true);
  });

  it("refuses expired access tokens, codes and refresh tokens", async () => {
    const clientId = await register();
    const tokens = await fullGrant(clientId);
    const later = Date.now() + 16 * 60 * 1000;
    expect(await verifyAccessToken({ prisma, token: tokens.access_token, linkId: fx.linkA.id, now: later })).toBeNull();

    const clock = createContext(prisma, { now: () => new Date(Date.now() + 6 * 60 * 1000) });
    const pkce = pkcePair();
    const { code } = await authorize(clientId, fx.users.owner.id, pkce.challenge);
    const expired = await exchange({ client_id: clientId, code, code_verifier: pkce.verifier, redirect_uri: "http://127.0.0.1:49152/callback" }, clock);
    expect(expired.body.error).toBe("invalid_grant");

    const farFuture = createContext(prisma, { now: () => new Date(Date.now() + 31 * 24 * 3600 * 1000) });
    const response = await handleTokenRequest(farFuture, postForm("/oauth/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: tokens.refresh_token }));
    expect(((await response.json()) as { error: string }).error).toBe("invalid_grant");
  });

  it("lets only members with access to the link approve", async () => {
    const clientId = await register();
    const pkce = pkcePair();
    const parsed = await parseAuthorizationRequest(ctx, authorizeParams(clientId, pkce.challenge));
    if (!parsed.ok) throw parsed.error;
    const attempt = (userId: string) => approveAuthorization(ctx, { request: parsed.request, client: parsed.client, userId });
    await expect(attempt(fx.users.viewer.id)).rejects.toMatchObject({ error: "access_denied" });
    await expect(attempt(fx.users.member.id)).rejects.toMatchObject({ error: "access_denied" });
    const outsider = await createTeamWithLinks(prisma);
    await expect(attempt(outsider.users.owner.id)).rejects.toMatchObject({ error: "access_denied" });
    expect(ctx.recorder.events.filter((event) => event.ruleId === "oauth.not_allowed_on_link" && event.teamId === fx.team.id)).toHaveLength(3);
    await expect(attempt(fx.users.admin.id)).resolves.toMatch(/code=/);
    await prisma.linkAccess.create({ data: { linkId: fx.linkA.id, userId: fx.users.member.id } });
    await expect(attempt(fx.users.member.id)).resolves.toMatch(/code=/);
    // Losing the link later kills the member's tokens without an explicit revocation.
    const tokens = await fullGrant(clientId, fx.users.member.id);
    expect(await verifyAccessToken({ prisma, token: tokens.access_token, linkId: fx.linkA.id })).not.toBeNull();
    await prisma.linkAccess.delete({ where: { linkId_userId: { linkId: fx.linkA.id, userId: fx.users.member.id } } });
    expect(await verifyAccessToken({ prisma, token: tokens.access_token, linkId: fx.linkA.id })).toBeNull();
    expect((await refresh(clientId, tokens.refresh_token)).body.error).toBe("invalid_grant");
  });

  it("carries the request through the consent form unchanged", async () => {
    const clientId = await register();
    const pkce = pkcePair();
    const parsed = await parseAuthorizationRequest(ctx, authorizeParams(clientId, pkce.challenge));
    if (!parsed.ok) throw parsed.error;
    const again = await parseAuthorizationRequest(ctx, authorizationRequestToParams(parsed.request));
    expect(again.ok && again.request).toEqual(parsed.request);
  });
});

describe("revocation", () => {
  it("RFC 7009: a refresh token takes its grant with it; another client's request changes nothing", async () => {
    const clientId = await register();
    const other = await register("other");
    const tokens = await fullGrant(clientId);
    const foreign = await handleRevocationRequest(ctx, postForm("/oauth/revoke", { token: tokens.refresh_token, client_id: other }));
    expect(foreign.status).toBe(200);
    expect(await verifyAccessToken({ prisma, token: tokens.access_token, linkId: fx.linkA.id })).not.toBeNull();
    const own = await handleRevocationRequest(ctx, postForm("/oauth/revoke", { token: tokens.refresh_token, client_id: clientId }));
    expect(own.status).toBe(200);
    expect(await verifyAccessToken({ prisma, token: tokens.access_token, linkId: fx.linkA.id })).toBeNull();
    const unknown = await handleRevocationRequest(ctx, postForm("/oauth/revoke", { token: "pcr_unknown", client_id: clientId }));
    expect(unknown.status).toBe(200);
  });

  it("the member's revoke button kills the grant and reaches cached verifiers through the broadcast", async () => {
    const clientId = await register();
    const tokens = await fullGrant(clientId, fx.users.admin.id);
    const verifier = new AccessTokenVerifier({ prisma }, { ttlMs: 60_000 });
    expect(await verifier.verify(tokens.access_token, fx.linkA.id)).not.toBeNull();
    const grant = (await listAuthorizedApps(ctx, fx.users.admin.id)).find((app) => app.clientId === clientId)!;
    // Another member cannot revoke it.
    expect(await revokeGrantForMember(ctx, { grantId: grant.grantId, userId: fx.users.owner.id })).toBe(false);
    ctx.recorder.revocations.length = 0;
    expect(await revokeGrantForMember(ctx, { grantId: grant.grantId, userId: fx.users.admin.id })).toBe(true);
    // The cache still answers until the broadcast arrives; applying it drops the entry.
    expect(await verifier.verify(tokens.access_token, fx.linkA.id)).not.toBeNull();
    for (const message of ctx.recorder.revocations) if (message.kind === "oauth_grant") verifier.invalidate({ grantId: message.grantId });
    expect(await verifier.verify(tokens.access_token, fx.linkA.id)).toBeNull();
    expect((await listAuthorizedApps(ctx, fx.users.admin.id)).some((app) => app.grantId === grant.grantId)).toBe(false);
    expect(ctx.recorder.events.some((event) => event.kind === "oauth_revoke" && event.linkId === fx.linkA.id)).toBe(true);
  });
});
