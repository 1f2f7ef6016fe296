import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import {
  DEFAULT_FETCH_POLICY,
  fetchClientMetadataDocument,
  isPublicAddress,
  parseAuthorizationRequest,
  resolveClient,
  resourceForLink,
  type FetchPolicy,
} from "../src/index.js";
import { createContext, createTeamWithLinks, pkcePair } from "./support/fixtures.js";

/**
 * Client ID Metadata Documents served by a local HTTP server. The production policy refuses plain
 * http and loopback addresses, so most tests inject a relaxed policy (http allowed, any address),
 * each relaxing only what it must; the private-address tests keep the production address check.
 */
let server: http.Server;
let base: string;
const hits = new Map<string, number>();

const RELAXED: FetchPolicy = { ...DEFAULT_FETCH_POLICY, requireHttps: false, isAddressAllowed: () => true, timeoutMs: 1_000 };
/** http allowed (no certificates in tests), but addresses checked exactly as in production. */
const HTTP_ONLY_RELAXED: FetchPolicy = { ...DEFAULT_FETCH_POLICY, requireHttps: false };

function documentFor(url: string, extra: Record<string, unknown> = {}) {
  return { client_id: url, client_name: "Metadata Client", redirect_uris: ["http://127.0.0.1/callback"], ...extra };
}

beforeAll(async () => {
  server = http.createServer((request, response) => {
    const path = request.url ?? "/";
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const self = `${base}${path}`;
    switch (path) {
      case "/good.json":
        response.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=600" });
        return response.end(JSON.stringify(documentFor(self)));
      case "/large.json":
        response.writeHead(200, { "content-type": "application/json" });
        return response.end(JSON.stringify(documentFor(self, { padding: "x".repeat(10_000) })));
      case "/large-chunked.json": {
        // No Content-Length: the limit must hold while streaming.
        response.writeHead(200, { "content-type": "application/json" });
        let sent = 0;
        const timer = setInterval(() => {
          response.write(" ".repeat(1024));
          sent += 1024;
          if (sent > 64 * 1024) {
            clearInterval(timer);
            response.end();
          }
        }, 1);
        response.on("close", () => clearInterval(timer));
        return;
      }
      case "/slow.json": {
        const timer = setTimeout(() => {
          response.writeHead(200, { "content-type": "application/json" });
          response.end(JSON.stringify(documentFor(self)));
        }, 5_000);
        response.on("close", () => clearTimeout(timer));
        return;
      }
      case "/redirect.json":
        response.writeHead(302, { location: `${base}/good.json` });
        return response.end();
      case "/wrong-id.json":
        response.writeHead(200, { "content-type": "application/json" });
        return response.end(JSON.stringify(documentFor(`${base}/other.json`)));
      // Each differs from its URL in one way a lax comparison would forgive.
      case "/trailing.json":
        response.writeHead(200, { "content-type": "application/json" });
        return response.end(JSON.stringify(documentFor(`${self}/`)));
      case "/case.json":
        response.writeHead(200, { "content-type": "application/json" });
        return response.end(JSON.stringify(documentFor(self.replace("/case.json", "/CASE.json"))));
      case "/query.json":
        response.writeHead(200, { "content-type": "application/json" });
        return response.end(JSON.stringify(documentFor(`${self}?v=1`)));
      case "/host-case.json":
        response.writeHead(200, { "content-type": "application/json" });
        return response.end(JSON.stringify(documentFor(self.replace("http://", "HTTP://"))));
      case "/no-name.json": {
        const { client_name: _name, ...rest } = documentFor(self);
        response.writeHead(200, { "content-type": "application/json" });
        return response.end(JSON.stringify(rest));
      }
      case "/web-loopback.json":
        response.writeHead(200, { "content-type": "application/json" });
        return response.end(JSON.stringify(documentFor(self, { application_type: "web" })));
      case "/no-store.json":
        response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
        return response.end(JSON.stringify(documentFor(self)));
      case "/forever.json":
        response.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=31536000" });
        return response.end(JSON.stringify(documentFor(self)));
      case "/not-json.json":
        response.writeHead(200, { "content-type": "text/html" });
        return response.end("<html></html>");
      default:
        response.writeHead(404);
        return response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

describe("fetching client metadata documents", () => {
  it("fetches and validates a good document", async () => {
    const fetched = await fetchClientMetadataDocument(`${base}/good.json`, RELAXED);
    expect(fetched.document.client_name).toBe("Metadata Client");
    expect(fetched.maxAgeSeconds).toBe(600);
  });

  it("refuses a document that is too large, with or without Content-Length", async () => {
    await expect(fetchClientMetadataDocument(`${base}/large.json`, RELAXED)).rejects.toMatchObject({ reason: "too_large" });
    await expect(fetchClientMetadataDocument(`${base}/large-chunked.json`, RELAXED)).rejects.toMatchObject({ reason: "too_large" });
  });

  it("gives up on a slow server at the deadline", async () => {
    const started = Date.now();
    await expect(fetchClientMetadataDocument(`${base}/slow.json`, { ...RELAXED, timeoutMs: 300 })).rejects.toMatchObject({ reason: "timeout" });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("does not follow redirects", async () => {
    const before = hits.get("/good.json") ?? 0;
    await expect(fetchClientMetadataDocument(`${base}/redirect.json`, RELAXED)).rejects.toMatchObject({ reason: "redirect" });
    expect(hits.get("/good.json") ?? 0).toBe(before);
  });

  it("refuses documents that do not name themselves or are not JSON", async () => {
    await expect(fetchClientMetadataDocument(`${base}/wrong-id.json`, RELAXED)).rejects.toMatchObject({ reason: "invalid_document" });
    await expect(fetchClientMetadataDocument(`${base}/not-json.json`, RELAXED)).rejects.toMatchObject({ reason: "not_json" });
    await expect(fetchClientMetadataDocument(`${base}/missing.json`, RELAXED)).rejects.toMatchObject({ reason: "http_status" });
  });

  it("requires client_id to equal the URL exactly: no trailing slash, case or query forgiven", async () => {
    for (const path of ["/trailing.json", "/case.json", "/query.json", "/host-case.json"]) {
      await expect(fetchClientMetadataDocument(`${base}${path}`, RELAXED), path).rejects.toMatchObject({
        reason: "invalid_document",
        message: expect.stringContaining("client_id does not equal its URL"),
      });
    }
  });

  it("requires client_name (a required field in MCP 2026-07-28)", async () => {
    await expect(fetchClientMetadataDocument(`${base}/no-name.json`, RELAXED)).rejects.toMatchObject({
      reason: "invalid_document",
      message: expect.stringContaining("client_name"),
    });
  });

  it("applies application_type: a web client may not use loopback redirects", async () => {
    await expect(fetchClientMetadataDocument(`${base}/web-loopback.json`, RELAXED)).rejects.toMatchObject({
      reason: "invalid_document",
      message: expect.stringContaining("web application"),
    });
  });

  it("refuses private addresses: IP literals, and names that resolve to them, without connecting", async () => {
    expect(HTTP_ONLY_RELAXED.isAddressAllowed).toBe(isPublicAddress);
    const before = hits.get("/good.json") ?? 0;
    await expect(fetchClientMetadataDocument(`${base}/good.json`, HTTP_ONLY_RELAXED)).rejects.toMatchObject({ reason: "address_refused" });
    const port = new URL(base).port;
    // "localhost" goes through DNS resolution: the refusal happens after the lookup, before connecting.
    await expect(fetchClientMetadataDocument(`http://localhost:${port}/good.json`, HTTP_ONLY_RELAXED)).rejects.toMatchObject({ reason: "address_refused" });
    expect(hits.get("/good.json") ?? 0).toBe(before);
  });

  it("refuses plain http under the production policy", async () => {
    await expect(fetchClientMetadataDocument(`${base}/good.json`)).rejects.toMatchObject({ reason: "invalid_url" });
  });
});

describe("metadata-document clients in the authorization flow", () => {
  let db: TestDatabase;
  let prisma: PrismaClient;

  beforeAll(async () => {
    db = await createMetadataDatabase();
    prisma = createPrismaClient(db.url);
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  it("caches a fetched document in oauth_clients and serves it from there while fresh", async () => {
    const ctx = createContext(prisma, { fetchPolicy: RELAXED });
    const url = `${base}/good.json`;
    const before = hits.get("/good.json") ?? 0;
    const first = await resolveClient(ctx, url);
    expect(first).toMatchObject({ clientId: url, kind: "metadata_document", name: "Metadata Client", redirectUris: ["http://127.0.0.1/callback"] });
    await resolveClient(ctx, url);
    expect(hits.get("/good.json")).toBe(before + 1);
    // Stale (max-age 600 elapsed): fetched again.
    const later = createContext(prisma, { fetchPolicy: RELAXED, now: () => new Date(Date.now() + 601_000) });
    await resolveClient(later, url);
    expect(hits.get("/good.json")).toBe(before + 2);
  });

  it("honours no-store (fetched on every request) and bounds a long max-age to a day", async () => {
    const ctx = createContext(prisma, { fetchPolicy: RELAXED });
    const before = hits.get("/no-store.json") ?? 0;
    await resolveClient(ctx, `${base}/no-store.json`);
    await resolveClient(ctx, `${base}/no-store.json`);
    expect(hits.get("/no-store.json")).toBe(before + 2);
    const url = `${base}/forever.json`;
    const start = hits.get("/forever.json") ?? 0;
    await resolveClient(ctx, url);
    await resolveClient(createContext(prisma, { fetchPolicy: RELAXED, now: () => new Date(Date.now() + 23 * 3600_000) }), url);
    expect(hits.get("/forever.json")).toBe(start + 1);
    await resolveClient(createContext(prisma, { fetchPolicy: RELAXED, now: () => new Date(Date.now() + 25 * 3600_000) }), url);
    expect(hits.get("/forever.json")).toBe(start + 2);
  });

  it("refuses a redirect_uri the document does not list, without redirecting to it", async () => {
    const ctx = createContext(prisma, { fetchPolicy: RELAXED });
    const fx = await createTeamWithLinks(prisma);
    for (const redirect of ["https://attacker.example.com/callback", "http://127.0.0.1/callback/../steal", "http://127.0.0.1/callbackx"]) {
      const parsed = await parseAuthorizationRequest(
        ctx,
        new URLSearchParams({
          response_type: "code",
          client_id: `${base}/good.json`,
          redirect_uri: redirect,
          code_challenge: pkcePair().challenge,
          code_challenge_method: "S256",
          resource: resourceForLink(ctx.config, fx.linkA.id),
        }),
      );
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) {
        expect(parsed.error.error).toBe("invalid_request");
        expect(parsed.redirectTo).toBeNull();
      }
    }
  });

  it("answers an authorization request naming a bad document with an error shown to the user, never a redirect", async () => {
    const ctx = createContext(prisma, { fetchPolicy: RELAXED });
    const fx = await createTeamWithLinks(prisma);
    for (const path of ["/large.json", "/redirect.json", "/wrong-id.json", "/no-name.json", "/trailing.json", "/large-chunked.json"]) {
      const parsed = await parseAuthorizationRequest(
        ctx,
        new URLSearchParams({
          response_type: "code",
          client_id: `${base}${path}`,
          redirect_uri: "http://127.0.0.1/callback",
          code_challenge: pkcePair().challenge,
          code_challenge_method: "S256",
          resource: resourceForLink(ctx.config, fx.linkA.id),
        }),
      );
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) {
        expect(parsed.error.error).toBe("invalid_client");
        expect(parsed.redirectTo).toBeNull();
      }
    }
    // The production policy refuses the same local document outright.
    const strict = createContext(prisma);
    await expect(resolveClient(strict, `${base}/good-uncached.json`)).rejects.toMatchObject({ error: "invalid_client" });
  });
});
