import { randomBytes } from "node:crypto";
import { NextRequest } from "next/server";
import { beforeAll, describe, expect, it } from "vitest";

/**
 * What the dashboard's proxy puts on a response (checked in Chromium by hand: sign-in, a team's pages
 * and a server action run under this policy with no violation), and which address the dashboard
 * believes a request comes from (issue 12: per-IP limits trusted any X-Forwarded-For).
 */
let proxy: typeof import("../src/proxy").proxy;
let headers: typeof import("../src/lib/security-headers");
let auth: typeof import("../src/lib/auth");

beforeAll(async () => {
  process.env.DATABASE_URL = "postgresql://u:p@127.0.0.1:1/unused";
  process.env.PORTCULLIS_SECRET_KEYS = `t:${randomBytes(32).toString("base64")}`;
  process.env.NEXTAUTH_SECRET = randomBytes(24).toString("hex");
  process.env.WEB_PUBLIC_URL = "http://localhost:3000";
  (process.env as Record<string, string>).NODE_ENV = "production";
  // As scripts/web-server.mjs runs it, behind one reverse proxy.
  process.env.PORTCULLIS_PEER_HEADER = "1";
  process.env.TRUST_PROXY = "1";
  ({ proxy } = await import("../src/proxy"));
  headers = await import("../src/lib/security-headers");
  auth = await import("../src/lib/auth");
});

function directives(csp: string): Map<string, string[]> {
  return new Map(csp.split(";").map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]));
}

describe("security headers", () => {
  it("a nonce-based CSP, new on every response, that allows no other inline script", () => {
    const first = proxy(new NextRequest("http://localhost:3000/sign-in"));
    const second = proxy(new NextRequest("http://localhost:3000/sign-in"));
    const csp = first.headers.get("content-security-policy")!;
    const script = directives(csp).get("script-src")!;
    expect(script).toContain("'strict-dynamic'");
    expect(script).not.toContain("'unsafe-inline'");
    expect(script).not.toContain("'unsafe-eval'");
    const nonce = script.find((s) => s.startsWith("'nonce-"))!;
    expect(nonce.length).toBeGreaterThan(20);
    expect(second.headers.get("content-security-policy")).not.toContain(nonce);
    expect(directives(csp).get("frame-ancestors")).toEqual(["'none'"]);
    expect(directives(csp).get("object-src")).toEqual(["'none'"]);
    expect(directives(csp).get("base-uri")).toEqual(["'self'"]);
    // Next.js reads the nonce from the request's own policy header.
    expect(first.headers.get("x-middleware-request-content-security-policy")).toBe(csp);
  });

  it("the usual headers, and no HSTS over plain http", () => {
    const response = proxy(new NextRequest("http://localhost:3000/t/demo"));
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("referrer-policy")).toBe("strict-origin-when-cross-origin");
    expect(response.headers.get("permissions-policy")).toMatch(/camera=\(\).*microphone=\(\).*geolocation=\(\)/);
    expect(response.headers.get("strict-transport-security")).toBeNull();
  });

  it("over TLS the policy upgrades insecure requests (and the proxy adds HSTS)", () => {
    const csp = headers.contentSecurityPolicy("abc", { https: true, development: false });
    expect(directives(csp).has("upgrade-insecure-requests")).toBe(true);
    expect(headers.HSTS).toMatch(/^max-age=\d{8,}; includeSubDomains$/);
  });
});

describe("client address", () => {
  it("believes only the hop our proxy appended, never what the client wrote before it", () => {
    const h = new Headers({ "x-portcullis-peer": "10.0.0.2", "x-forwarded-for": "6.6.6.6, 203.0.113.9" });
    expect(auth.clientIp(h)).toBe("203.0.113.9");
    // A client rotating forged addresses stays one source.
    expect(auth.clientIp(new Headers({ "x-portcullis-peer": "10.0.0.2", "x-forwarded-for": "7.7.7.7, 203.0.113.9" }))).toBe("203.0.113.9");
  });

  it("falls back to the peer when the proxy added nothing, and to 'unknown' without a peer", () => {
    expect(auth.clientIp(new Headers({ "x-portcullis-peer": "::ffff:10.0.0.2" }))).toBe("10.0.0.2");
    expect(auth.clientIp(new Headers({ "x-forwarded-for": "6.6.6.6" }))).toBe("unknown");
    expect(auth.clientIp({ "x-portcullis-peer": "10.0.0.2", "x-forwarded-for": "203.0.113.9" })).toBe("203.0.113.9");
  });
});
