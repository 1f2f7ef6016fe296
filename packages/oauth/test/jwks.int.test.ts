import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_FETCH_POLICY, fetchJwks, type FetchPolicy } from "../src/index.js";

/**
 * Fetching an identity provider's key set: the URI is an admin's choice, fetched by the dashboard's
 * server, so it gets the metadata-document guard (SSRF, redirects, size) plus key-type checks.
 */
let server: http.Server;
let base: string;
let hits = 0;
const RELAXED: FetchPolicy = { ...DEFAULT_FETCH_POLICY, requireHttps: false, isAddressAllowed: () => true };
const EC = { kty: "EC", crv: "P-256", kid: "a", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" };

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits++;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(typeof body === "string" ? body : JSON.stringify(body));
    };
    if (req.url === "/good") return send(200, { keys: [EC] }, { "cache-control": "max-age=120" });
    if (req.url === "/redirect") return send(302, "", { location: `${base}/good` });
    if (req.url === "/huge") return send(200, { keys: [EC], pad: "x".repeat(70 * 1024) });
    if (req.url === "/private") return send(200, { keys: [{ ...EC, d: "secret" }] });
    if (req.url === "/symmetric") return send(200, { keys: [{ kty: "oct", k: "c2VjcmV0" }] });
    send(404, {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

describe("fetchJwks", () => {
  it("fetches public keys and reads max-age", async () => {
    expect(await fetchJwks(`${base}/good`, RELAXED)).toMatchObject({ jwks: { keys: [{ kid: "a" }] }, maxAgeSeconds: 120 });
  });

  it("refuses redirects, oversized sets, private and symmetric keys", async () => {
    await expect(fetchJwks(`${base}/redirect`, RELAXED)).rejects.toMatchObject({ reason: "redirect" });
    await expect(fetchJwks(`${base}/huge`, RELAXED)).rejects.toMatchObject({ reason: "too_large" });
    await expect(fetchJwks(`${base}/private`, RELAXED)).rejects.toMatchObject({ reason: "invalid_document" });
    await expect(fetchJwks(`${base}/symmetric`, RELAXED)).rejects.toMatchObject({ reason: "invalid_document" });
  });

  it("under the production policy: plain http, loopback literals and names resolving to loopback are refused without connecting", async () => {
    const before = hits;
    await expect(fetchJwks(`${base}/good`)).rejects.toMatchObject({ reason: "invalid_url" });
    const port = new URL(base).port;
    const httpsOnlyChecked = { ...DEFAULT_FETCH_POLICY, requireHttps: false };
    await expect(fetchJwks(`${base}/good`, httpsOnlyChecked)).rejects.toMatchObject({ reason: "address_refused" });
    await expect(fetchJwks(`http://localhost:${port}/good`, httpsOnlyChecked)).rejects.toMatchObject({ reason: "address_refused" });
    await expect(fetchJwks("https://169.254.169.254/latest/meta-data")).rejects.toMatchObject({ reason: "address_refused" });
    expect(hits).toBe(before);
  });
});
