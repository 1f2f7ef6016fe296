import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * Route handlers fed what an attacker sends: paths, methods, queries and bodies next-auth and the
 * OAuth endpoints were never meant to see. Each must be refused with a 4xx before any of it reaches
 * the library or the database — a 500 here was a crash an anonymous caller could cause at will.
 */
vi.mock("next/headers", () => ({
  cookies: async () => ({ getAll: () => [], get: () => undefined }),
  headers: async () => new Headers(),
}));

let meta: TestDatabase;

beforeAll(async () => {
  meta = await createMetadataDatabase();
  useDashboardEnv(meta.url);
  process.env.WEB_PUBLIC_URL = "http://localhost:3997";
  process.env.QUEUE_PREFIX = `rb${randomBytes(3).toString("hex")}`;
}, 120_000);

afterAll(async () => {
  const { getPrisma } = await import("../src/lib/db");
  await getPrisma().$disconnect();
  await meta?.drop();
});

function req(path: string, init: RequestInit & { duplex?: "half" } = {}) {
  return new Request(`http://localhost:3997${path}`, { ...init, ...(init.body ? { duplex: "half" } : {}) } as RequestInit);
}

describe("/api/auth/[...nextauth]", () => {
  async function call(segments: string[], request: Request) {
    const { GET, POST } = await import("../src/app/api/auth/[...nextauth]/route");
    const handler = request.method === "POST" ? POST : GET;
    return handler(request, { params: Promise.resolve({ nextauth: segments }) });
  }

  test("paths that are not next-auth actions, or name a provider that is not configured, are 404", async () => {
    for (const segments of [["x\0"], ["..", "..", "api", "health"], ["signin", "credentials", "extra"], ["callback", "evil"], ["session", "x"], []]) {
      const response = await call(segments, req(`/api/auth/${segments.join("/")}`));
      expect(response.status, segments.join("/")).toBe(404);
    }
  });

  test("a GET of the credentials callback is 405 (next-auth threw on it: a 500)", async () => {
    expect((await call(["callback", "credentials"], req("/api/auth/callback/credentials"))).status).toBe(405);
  });

  test("a malformed JSON body, an unknown content type, repeated or NUL-bearing fields are 4xx", async () => {
    const cases: [string[], RequestInit, number][] = [
      [["session"], { method: "POST", headers: { "content-type": "application/json" }, body: "<not JSON>" }, 400],
      [["callback", "credentials"], { method: "POST", headers: { "content-type": "application/json" }, body: '{"email":{"not":"x"}}' }, 400],
      [["callback", "credentials"], { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "email=a&email=b" }, 400],
      [["callback", "credentials"], { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "email=a%00b" }, 400],
      [["signout"], { method: "POST", headers: { "content-type": "text/xml" }, body: "<a/>" }, 415],
    ];
    for (const [segments, init, status] of cases) {
      const response = await call(segments, req(`/api/auth/${segments.join("/")}`, init));
      expect(response.status, `${segments.join("/")} ${String(init.body)}`).toBe(status);
    }
    expect((await call(["providers"], req("/api/auth/providers?callbackUrl=a&callbackUrl=b"))).status).toBe(400);
    expect((await call(["providers"], req("/api/auth/providers?error=%00"))).status).toBe(400);
  });

  test("an endless chunked body is cut at 16 KiB", async () => {
    let pulled = 0;
    const chunk = new TextEncoder().encode("a=".padEnd(64 * 1024, "b"));
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const response = await call(["callback", "credentials"], req("/api/auth/callback/credentials", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body }));
    expect(response.status).toBe(413);
    // The stream is endless: a handler that read it whole would never answer. What was pulled is the
    // cap, the chunk that crossed it and the one the stream queued ahead.
    expect(pulled).toBeLessThanOrEqual(16 * 1024 + 2 * 64 * 1024);
  });
});

describe("NUL bytes at the OAuth endpoints and in team slugs", () => {
  test("token and revocation forms with NUL are invalid_request; a registration with NUL is invalid_client_metadata; nothing is stored", async () => {
    const oauth = await import("@portcullis/oauth");
    const ctx = (await import("../src/features/oauth/server")).getOAuthContext();
    const { getPrisma } = await import("../src/lib/db");
    const form = { "content-type": "application/x-www-form-urlencoded" };
    const token = await oauth.handleTokenRequest(ctx, req("/oauth/token", { method: "POST", headers: form, body: "grant_type=authorization_code&code=a%00b&client_id=x%00" }));
    expect(token.status).toBe(400);
    expect(((await token.json()) as { error: string }).error).toBe("invalid_request");
    const revoke = await oauth.handleRevocationRequest(ctx, req("/oauth/revoke", { method: "POST", headers: form, body: "token=a%00b" }));
    expect(revoke.status).toBe(400);
    const before = await getPrisma().oAuthClient.count();
    for (const body of ['{"client_name":"a\\u0000b","redirect_uris":["http://127.0.0.1/cb"]}', '{"client_name":"a\0b","redirect_uris":["http://127.0.0.1/cb"]}']) {
      const registered = await oauth.handleRegistrationRequest(ctx, req("/oauth/register", { method: "POST", headers: { "content-type": "application/json" }, body }));
      expect(registered.status).toBe(400);
      expect(((await registered.json()) as { error: string }).error).toBe("invalid_client_metadata");
    }
    expect(await getPrisma().oAuthClient.count()).toBe(before);
  });

  test("a slug with NUL, or any character a slug never has, is simply no team (not a database error)", async () => {
    const { authorizeTeamSlug } = await import("../src/lib/authz");
    const { createUser, createTeam } = await import("@portcullis/db/operations");
    const { getPrisma } = await import("../src/lib/db");
    const u = await createUser(getPrisma(), { email: `slug-${randomBytes(4).toString("hex")}@example.com`, password: "a long enough password" });
    const team = await createTeam(getPrisma(), { name: "Slug Co", ownerId: u.id });
    expect((await authorizeTeamSlug({ userId: u.id }, team.slug)).team.id).toBe(team.id);
    for (const slug of [`${team.slug}\0`, "\0", `${team.slug}' OR '1'='1`, "x".repeat(500), ""]) {
      await expect(authorizeTeamSlug({ userId: u.id }, slug)).rejects.toMatchObject({ code: "not_found" });
    }
  });
});
