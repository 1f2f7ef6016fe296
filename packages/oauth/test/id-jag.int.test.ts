import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
import { Redis } from "ioredis";
import { SignJWT, base64url, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testRedisUrl } from "@portcullis/db/testing";
import { GatewayWorld, connectClient } from "../../../apps/gateway/test/fixtures.js";
import {
  JWKS_REFETCH_COOLDOWN_MS,
  JWT_BEARER_GRANT,
  JwksCache,
  addIdentityProvider,
  authorizationServerMetadata,
  createOAuthConfig,
  createRedisReplayGuard,
  handleRegistrationRequest,
  handleTokenRequest,
  listIdentityProviders,
  removeIdentityProvider,
  listAuthorizedApps,
  revokeGrantForMember,
  verifyAccessToken,
  type OAuthContext,
} from "../src/index.js";
import { createContext } from "./support/fixtures.js";
import { TestIdentityProvider } from "./support/test-idp.js";

/**
 * Enterprise-managed authorization end to end: a test-run identity provider (JWKS + RFC 8693 token
 * exchange signing ES256 ID-JAGs), the authorization server's token endpoint (the package's Fetch
 * handler, as /oauth/token serves it), real PostgreSQL and Redis, and the real gateway reached by a
 * real MCP client with the issued token. Every negative checks the OAuth error AND that no token row
 * was written.
 */
// The v2 client (SEP-990 helpers) is a dependency of the gateway, not of this package.
const gatewayRequire = createRequire(path.resolve(import.meta.dirname, "../../../apps/gateway/package.json"));
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- typed at the use site
const v2: any = await import(gatewayRequire.resolve("@modelcontextprotocol/client"));

const ISSUER = "http://localhost:3000";
const GATEWAY = "http://localhost:3001";
const permissive = { requireHttps: false, isAddressAllowed: () => true, maxBytes: 5 * 1024, timeoutMs: 5_000 };

let world: GatewayWorld;
let redis: Redis;
let idp: TestIdentityProvider;
let otherIdp: TestIdentityProvider;
let ctx: OAuthContext & { recorder: { events: { kind: string; ruleId?: string | null; teamId: string }[] } };
let clock = Date.now();
let jwks: JwksCache;
let clientId: string;
let otherClientId: string;
let linkA: { linkId: string };
let linkA2: { linkId: string };
let linkB: { linkId: string };
let teamB: { teamId: string; userId: string; connectionId: string };
let providerId: string;
let gatewayUrl: string;
let ownerEmail: string;

const resourceOf = (linkId: string) => `${GATEWAY}/mcp/${linkId}`;
/** The one answer for every refusal before the assertion's signature verifies. */
const UNVERIFIED = "the assertion could not be verified for this resource";

async function register(name: string): Promise<string> {
  const response = await handleRegistrationRequest(
    ctx,
    new Request(`${ISSUER}/oauth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_name: name, redirect_uris: ["http://127.0.0.1/cb"], application_type: "native" }),
    }),
  );
  return ((await response.json()) as { client_id: string }).client_id;
}

async function redeem(assertion: string, values: Record<string, string> = {}, id = clientId) {
  const body = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion, client_id: id, ...values });
  const response = await handleTokenRequest(
    ctx,
    new Request(`${ISSUER}/oauth/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: body.toString() }),
  );
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

const tokenCount = () => world.prisma.oAuthToken.count();

/** Redeems and expects a refusal with `error`, and that nothing was issued. */
async function expectRefused(assertion: string, error: string, values: Record<string, string> = {}, id = clientId) {
  const before = await tokenCount();
  const result = await redeem(assertion, values, id);
  expect(result.body.error, JSON.stringify(result.body)).toBe(error);
  expect(result.body.access_token).toBeUndefined();
  expect(await tokenCount()).toBe(before);
  return result.body;
}

const jagFor = (sub: string, overrides: { resource?: string; clientId?: string; scope?: string; audience?: string } = {}, extra = {}) =>
  idp.idJag(
    {
      sub,
      audience: overrides.audience ?? ISSUER,
      resource: overrides.resource ?? resourceOf(linkA.linkId),
      clientId: overrides.clientId ?? clientId,
      ...(overrides.scope ? { scope: overrides.scope } : {}),
      now: Math.floor(clock / 1000),
    },
    extra,
  );

beforeAll(async () => {
  world = await GatewayWorld.create();
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  idp = await new TestIdentityProvider().start();
  otherIdp = await new TestIdentityProvider().start();
  jwks = new JwksCache({ policy: permissive, now: () => clock });
  ctx = createContext(world.prisma, {
    config: createOAuthConfig({ issuer: ISSUER, gatewayPublicUrl: GATEWAY }),
    fetchPolicy: permissive,
    replayGuard: createRedisReplayGuard(redis, `idjag-test-${randomUUID()}:`),
    jwksCache: jwks,
    now: () => new Date(clock),
  }) as typeof ctx;
  clientId = await register("Enterprise agent");
  otherClientId = await register("Another client");
  linkA = await world.addLink({ access: "read" });
  linkA2 = await world.addLink({ access: "read" });
  teamB = await world.addTeam();
  linkB = await world.addLink({ access: "read" }, teamB);
  ownerEmail = (await world.prisma.user.findUniqueOrThrow({ where: { id: world.userId } })).email;
  idp.users.set("alice", { email: ownerEmail.toUpperCase(), emailVerified: true });
  idp.users.set("mallory-unverified", { email: ownerEmail, emailVerified: false });
  idp.users.set("nobody", {});
  const teamBOwnerEmail = (await world.prisma.user.findUniqueOrThrow({ where: { id: teamB.userId } })).email;
  idp.users.set("bob-of-team-b", { email: teamBOwnerEmail, emailVerified: true });
  // Team A trusts `idp` (by URL); team B trusts `otherIdp` (inline keys). Added through the same
  // operation the dashboard and the CLI use, which records a config change.
  providerId = (
    await addIdentityProvider(world.prisma, { teamId: world.teamId, actorUserId: world.userId, via: "cli" }, {
      name: "Test IdP",
      issuer: "placeholder",
      jwksUri: "https://idp.example.com/jwks.json",
      allowedClientIds: [clientId],
    })
  ).id;
  // The operation only accepts https JWKS URIs (production rule); the test IdP is plain http on loopback.
  await world.prisma.trustedIdentityProvider.update({ where: { id: providerId }, data: { issuer: idp.issuer, jwksUri: idp.jwksUri } });
  await addIdentityProvider(world.prisma, { teamId: teamB.teamId, actorUserId: teamB.userId }, {
    name: "Other IdP",
    issuer: otherIdp.issuer,
    jwks: otherIdp.publicJwks,
    allowedClientIds: [clientId],
  });
  gatewayUrl = (await world.startGateway()).url;
}, 120_000);

afterAll(async () => {
  await Promise.all([idp?.stop(), otherIdp?.stop()]);
  redis?.disconnect();
  await world?.close();
});

describe("metadata", () => {
  it("advertises the jwt-bearer grant", () => {
    expect(authorizationServerMetadata(ctx.config).grant_types_supported).toContain(JWT_BEARER_GRANT);
  });
});

describe("happy path", () => {
  it("an ID-JAG from the IdP's token exchange becomes a link token a real MCP client reads with", async () => {
    // The client's side with the v2 SDK's SEP-990 helpers: IdP discovery + RFC 8693 token exchange,
    // then the jwt-bearer grant at our token endpoint (the package's handler, as /oauth/token serves it).
    const grant = (await v2.discoverAndRequestJwtAuthGrant({
      idpUrl: idp.url,
      audience: ISSUER,
      resource: resourceOf(linkA.linkId),
      idToken: "idtoken:alice",
      clientId,
      scope: "mcp:read",
    })) as { jwtAuthGrant: string };
    let tokenResponse: Record<string, string> | undefined;
    const tokens = (await v2.exchangeJwtAuthGrant({
      tokenEndpoint: `${ISSUER}/oauth/token`,
      jwtAuthGrant: grant.jwtAuthGrant,
      clientId,
      // Public client (see id-jag.ts): no secret, client_id in the body.
      authMethod: "none",
      fetchFn: async (url: string | URL, init?: RequestInit) => {
        const response = await handleTokenRequest(ctx, new Request(url, init));
        tokenResponse = (await response.clone().json()) as Record<string, string>;
        return response;
      },
    })) as { access_token: string; token_type: string; scope?: string };
    const result: { status: number; body: Record<string, string | undefined> } = {
      status: 200,
      body: { ...(tokenResponse as Record<string, string> | undefined), access_token: tokens.access_token },
    };
    expect(tokens.token_type).toBe("Bearer");
    expect(tokens.scope).toBe("mcp:read");
    // The IdP stays in control: no refresh token, the client asks the IdP again.
    expect(result.body.refresh_token).toBeUndefined();
    // First sign-in linked the enterprise identity by verified email (case-insensitive) to the owner.
    const linked = await world.prisma.enterpriseIdentity.findMany({ where: { providerId } });
    expect(linked).toEqual([expect.objectContaining({ subject: "alice", userId: world.userId })]);
    const verified = await verifyAccessToken({ prisma: world.prisma, token: result.body.access_token!, linkId: linkA.linkId });
    expect(verified).toMatchObject({ userId: world.userId, teamId: world.teamId, linkId: linkA.linkId, scopes: ["mcp:read"] });
    expect(ctx.recorder.events.at(-1)).toMatchObject({ kind: "oauth_grant", teamId: world.teamId });

    const client = await connectClient(`${gatewayUrl}/mcp/${linkA.linkId}`, result.body.access_token!, "enterprise-client");
    try {
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name)).toContain("execute_sql");
      const read = (await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT name FROM media_type ORDER BY media_type_id LIMIT 2" } })) as {
        isError?: boolean;
        content: { text: string }[];
      };
      expect(read.isError ?? false).toBe(false);
      expect(read.content[0]!.text).toContain("MPEG audio file");
    } finally {
      await client.close();
    }
    // The token is for that link only (RFC 8707).
    expect(await verifyAccessToken({ prisma: world.prisma, token: result.body.access_token!, linkId: linkA2.linkId })).toBeNull();
  });

  it("the member sees the enterprise grant under Authorized applications and can revoke it", async () => {
    const result = await redeem(await jagFor("alice"));
    const verified = await verifyAccessToken({ prisma: world.prisma, token: result.body.access_token!, linkId: linkA.linkId });
    const apps = await listAuthorizedApps(ctx, world.userId);
    expect(apps.map((a) => a.grantId)).toContain(verified!.grantId);
    expect(await revokeGrantForMember(ctx, { grantId: verified!.grantId, userId: world.userId })).toBe(true);
    expect(await verifyAccessToken({ prisma: world.prisma, token: result.body.access_token!, linkId: linkA.linkId })).toBeNull();
  });

  it("a linked subject signs in again by sub alone; scope is what was asked within the assertion's scope", async () => {
    const result = await redeem(await jagFor("alice", { scope: "mcp:read mcp:write" }), { scope: "mcp:admin" });
    expect(result.status).toBe(200);
    // Asked admin (⇒ write, read), the assertion allows read+write: read+write.
    expect(result.body.scope).toBe("mcp:read mcp:write");
  });
});

describe("refusals (nothing issued)", () => {
  it("typ other than oauth-id-jag+jwt", async () => {
    const token = await idp.sign({ iss: idp.issuer, sub: "alice", aud: ISSUER, resource: resourceOf(linkA.linkId), client_id: clientId, jti: randomUUID(), iat: Math.floor(clock / 1000), exp: Math.floor(clock / 1000) + 300 }, { typ: "JWT" });
    expect((await expectRefused(token, "invalid_grant")).error_description).toBe(UNVERIFIED);
  });

  it("alg none", async () => {
    const now = Math.floor(clock / 1000);
    const header = base64url.encode(JSON.stringify({ alg: "none", typ: "oauth-id-jag+jwt" }));
    const payload = base64url.encode(JSON.stringify({ iss: idp.issuer, sub: "alice", aud: ISSUER, resource: resourceOf(linkA.linkId), client_id: clientId, jti: randomUUID(), iat: now, exp: now + 300 }));
    expect((await expectRefused(`${header}.${payload}.`, "invalid_grant")).error_description).toBe(UNVERIFIED);
  });

  it("HS256 signed with the IdP's public JWKS as the shared secret", async () => {
    const now = Math.floor(clock / 1000);
    const secret = new TextEncoder().encode(JSON.stringify(idp.publicJwks));
    const forged = await new SignJWT({ iss: idp.issuer, sub: "alice", aud: ISSUER, resource: resourceOf(linkA.linkId), client_id: clientId, jti: randomUUID(), iat: now, exp: now + 300 })
      .setProtectedHeader({ alg: "HS256", typ: "oauth-id-jag+jwt", kid: idp.publicJwks.keys[0]!.kid! })
      .sign(secret);
    expect((await expectRefused(forged, "invalid_grant")).error_description).toBe(UNVERIFIED);
  });

  it("a signature by a key the IdP never published", async () => {
    const impostor = await new TestIdentityProvider().start();
    try {
      const token = await impostor.sign({ iss: idp.issuer, sub: "alice", aud: ISSUER, resource: resourceOf(linkA.linkId), client_id: clientId, jti: randomUUID(), iat: Math.floor(clock / 1000), exp: Math.floor(clock / 1000) + 300 }, { kid: idp.publicJwks.keys[0]!.kid! });
      expect((await expectRefused(token, "invalid_grant")).error_description).toBe(UNVERIFIED);
    } finally {
      await impostor.stop();
    }
  });

  it("an issuer no team trusts, and one trusted by another team only", async () => {
    const stranger = await new TestIdentityProvider().start();
    try {
      const a = await stranger.idJag({ sub: "alice", audience: ISSUER, resource: resourceOf(linkA.linkId), clientId });
      expect((await expectRefused(a, "invalid_grant")).error_description).toBe(UNVERIFIED);
    } finally {
      await stranger.stop();
    }
    // otherIdp is trusted by team B: its assertion for a link of team A is refused the same way.
    otherIdp.users.set("alice", { email: ownerEmail, emailVerified: true });
    const b = await otherIdp.idJag({ sub: "alice", audience: ISSUER, resource: resourceOf(linkA.linkId), clientId });
    expect((await expectRefused(b, "invalid_grant")).error_description).toBe(UNVERIFIED);
  });

  it("before the signature verifies, one byte-identical answer: no oracle for links, teams or trusted issuers", async () => {
    // The reviewer's four cases, each signed by a key nobody published: a link whose team trusts the
    // issuer, another team's link with the same issuer, an issuer the link's team does not trust, and
    // a link that does not exist. Any difference would tell an unauthenticated caller which links
    // exist and which issuer their team trusts.
    const { privateKey } = await generateKeyPair("ES256");
    const now = Math.floor(clock / 1000);
    const forged = (iss: string, linkId: string) =>
      new SignJWT({ resource: resourceOf(linkId), client_id: clientId, jti: randomUUID() })
        .setProtectedHeader({ alg: "ES256", typ: "oauth-id-jag+jwt" })
        .setIssuer(iss)
        .setSubject("alice")
        .setAudience(ISSUER)
        .setIssuedAt(now)
        .setExpirationTime(now + 300)
        .sign(privateKey);
    const bodies = new Set<string>();
    for (const [iss, linkId] of [
      [idp.issuer, linkA.linkId],
      [idp.issuer, linkB.linkId],
      ["https://login.other.example", linkA.linkId],
      [idp.issuer, randomUUID()],
    ] as const) {
      const before = await tokenCount();
      const body = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion: await forged(iss, linkId), client_id: clientId });
      const response = await handleTokenRequest(
        ctx,
        new Request(`${ISSUER}/oauth/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: body.toString() }),
      );
      expect(response.status).toBe(400);
      bodies.add(await response.text());
      expect(await tokenCount()).toBe(before);
    }
    expect([...bodies]).toHaveLength(1);
    expect(JSON.parse([...bodies][0]!)).toEqual({ error: "invalid_grant", error_description: UNVERIFIED });
  });

  it("wrong audience", async () => {
    expect((await expectRefused(await jagFor("alice", { audience: "https://other-as.example.com" }), "invalid_grant")).error_description).toMatch(/aud/);
  });

  it("resource of another team's link, of an unknown link, of another server — one answer, no oracle", async () => {
    const answers = new Set<string>();
    for (const resource of [resourceOf(linkB.linkId), resourceOf(randomUUID()), `https://elsewhere.example.com/mcp/${linkA.linkId}`]) {
      answers.add((await expectRefused(await jagFor("alice", { resource }), "invalid_grant")).error_description!);
    }
    expect([...answers]).toEqual([UNVERIFIED]);
  });

  it("client_id claim differs from the authenticated client; a client the admin did not allow", async () => {
    await expectRefused(await jagFor("alice", { clientId: otherClientId }), "invalid_grant");
    await expectRefused(await jagFor("alice", { clientId: otherClientId }), "unauthorized_client", {}, otherClientId);
    expect(ctx.recorder.events.some((e) => e.ruleId === "oauth.idjag_client_not_allowed" && e.teamId === world.teamId)).toBe(true);
  });

  it("expired, issued in the future, lifetime over ten minutes", async () => {
    const now = Math.floor(clock / 1000);
    await expectRefused(await jagFor("alice", {}, { iat: now - 400, exp: now - 100 }), "invalid_grant");
    await expectRefused(await jagFor("alice", {}, { iat: now + 300, exp: now + 600 }), "invalid_grant");
    await expectRefused(await jagFor("alice", {}, { iat: now, exp: now + 3600 }), "invalid_grant");
  });

  it("a replayed jti", async () => {
    const jag = await jagFor("alice");
    expect((await redeem(jag)).status).toBe(200);
    expect((await expectRefused(jag, "invalid_grant")).error_description).toMatch(/already used/);
  });

  it("unlinked subjects: no email, unverified email, verified email of another team's member", async () => {
    await expectRefused(await jagFor("nobody"), "invalid_grant");
    await expectRefused(await jagFor("mallory-unverified"), "invalid_grant");
    await expectRefused(await jagFor("bob-of-team-b"), "invalid_grant");
    expect(await world.prisma.enterpriseIdentity.count({ where: { subject: { in: ["nobody", "mallory-unverified", "bob-of-team-b"] } } })).toBe(0);
  });

  it("a member without access to the link", async () => {
    const user = await world.prisma.user.create({ data: { email: `member-${randomUUID()}@example.com` } });
    await world.prisma.membership.create({ data: { teamId: world.teamId, userId: user.id, role: "member" } });
    idp.users.set("carol", { email: user.email, emailVerified: true });
    await expectRefused(await jagFor("carol"), "invalid_grant");
  });

  it("a disabled link", async () => {
    await world.prisma.link.update({ where: { id: linkA2.linkId }, data: { status: "disabled" } });
    await expectRefused(await jagFor("alice", { resource: resourceOf(linkA2.linkId) }), "invalid_grant");
    await world.prisma.link.update({ where: { id: linkA2.linkId }, data: { status: "active" } });
  });
});

describe("key rotation", () => {
  it("an unknown kid refetches the JWKS once, then the cooldown holds further refetches", async () => {
    expect((await redeem(await jagFor("alice"))).status).toBe(200);
    const before = idp.jwksFetches;
    await idp.rotate();
    // The cached set predates the new key: one refetch finds it.
    clock += JWKS_REFETCH_COOLDOWN_MS + 1;
    expect((await redeem(await jagFor("alice"))).status).toBe(200);
    expect(idp.jwksFetches).toBe(before + 1);
    // A kid the IdP never published: refused, and no new fetch within the cooldown…
    await expectRefused(await idp.sign({ iss: idp.issuer, sub: "alice", aud: ISSUER, resource: resourceOf(linkA.linkId), client_id: clientId, jti: randomUUID(), iat: Math.floor(clock / 1000), exp: Math.floor(clock / 1000) + 300 }, { kid: "never-published" }), "invalid_grant");
    expect(idp.jwksFetches).toBe(before + 1);
    // …and exactly one after it.
    clock += JWKS_REFETCH_COOLDOWN_MS + 1;
    await expectRefused(await idp.sign({ iss: idp.issuer, sub: "alice", aud: ISSUER, resource: resourceOf(linkA.linkId), client_id: clientId, jti: randomUUID(), iat: Math.floor(clock / 1000), exp: Math.floor(clock / 1000) + 300 }, { kid: "never-published-2" }), "invalid_grant");
    expect(idp.jwksFetches).toBe(before + 2);
  });
});

describe("admin", () => {
  it("rejects private or symmetric keys, http JWKS URIs and both key sources", async () => {
    const actor = { teamId: world.teamId, actorUserId: world.userId };
    const base = { name: "x", issuer: "https://x.example.com", allowedClientIds: [clientId] };
    await expect(addIdentityProvider(world.prisma, actor, { ...base, jwks: { keys: [{ kty: "oct", k: "c2VjcmV0" }] } })).rejects.toThrow(/public keys only/);
    await expect(addIdentityProvider(world.prisma, actor, { ...base, jwks: { keys: [{ kty: "EC", crv: "P-256", x: "a", y: "b", d: "c" }] } })).rejects.toThrow(/public keys only/);
    await expect(addIdentityProvider(world.prisma, actor, { ...base, jwksUri: "http://169.254.169.254/jwks" })).rejects.toThrow(/https/);
    await expect(addIdentityProvider(world.prisma, actor, { ...base, jwksUri: "https://x.example.com/jwks", jwks: idp.publicJwks })).rejects.toThrow(/not both/);
    await expect(removeIdentityProvider(world.prisma, { teamId: teamB.teamId, actorUserId: teamB.userId }, providerId)).rejects.toThrow(/no such identity provider/);
    expect((await listIdentityProviders(world.prisma, world.teamId)).map((p) => p.id)).toContain(providerId);
  });

  it("removing the provider revokes the tokens issued through it", async () => {
    const result = await redeem(await jagFor("alice"));
    expect(result.status).toBe(200);
    const { revokedGrantIds } = await removeIdentityProvider(world.prisma, { teamId: world.teamId, actorUserId: world.userId }, providerId);
    expect(revokedGrantIds.length).toBeGreaterThan(0);
    expect(await verifyAccessToken({ prisma: world.prisma, token: result.body.access_token!, linkId: linkA.linkId })).toBeNull();
    expect(await world.prisma.auditOutbox.count({ where: { teamId: world.teamId, event: { contains: "identity_provider.remove" } } })).toBe(1);
    await expectRefused(await jagFor("alice"), "invalid_grant");
  });
});
