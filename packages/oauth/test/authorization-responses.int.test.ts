import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import {
  approveAuthorization,
  authorizationServerMetadata,
  denyAuthorization,
  handleRegistrationRequest,
  handleTokenRequest,
  parseAuthorizationRequest,
  resourceForLink,
  revokeGrant,
  verifyAccessToken,
} from "../src/index.js";
import { createContext, createTeamWithLinks, ISSUER, pkcePair, postForm } from "./support/fixtures.js";

/**
 * RFC 9207 (`iss` on every authorization response, success and error) and step-up scope
 * accumulation at the authorization server: what is granted, what re-authorization adds, what
 * refresh keeps, and what the verifier hands the gateway.
 */
let db: TestDatabase;
let prisma: PrismaClient;
let ctx: ReturnType<typeof createContext>;
let fx: Awaited<ReturnType<typeof createTeamWithLinks>>;
let clientId: string;
const REDIRECT = "http://127.0.0.1:50123/cb";

beforeAll(async () => {
  db = await createMetadataDatabase();
  prisma = createPrismaClient(db.url);
  ctx = createContext(prisma);
  fx = await createTeamWithLinks(prisma);
  const response = await handleRegistrationRequest(
    ctx,
    new Request(`${ISSUER}/oauth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_name: "Step-up client", redirect_uris: ["http://127.0.0.1/cb"] }),
    }),
  );
  clientId = ((await response.json()) as { client_id: string }).client_id;
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

function params(overrides: Record<string, string | null> = {}, linkId = fx.linkA.id) {
  const p = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: pkcePair().challenge,
    code_challenge_method: "S256",
    resource: resourceForLink(ctx.config, linkId),
    state: "s1",
  });
  for (const [key, value] of Object.entries(overrides)) {
    if (value === null) p.delete(key);
    else p.set(key, value);
  }
  return p;
}

async function signIn(scope: string | null, userId = fx.users.owner.id, linkId = fx.linkA.id) {
  const pkce = pkcePair();
  const parsed = await parseAuthorizationRequest(ctx, params({ scope, code_challenge: pkce.challenge }, linkId));
  if (!parsed.ok) throw parsed.error;
  const location = new URL(await approveAuthorization(ctx, { request: parsed.request, client: parsed.client, userId }));
  const response = await handleTokenRequest(
    ctx,
    postForm("/oauth/token", {
      grant_type: "authorization_code",
      client_id: clientId,
      code: location.searchParams.get("code")!,
      code_verifier: pkce.verifier,
      redirect_uri: REDIRECT,
      resource: resourceForLink(ctx.config, linkId),
    }),
  );
  expect(response.status).toBe(200);
  return (await response.json()) as { access_token: string; refresh_token: string; scope: string };
}

async function scopesOf(token: string, linkId = fx.linkA.id) {
  return (await verifyAccessToken({ prisma, token, linkId }))?.scopes;
}

describe("RFC 9207: iss on every authorization response", () => {
  it("is advertised", () => {
    expect(authorizationServerMetadata(ctx.config).authorization_response_iss_parameter_supported).toBe(true);
  });

  it("is on the success redirect and on the deny redirect", async () => {
    const parsed = await parseAuthorizationRequest(ctx, params());
    if (!parsed.ok) throw parsed.error;
    const approved = new URL(await approveAuthorization(ctx, { request: parsed.request, client: parsed.client, userId: fx.users.owner.id }));
    expect(approved.searchParams.get("iss")).toBe(ISSUER);
    expect(approved.searchParams.get("code")).toBeTruthy();
    const denied = new URL(await denyAuthorization(ctx, { request: parsed.request, client: parsed.client, userId: fx.users.owner.id }));
    expect(denied.searchParams.get("error")).toBe("access_denied");
    expect(denied.searchParams.get("iss")).toBe(ISSUER);
    expect(denied.searchParams.get("state")).toBe("s1");
  });

  it("is on every error redirect to the client", async () => {
    const cases: [Record<string, string | null>, string][] = [
      [{ response_type: "token" }, "unsupported_response_type"],
      [{ code_challenge: null }, "invalid_request"],
      [{ code_challenge_method: "plain" }, "invalid_request"],
      [{ code_challenge: "short" }, "invalid_request"],
      [{ state: "x".repeat(2001) }, "invalid_request"],
      [{ resource: "https://elsewhere.example.com/mcp/x" }, "invalid_target"],
      [{ resource: null }, "invalid_target"],
    ];
    for (const [overrides, error] of cases) {
      const parsed = await parseAuthorizationRequest(ctx, params(overrides));
      expect(parsed.ok).toBe(false);
      if (parsed.ok) continue;
      expect(parsed.redirectTo, JSON.stringify(overrides)).not.toBeNull();
      const url = new URL(parsed.redirectTo!);
      expect(url.searchParams.get("error")).toBe(error);
      expect(url.searchParams.get("iss")).toBe(ISSUER);
    }
  });
});

describe("step-up scopes", () => {
  it("advertises mcp:read, mcp:write, mcp:admin", () => {
    expect(authorizationServerMetadata(ctx.config).scopes_supported).toEqual(["mcp:read", "mcp:write", "mcp:admin"]);
  });

  it("existing clients: no scope, `mcp`, or only unknown scopes get all three (the link scope stays the ceiling)", async () => {
    for (const scope of [null, "mcp", "openid profile"]) {
      const tokens = await signIn(scope, fx.users.admin.id, fx.linkB.id);
      expect(tokens.scope).toBe("mcp:read mcp:write mcp:admin");
      expect(await scopesOf(tokens.access_token, fx.linkB.id)).toEqual(["mcp:read", "mcp:write", "mcp:admin"]);
    }
  });

  it("grants what is asked; re-authorizing unites it with the earlier grant; refresh keeps it", async () => {
    const member = await prisma.user.create({ data: { email: `stepper-${Date.now()}@example.com` } });
    await prisma.membership.create({ data: { teamId: fx.team.id, userId: member.id, role: "admin" } });
    const first = await signIn("mcp:read", member.id);
    expect(first.scope).toBe("mcp:read");
    expect(await scopesOf(first.access_token)).toEqual(["mcp:read"]);
    // The 403 challenge said scope="mcp:write": the client asks for it (alone, or with what it had).
    const second = await signIn("mcp:write", member.id);
    expect(second.scope).toBe("mcp:read mcp:write");
    expect(await scopesOf(second.access_token)).toEqual(["mcp:read", "mcp:write"]);
    // Asking for less later does not take away what the member already granted this client.
    const third = await signIn("mcp:read", member.id);
    expect(third.scope).toBe("mcp:read mcp:write");
    const refreshed = await handleTokenRequest(
      ctx,
      postForm("/oauth/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: third.refresh_token, scope: "mcp:admin" }),
    );
    const body = (await refreshed.json()) as { access_token: string; scope: string };
    // A refresh never widens (RFC 6749 §6): the scope parameter cannot add admin.
    expect(body.scope).toBe("mcp:read mcp:write");
    expect(await scopesOf(body.access_token)).toEqual(["mcp:read", "mcp:write"]);
    // The earlier, narrower token keeps its own scope.
    expect(await scopesOf(first.access_token)).toEqual(["mcp:read"]);
  });

  it("unites only live grants of the same client, member and link", async () => {
    const member = await prisma.user.create({ data: { email: `isolated-${Date.now()}@example.com` } });
    await prisma.membership.create({ data: { teamId: fx.team.id, userId: member.id, role: "admin" } });
    const wide = await signIn("mcp:admin", member.id);
    const grant = await prisma.oAuthGrant.findFirstOrThrow({ where: { userId: member.id }, orderBy: { createdAt: "desc" } });
    await revokeGrant(ctx, { grantId: grant.id, reason: "test" });
    expect(await scopesOf(wide.access_token)).toBeUndefined();
    expect((await signIn("mcp:read", member.id)).scope).toBe("mcp:read");
    // Another member's wide grant, and this member's grant on another link, add nothing.
    await signIn("mcp:admin", fx.users.owner.id);
    await signIn("mcp:admin", member.id, fx.linkB.id);
    expect((await signIn("mcp:read", member.id)).scope).toBe("mcp:read");
  });

  it("a grant from before step-up (scopes = {mcp}) verifies as all three; an empty set grants nothing", async () => {
    const tokens = await signIn("mcp:read", fx.users.owner.id, fx.linkB.id);
    const row = await prisma.oAuthToken.findFirstOrThrow({ where: { kind: "access" }, orderBy: { createdAt: "desc" } });
    await prisma.oAuthGrant.update({ where: { id: row.grantId }, data: { scopes: ["mcp"] } });
    expect(await scopesOf(tokens.access_token, fx.linkB.id)).toEqual(["mcp:read", "mcp:write", "mcp:admin"]);
    await prisma.oAuthGrant.update({ where: { id: row.grantId }, data: { scopes: [] } });
    expect(await scopesOf(tokens.access_token, fx.linkB.id)).toEqual([]);
  });
});

describe("dynamic registration (deprecated, kept): application_type", () => {
  async function registerWith(body: Record<string, unknown>) {
    const response = await handleRegistrationRequest(
      ctx,
      new Request(`${ISSUER}/oauth/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    );
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it("stores and returns the type, inferred when absent", async () => {
    const native = await registerWith({ client_name: "cli", redirect_uris: ["http://127.0.0.1/cb"] });
    expect(native).toMatchObject({ status: 201, body: { application_type: "native" } });
    const web = await registerWith({ client_name: "web", redirect_uris: ["https://app.example.com/cb"], application_type: "web" });
    expect(web).toMatchObject({ status: 201, body: { application_type: "web" } });
    const row = await prisma.oAuthClient.findUniqueOrThrow({ where: { clientId: web.body.client_id as string } });
    expect(row.metadata).toMatchObject({ application_type: "web" });
  });

  it("refuses redirect URIs that do not fit the declared type, storing nothing", async () => {
    const before = await prisma.oAuthClient.count();
    expect(await registerWith({ client_name: "x", redirect_uris: ["http://localhost:8080/cb"], application_type: "web" })).toMatchObject({
      status: 400,
      body: { error: "invalid_redirect_uri" },
    });
    expect(await registerWith({ client_name: "x", redirect_uris: ["https://app.example.com/cb"], application_type: "native" })).toMatchObject({
      status: 400,
      body: { error: "invalid_redirect_uri" },
    });
    expect(await registerWith({ client_name: "x", redirect_uris: ["http://127.0.0.1/cb"], application_type: "desktop" })).toMatchObject({ status: 400 });
    expect(await prisma.oAuthClient.count()).toBe(before);
  });
});
