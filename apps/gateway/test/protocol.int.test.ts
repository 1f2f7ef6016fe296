import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";
import { TOOLS } from "../src/mcp/tools/index.js";
import { GatewayWorld, auditEvents, connectClient, rawPost, toolText, waitFor, type LinkFixture } from "./fixtures.js";
import { revokeApiKey } from "./operations.js";
import { awayFromMinuteEnd } from "./minute-window.js";

/** The HTTP/JSON-RPC surface: refusals, authentication answers, transports, operational endpoints. */
let world: GatewayWorld;
let base: string;
let internalBase: string | undefined;
let link: LinkFixture;
let other: LinkFixture;

const call = (id: number | string = 1, sql = "SELECT 1 AS one") => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name: "execute_sql", arguments: { sql } },
});

beforeAll(async () => {
  world = await GatewayWorld.create();
  ({ url: base, internalUrl: internalBase } = await world.startGateway({ GATEWAY_MAX_BODY_BYTES: "65536", GATEWAY_RATE_LIMIT_PER_MINUTE: "1000" }));
  link = await world.addLink({ access: "read", schemas: ["public"] });
  other = await world.addLink({ access: "read", schemas: ["public"] });
});
afterAll(() => world?.close());

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

describe("authentication answers reveal nothing", () => {
  test("missing, malformed, unknown, other-link, revoked, expired keys and unknown links all get the same 401", async () => {
    const revoked = await world.addLink({ access: "read" });
    await revokeApiKey(world.prisma, { apiKeyId: revoked.apiKeyId });
    const expired = await world.addLink({ access: "read" });
    await world.prisma.apiKey.update({ where: { id: expired.apiKeyId }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const unknownLink = randomUUID();
    const cases: [string, string, Record<string, string>][] = [
      ["no token", link.linkId, {}],
      ["not bearer", link.linkId, { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` }],
      ["malformed", link.linkId, auth("pcs_nope")],
      ["unknown key", link.linkId, auth(`pcs_abcdefgh_${"A".repeat(43)}`)],
      ["other link's key", link.linkId, auth(other.key)],
      ["revoked", revoked.linkId, auth(revoked.key)],
      ["expired", expired.linkId, auth(expired.key)],
      ["unknown link", unknownLink, auth(link.key)],
      ["not a uuid", "not-a-link", auth(link.key)],
    ];
    const bodies = new Set<string>();
    for (const [name, linkId, headers] of cases) {
      const r = await rawPost(`${base}/mcp/${linkId}`, call(), headers);
      expect(r.status, name).toBe(401);
      expect(r.headers.get("www-authenticate"), name).toBe(
        `Bearer resource_metadata="http://localhost:3001/.well-known/oauth-protected-resource/mcp/${linkId}"`,
      );
      bodies.add(r.text);
    }
    expect(bodies.size).toBe(1);
    expect(JSON.parse([...bodies][0]!)).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32001 } });
  });

  test("protected resource metadata (RFC 9728) for OAuth discovery, for any link id", async () => {
    for (const id of [link.linkId, randomUUID()]) {
      const r = await fetch(`${base}/.well-known/oauth-protected-resource/mcp/${id}`);
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({
        resource: `http://localhost:3001/mcp/${id}`,
        authorization_servers: ["http://localhost:3000"],
        bearer_methods_supported: ["header"],
      });
    }
  });

  test("refused requests on a known link are audited", async () => {
    const before = (await auditEvents(world)).filter((e) => e.kind === "request_refused" && e.linkId === other.linkId).length;
    await rawPost(`${base}/mcp/${other.linkId}`, call(), auth(link.key));
    await waitFor(
      () => auditEvents(world),
      (es) => es.filter((e) => e.kind === "request_refused" && e.linkId === other.linkId).length === before + 1,
    );
  });
});

describe("malformed and refused requests", () => {
  test("invalid JSON, non-JSON-RPC, empty batch", async () => {
    const url = `${base}/mcp/${link.linkId}`;
    const parse = await rawPost(url, "{not json", auth(link.key));
    expect(parse.status).toBe(400);
    expect(parse.json.error.code).toBe(-32700);
    for (const body of [{ hello: "world" }, { jsonrpc: "1.0", id: 1, method: "x" }, { jsonrpc: "2.0", id: { a: 1 }, method: "x" }, []]) {
      const r = await rawPost(url, body, auth(link.key));
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.code).toBe(-32600);
    }
    const tooMany = await rawPost(url, Array.from({ length: 33 }, (_, i) => call(i)), auth(link.key));
    expect(tooMany.status).toBe(400);
    expect(tooMany.text).toContain("more than 32 messages");
    expect((await rawPost(`${base}/mcp/%E0%A4%A`, call(), auth(link.key))).status).toBe(401);
    const unknownMethod = await rawPost(url, { jsonrpc: "2.0", id: 7, method: "no/such" }, auth(link.key));
    expect(unknownMethod.status).toBe(200);
    expect(unknownMethod.json).toMatchObject({ id: 7, error: { code: -32601 } });
    const badParams = await rawPost(url, { jsonrpc: "2.0", id: 8, method: "tools/call", params: { name: "execute_sql", arguments: { sql: 42 } } }, auth(link.key));
    expect(badParams.json.result.isError).toBe(true);
    expect(badParams.json.result.content[0].text).toContain("Invalid arguments for execute_sql");
    const unknownTool = await rawPost(url, { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "drop_database" } }, auth(link.key));
    expect(unknownTool.json.error.code).toBe(-32602);
  });

  test("oversized bodies are refused with 413 without reading them", async () => {
    const big = call(1, `SELECT '${"x".repeat(70_000)}'`);
    const r = await rawPost(`${base}/mcp/${link.linkId}`, big, auth(link.key));
    expect(r.status).toBe(413);
  });

  test("unsupported protocol version header → 400 -32022 naming every supported revision; supported 2025 versions work", async () => {
    // -32022 with data.supported (not -32000): a dual-era client reads it as "this server is modern".
    for (const version of ["1999-01-01", "2024-11-05"]) {
      const bad = await rawPost(`${base}/mcp/${link.linkId}`, call(), { ...auth(link.key), "mcp-protocol-version": version });
      expect(bad.status, version).toBe(400);
      expect(bad.json.error.code).toBe(-32022);
      expect(bad.json.error.data).toEqual({ supported: ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"], requested: version });
    }
    for (const version of ["2025-11-25", "2025-06-18", "2025-03-26"]) {
      const ok = await rawPost(`${base}/mcp/${link.linkId}`, call(), { ...auth(link.key), "mcp-protocol-version": version });
      expect(ok.status, version).toBe(200);
    }
  });

  test("initialize negotiates the version and hands out a stateless session id", async () => {
    const init = (protocolVersion: string) => ({
      jsonrpc: "2.0",
      id: "init",
      method: "initialize",
      params: { protocolVersion, capabilities: {}, clientInfo: { name: "raw-client", version: "9.9" } },
    });
    const latest = await rawPost(`${base}/mcp/${link.linkId}`, init(LATEST_PROTOCOL_VERSION), auth(link.key));
    expect(latest.json.result.protocolVersion).toBe("2025-11-25");
    expect(latest.json.result.serverInfo.name).toBe("portcullis");
    expect(latest.json.result.instructions).toContain("get_schema");
    expect(latest.headers.get("mcp-session-id")).toMatch(/^[\w-]+\.[\w-]+$/);
    const previous = await rawPost(`${base}/mcp/${link.linkId}`, init("2025-06-18"), auth(link.key));
    expect(previous.json.result.protocolVersion).toBe("2025-06-18");
    const future = await rawPost(`${base}/mcp/${link.linkId}`, init("2099-01-01"), auth(link.key));
    expect(future.json.result.protocolVersion).toBe("2025-11-25");
  });

  test("Accept and Content-Type", async () => {
    const url = `${base}/mcp/${link.linkId}`;
    const html = await fetch(url, { method: "POST", headers: { ...auth(link.key), "content-type": "application/json", accept: "text/html" }, body: JSON.stringify(call()) });
    expect(html.status).toBe(406);
    const form = await fetch(url, { method: "POST", headers: { ...auth(link.key), "content-type": "text/plain", accept: "application/json" }, body: JSON.stringify(call()) });
    expect(form.status).toBe(415);
  });

  test("foreign Origin and Host are refused (DNS rebinding)", async () => {
    const origin = await rawPost(`${base}/mcp/${link.linkId}`, call(), { ...auth(link.key), origin: "https://evil.example" });
    expect(origin.status).toBe(403);
    const dashboard = await rawPost(`${base}/mcp/${link.linkId}`, call(), { ...auth(link.key), origin: "http://localhost:3000" });
    expect(dashboard.status).toBe(200);
    expect(dashboard.headers.get("access-control-allow-origin")).toBe("http://localhost:3000");
    const { request } = await import("node:http");
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(`${base}/mcp/${link.linkId}`);
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { host: "evil.example", "content-type": "application/json", ...auth(link.key) } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      req.end(JSON.stringify(call()));
    });
    expect(status).toBe(403);
  });
});

describe("transport", () => {
  test("SSE response when the client accepts only text/event-stream; batches; notifications get 202", async () => {
    const sse = await fetch(`${base}/mcp/${link.linkId}`, {
      method: "POST",
      headers: { ...auth(link.key), "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify(call(42, "SELECT 7 AS seven")),
    });
    expect(sse.headers.get("content-type")).toBe("text/event-stream");
    const text = await sse.text();
    const data = JSON.parse(text.split("\n").find((l) => l.startsWith("data: "))!.slice(6));
    expect(data.id).toBe(42);
    expect(data.result.content[0].text).toContain("[[7]]");

    const batch = await rawPost(`${base}/mcp/${link.linkId}`, [call("a", "SELECT 1"), call("b", "SELECT 2")], auth(link.key));
    expect(batch.json.map((m: { id: string }) => m.id)).toEqual(["a", "b"]);
    expect(batch.json[1].result.content[0].text).toContain("[[2]]");

    const note = await rawPost(`${base}/mcp/${link.linkId}`, { jsonrpc: "2.0", method: "notifications/initialized" }, auth(link.key));
    expect(note.status).toBe(202);
  });

  test("GET offers no stream (405); DELETE ends nothing (204)", async () => {
    const get = await fetch(`${base}/mcp/${link.linkId}`, { headers: { ...auth(link.key), accept: "text/event-stream" } });
    expect(get.status).toBe(405);
    const del = await fetch(`${base}/mcp/${link.linkId}`, { method: "DELETE", headers: auth(link.key) });
    expect(del.status).toBe(204);
    const unauth = await fetch(`${base}/mcp/${link.linkId}`, { method: "GET" });
    expect(unauth.status).toBe(401);
  });

  test("the SDK client works end to end, and SSE-only clients too", async () => {
    const client = await connectClient(`${base}/mcp/${link.linkId}`, link.key);
    // Every tool of the contract, in its order (the catalog's list is the contract).
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(TOOLS.map((t) => t.name));
    expect(toolText(await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT count(*) FROM artist" } }))).toContain("[[\"275\"]]");
    await client.close();
  });
});

describe("operation", () => {
  test("health, readiness and Prometheus metrics", async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready", checks: { metadata: "ok", redis: "ok" } });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain("portcullis_gateway_tool_calls_total");
    expect(metrics).toContain("portcullis_gateway_http_requests_total");
  });

  test("target pools are created on first use, shared by links of a connection, and closed when idle", async () => {
    // Idle after 2 s, not 300 ms: the pool must still be open when the metrics are read after both
    // calls, and on a loaded 2-core machine those steps took longer than 300 ms (the pool read 0).
    const { url: idle } = await world.startGateway({ GATEWAY_POOL_IDLE_MS: "2000" });
    const pools = async () => Number(/^portcullis_gateway_target_pools (\d+)/m.exec(await (await fetch(`${idle}/metrics`)).text())?.[1] ?? 0);
    expect(await pools()).toBe(0);
    expect((await rawPost(`${idle}/mcp/${link.linkId}`, call(), auth(link.key))).status).toBe(200);
    expect((await rawPost(`${idle}/mcp/${other.linkId}`, call(), auth(other.key))).status).toBe(200);
    expect(await pools()).toBe(1);
    await waitFor(pools, (n) => n === 0, 15_000, 100);
    const again = await rawPost(`${idle}/mcp/${link.linkId}`, call(), auth(link.key));
    expect(again.json.result.content[0].text).toContain("[[1]]");
  });

  test("per-key rate limit answers 429 with Retry-After", async () => {
    const { url: limited } = await world.startGateway({ GATEWAY_RATE_LIMIT_PER_MINUTE: "5" });
    const l = await world.addLink({ access: "read" });
    await awayFromMinuteEnd();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      statuses.push((await rawPost(`${limited}/mcp/${l.linkId}`, call(), auth(l.key))).status);
      await new Promise((r) => setTimeout(r, 30));
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(5);
    const r = await rawPost(`${limited}/mcp/${l.linkId}`, call(), auth(l.key));
    expect(r.headers.get("retry-after")).toMatch(/^\d+$/);
  });
});

interface PlaygroundAnswer {
  verdict: { allowed: boolean; ruleId?: string; reason?: string };
  result?: unknown;
  error?: string;
}

describe("playground (internal)", () => {
  const playground = (linkId: string, body: unknown, token = "internal-test-token", at = internalBase!) =>
    fetch(`${at}/internal/links/${linkId}/playground`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  test("verdict and result through the real path, audited as the playground", async () => {
    const ok = await playground(link.linkId, { sql: "SELECT name FROM genre WHERE genre_id = $1", params: [1], userId: world.userId });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({
      verdict: { allowed: true, classes: ["read"], tables: ["public.genre"] },
      result: { columns: ["name"], rows: [["Rock"]], rowCount: 1, truncated: false },
    });
    const blocked = (await (await playground(link.linkId, { sql: "DROP TABLE genre", userId: world.userId })).json()) as PlaygroundAnswer;
    expect(blocked.verdict).toMatchObject({ allowed: false, ruleId: "ddl_not_permitted" });
    expect(blocked.result).toBeUndefined();
    const failed = (await (await playground(link.linkId, { sql: "SELECT 1/0", userId: world.userId })).json()) as PlaygroundAnswer;
    expect(failed.verdict.allowed).toBe(true);
    expect(failed.error).toContain("division by zero");
    const events = await waitFor(
      () => auditEvents(world),
      (es) => es.filter((e) => e.clientName === "portcullis-playground").length >= 3,
    );
    expect(events.find((e) => e.clientName === "portcullis-playground" && e.sql === "DROP TABLE genre")).toMatchObject({
      tool: "execute_sql",
      verdict: "blocked",
      userId: world.userId,
      linkId: link.linkId,
      apiKeyId: null,
    });
  });

  test("wrong token 401, unknown link 404, bad body 422", async () => {
    expect((await playground(link.linkId, { sql: "SELECT 1", userId: world.userId }, "nope")).status).toBe(401);
    expect((await playground(randomUUID(), { sql: "SELECT 1", userId: world.userId })).status).toBe(404);
    expect((await playground(link.linkId, { sql: "SELECT 1" })).status).toBe(422);
  });
});

describe("OAuth access tokens", () => {
  test("a token for this link works, is attributed to its client, and dies with its grant", async () => {
    const { createHash, randomBytes } = await import("node:crypto");
    const token = `pca_${randomBytes(32).toString("base64url")}`;
    const client = await world.prisma.oAuthClient.create({
      data: { clientId: "https://client.example/metadata.json", kind: "metadata_document", name: "Example Client", redirectUris: [], metadata: {} },
    });
    const grant = await world.prisma.oAuthGrant.create({ data: { teamId: world.teamId, clientId: client.id, userId: world.userId, linkId: link.linkId } });
    await world.prisma.oAuthToken.create({
      data: { grantId: grant.id, kind: "access", tokenHash: createHash("sha256").update(token).digest("hex"), expiresAt: new Date(Date.now() + 600_000) },
    });
    const ok = await rawPost(`${base}/mcp/${link.linkId}`, call(1, "SELECT 'oauth-call' AS marker"), auth(token));
    expect(ok.status).toBe(200);
    expect(ok.json.result.content[0].text).toContain("oauth-call");
    // Audience-bound: the same token on another link is just another 401.
    expect((await rawPost(`${base}/mcp/${other.linkId}`, call(), auth(token))).status).toBe(401);
    const events = await waitFor(() => auditEvents(world), (es) => es.some((e) => e.sql?.includes("oauth-call")));
    expect(events.find((e) => e.sql?.includes("oauth-call"))).toMatchObject({
      oauthClientId: "https://client.example/metadata.json",
      clientName: "Example Client",
      apiKeyId: null,
      userId: world.userId,
    });
    await world.prisma.oAuthGrant.update({ where: { id: grant.id }, data: { revokedAt: new Date() } });
    const { REVOCATION_CHANNEL } = await import("@portcullis/jobs");
    const { testRedisUrl } = await import("@portcullis/db/testing");
    const { Redis } = await import("ioredis");
    const publisher = new Redis(testRedisUrl());
    await publisher.publish(REVOCATION_CHANNEL, JSON.stringify({ kind: "oauth_grant", grantId: grant.id }));
    await publisher.quit();
    await waitFor(() => rawPost(`${base}/mcp/${link.linkId}`, call(), auth(token)).then((r) => r.status), (s) => s === 401, 1_000, 20);
  });
});

describe("last used", () => {
  test("recorded in Redis for the worker to flush, not written per request", async () => {
    const { LAST_USED_HASH } = await import("@portcullis/jobs");
    const { testRedisUrl } = await import("@portcullis/db/testing");
    const { Redis } = await import("ioredis");
    const redis = new Redis(testRedisUrl());
    // A fresh key: other suites' workers flush (and empty) the shared hash.
    const fresh = await world.addLink({ access: "read" });
    await rawPost(`${base}/mcp/${fresh.linkId}`, call(), auth(fresh.key));
    const value = await waitFor(() => redis.hget(LAST_USED_HASH, fresh.apiKeyId), (v) => v !== null, 2_000);
    expect(new Date(value!).getTime()).toBeGreaterThan(Date.now() - 60_000);
    const row = await world.prisma.apiKey.findUnique({ where: { id: fresh.apiKeyId } });
    expect(row!.lastUsedAt).toBeNull();
    await redis.quit();
  });
});
