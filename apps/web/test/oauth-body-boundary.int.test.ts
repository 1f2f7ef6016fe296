import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * The OAuth endpoints anyone on the network can call, fed bodies an attacker would send: a body
 * declaring a huge Content-Length, and a chunked body that declares nothing and never ends. The
 * stream counts what it hands over, so "held at most the cap" is measured, not assumed.
 */
vi.mock("next/headers", () => ({
  cookies: async () => ({ getAll: () => [], get: () => undefined }),
  headers: async () => new Headers(),
}));

let meta: TestDatabase;
let oauth: typeof import("@portcullis/oauth");
let ctx: import("@portcullis/oauth").OAuthContext;
let prisma: import("@portcullis/db/client").PrismaClient;

const CAP = 16 * 1024;

/** A body of `total` bytes in 64 KiB chunks, with no length known in advance; counts what was pulled. */
function endless(total: number) {
  const pulled = { bytes: 0, cancelled: false };
  const chunk = new TextEncoder().encode("a=".padEnd(64 * 1024, "b"));
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled.bytes >= total) return controller.close();
      pulled.bytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
    cancel() {
      pulled.cancelled = true;
    },
  });
  return { stream, pulled };
}

function post(url: string, body: BodyInit | ReadableStream<Uint8Array>, headers: Record<string, string>) {
  return new Request(url, { method: "POST", body, headers, duplex: "half" } as RequestInit);
}

beforeAll(async () => {
  meta = await createMetadataDatabase();
  useDashboardEnv(meta.url);
  process.env.WEB_PUBLIC_URL = "http://localhost:3998";
  process.env.QUEUE_PREFIX = `oab${randomBytes(3).toString("hex")}`;
  process.env.REDIS_KEY_PREFIX = process.env.QUEUE_PREFIX;
  // As scripts/web-server.mjs runs the dashboard: the socket's peer in a header it overwrites.
  process.env.PORTCULLIS_PEER_HEADER = "1";
  process.env.TRUST_PROXY = "0";
  oauth = await import("@portcullis/oauth");
  ctx = (await import("../src/features/oauth/server")).getOAuthContext();
  prisma = (await import("../src/lib/db")).getPrisma();
}, 120_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await meta?.drop();
});

describe.each([
  ["token", () => oauth.handleTokenRequest, "application/x-www-form-urlencoded"],
  ["revoke", () => oauth.handleRevocationRequest, "application/x-www-form-urlencoded"],
  ["register", () => oauth.handleRegistrationRequest, "application/json"],
] as const)("POST /oauth/%s", (_name, handler, type) => {
  test("a chunked body without Content-Length is cut at the cap: 413, the stream cancelled, at most one chunk past the cap read", async () => {
    const { stream, pulled } = endless(50 * 1024 * 1024);
    const response = await handler()(ctx, post("http://localhost/oauth/x", stream, { "content-type": type }));
    expect(response.status).toBe(413);
    expect(pulled.bytes).toBeLessThanOrEqual(CAP + 64 * 1024);
    expect(pulled.cancelled).toBe(true);
  });

  test("a declared Content-Length over the cap is refused before a byte is read", async () => {
    const { stream, pulled } = endless(1024 * 1024);
    const response = await handler()(ctx, post("http://localhost/oauth/x", stream, { "content-type": type, "content-length": String(1024 * 1024) }));
    expect(response.status).toBe(413);
    expect(pulled.bytes).toBeLessThanOrEqual(64 * 1024);
  });
});

describe("what still works, and what the parser refuses", () => {
  test("a small token request is read and answered by the OAuth logic (not by the size check)", async () => {
    const response = await oauth.handleTokenRequest(ctx, post("http://localhost/oauth/token", "grant_type=authorization_code&code=nope&client_id=x&code_verifier=y&redirect_uri=z", { "content-type": "application/x-www-form-urlencoded" }));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).not.toBe("invalid_request");
  });

  test("an oversize parameter inside a small enough body is refused as invalid_request", async () => {
    const response = await oauth.handleTokenRequest(ctx, post("http://localhost/oauth/token", `grant_type=refresh_token&refresh_token=${"r".repeat(5000)}`, { "content-type": "application/x-www-form-urlencoded" }));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe("invalid_request");
  });

  test("an oversize registration creates no client", async () => {
    const before = await prisma.oAuthClient.count();
    const big = JSON.stringify({ client_name: "x".repeat(CAP), redirect_uris: ["http://127.0.0.1/cb"] });
    const response = await oauth.handleRegistrationRequest(ctx, post("http://localhost/oauth/register", big, { "content-type": "application/json" }));
    expect(response.status).toBe(413);
    expect(await prisma.oAuthClient.count()).toBe(before);
  });
});

describe("POST /oauth/authorize/decision (the consent form)", () => {
  const headers = { "content-type": "application/x-www-form-urlencoded", origin: "http://localhost:3998" };

  test("an endless chunked form is cut at its cap", async () => {
    const { POST } = await import("../src/app/oauth/authorize/decision/route");
    const { stream, pulled } = endless(50 * 1024 * 1024);
    const response = await POST(post("http://localhost:3998/oauth/authorize/decision", stream, headers));
    expect(response.status).toBe(413);
    expect(pulled.bytes).toBeLessThanOrEqual(32 * 1024 + 64 * 1024);
  });

  test("unknown fields, a repeated field or a decision outside approve/deny are refused before the session is read", async () => {
    const { POST } = await import("../src/app/oauth/authorize/decision/route");
    for (const body of ["decision=approve&client_id=a&where=1", "decision=approve&client_id=a&client_id=b", "decision=maybe&client_id=a", "client_id=a"]) {
      const response = await POST(post("http://localhost:3998/oauth/authorize/decision", body, headers));
      expect(response.status, body).toBe(400);
    }
  });

  test("a well-formed decision from a signed-out browser is sent to sign in, with the request kept", async () => {
    const { POST } = await import("../src/app/oauth/authorize/decision/route");
    const response = await POST(post("http://localhost:3998/oauth/authorize/decision", "decision=approve&client_id=abc&response_type=code", headers));
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toContain("/sign-in?callbackUrl=");
    expect(decodeURIComponent(response.headers.get("location")!)).toContain("client_id=abc");
  });
});

describe("POST /oauth/register's per-address limit", () => {
  test("rotating X-Forwarded-For does not reset it: the 61st registration from one peer in an hour is refused", async () => {
    const { POST } = await import("../src/app/oauth/register/route");
    const statuses: number[] = [];
    for (let i = 0; i < 61; i++) {
      // An invalid body: the limit is counted before the body is read, and no client row is made.
      const response = await POST(post("http://localhost:3998/oauth/register", "{}", {
        "content-type": "application/json",
        "x-forwarded-for": `203.0.113.${i % 250}`,
        "x-portcullis-peer": "198.51.100.77",
      }));
      statuses.push(response.status);
    }
    expect(statuses.slice(0, 60).every((s) => s === 400)).toBe(true);
    expect(statuses[60]).toBe(429);
  });
});
