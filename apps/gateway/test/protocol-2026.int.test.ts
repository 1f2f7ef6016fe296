import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Gateway } from "../src/gateway.js";
import { GatewayWorld, MODERN, auditEvents, modernCall as modernCallOf, modernEnvelope, modernHeaders, modernRequest, rawPost, waitFor, type LinkFixture } from "./fixtures.js";

/** MCP 2026-07-28 on the wire against the real gateway: the edge rules, result fields, audit, cancellation. */
let world: GatewayWorld;
let base: string;
let gateway: Gateway;
let reader: LinkFixture;
let writer: LinkFixture;

const ALL = ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"];
// This file's requests come from "alice-client" unless a test names another.
const envelope = (client = { name: "alice-client", version: "1.0" }, extra: Record<string, unknown> = {}) => modernEnvelope(client, extra);
const modernCall = (sql: string, id: number | string = 1, meta: Record<string, unknown> = envelope(), name = "execute_sql") => modernCallOf(sql, id, meta, name);
const modern = (method: string, params: Record<string, unknown> = {}, id: number | string = 1) => modernRequest(method, params, id, envelope());

beforeAll(async () => {
  world = await GatewayWorld.create();
  ({ url: base, gateway } = await world.startGateway({ GATEWAY_RATE_LIMIT_PER_MINUTE: "10000" }));
  reader = await world.addLink({ access: "read", schemas: ["public"], limits: { statementTimeoutMs: 60_000 } }, undefined, base);
  writer = await world.addLink({ access: "write", schemas: ["public"] }, undefined, base);
});
afterAll(() => world?.close());

async function targetQuery<T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: world.target.url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

describe("edge rules on the wire", () => {
  test("each rule: HTTP status, JSON-RPC code and data", async () => {
    const call = modernCall("SELECT 1");
    const cases: [string, Record<string, string>, unknown, number, number, unknown?][] = [
      ["no Mcp-Method", { authorization: `Bearer ${reader.key}`, "mcp-protocol-version": MODERN, "mcp-name": "execute_sql" }, call, 400, -32020],
      ["no Mcp-Name", modernHeaders(reader.key, "tools/call"), call, 400, -32020],
      ["no MCP-Protocol-Version", { authorization: `Bearer ${reader.key}`, "mcp-method": "tools/call", "mcp-name": "execute_sql" }, call, 400, -32020],
      ["Mcp-Method disagrees", modernHeaders(reader.key, "tools/list", "execute_sql"), call, 400, -32020],
      ["version header disagrees", { ...modernHeaders(reader.key, "tools/call", "execute_sql"), "mcp-protocol-version": "2025-11-25" }, call, 400, -32020],
      [
        "unsupported revision",
        { ...modernHeaders(reader.key, "tools/call", "execute_sql"), "mcp-protocol-version": "2099-01-01" },
        modernCall("SELECT 1", 1, { ...envelope(), "io.modelcontextprotocol/protocolVersion": "2099-01-01" }),
        400,
        -32022,
        { supported: [MODERN], requested: "2099-01-01" },
      ],
      [
        "envelope without clientCapabilities",
        modernHeaders(reader.key, "tools/call", "execute_sql"),
        modernCall("SELECT 1", 1, { "io.modelcontextprotocol/protocolVersion": MODERN }),
        400,
        -32602,
      ],
      ["unknown method", modernHeaders(reader.key, "prompts/list"), modern("prompts/list"), 404, -32601],
      ["ping is gone in 2026-07-28", modernHeaders(reader.key, "ping"), modern("ping"), 404, -32601],
      ["initialize is not a 2026-07-28 method", modernHeaders(reader.key, "initialize"), modern("initialize", { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "1" } }), 404, -32601],
      ["legacy body, unknown version header", { authorization: `Bearer ${reader.key}`, "mcp-protocol-version": "2099-01-01" }, { jsonrpc: "2.0", id: 1, method: "tools/list" }, 400, -32022, { supported: ALL, requested: "2099-01-01" }],
      ["batch with a modern element", { authorization: `Bearer ${reader.key}` }, [call], 400, -32600],
      // Not offered (no change notifications; lists carry ttlMs): said plainly rather than a stream that outlives a revoked key.
      ["subscriptions/listen", modernHeaders(reader.key, "subscriptions/listen"), modern("subscriptions/listen", { notifications: { toolsListChanged: true } }), 404, -32601],
    ];
    for (const [label, headers, body, status, code, data] of cases) {
      const r = await rawPost(reader.url, body, headers);
      expect(r.status, label).toBe(status);
      expect(r.json?.error?.code, label).toBe(code);
      if (data !== undefined) expect(r.json.error.data, label).toEqual(data);
    }
    // Mcp-Name in Base64 (sentinel) and with optional whitespace is the same name.
    for (const name of [`=?base64?${Buffer.from("execute_sql").toString("base64")}?=`, "  execute_sql\t"]) {
      const r = await rawPost(reader.url, modernCall("SELECT 40 + 2 AS answer"), modernHeaders(reader.key, "tools/call", name));
      expect(r.status, name).toBe(200);
      expect(r.json.result.structuredContent.rows).toEqual([[42]]);
    }
    // SSE-only clients get the answer as one event, with the same status rules.
    const sse = await rawPost(reader.url, modernCall("SELECT 7 AS seven"), { ...modernHeaders(reader.key, "tools/call", "execute_sql"), accept: "text/event-stream" });
    expect(sse.status).toBe(200);
    expect(sse.headers.get("content-type")).toBe("text/event-stream");
    expect(JSON.parse(sse.text.split("data: ")[1]!).result.structuredContent.rows).toEqual([[7]]);
    const sse404 = await rawPost(reader.url, modern("prompts/list"), { ...modernHeaders(reader.key, "prompts/list"), accept: "text/event-stream" });
    expect(sse404.status).toBe(404);
    // A modern notification is accepted with nothing to answer.
    const n = await rawPost(reader.url, { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1, _meta: envelope() } }, modernHeaders(reader.key, "notifications/cancelled"));
    expect(n.status).toBe(202);
    expect(n.text).toBe("");
  });

  test("a header that disagrees with the body is refused before anything runs: the write in the body does not happen", async () => {
    const count = async () => (await targetQuery<{ n: string }>("SELECT count(*) AS n FROM media_type"))[0]!.n;
    const before = await count();
    const marker = `mcp-name-attack-${randomUUID()}`;
    const write = modernCall(`INSERT INTO media_type (media_type_id, name) VALUES (9001, '${marker}')`, 5, envelope({ name: "attacker", version: "6.6" }));
    // A router or WAF that allows read-only tool names by Mcp-Name must not be bypassed by the body.
    const r = await rawPost(writer.url, write, modernHeaders(writer.key, "tools/call", "get_schema"));
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ id: 5, error: { code: -32020 } });
    expect(await count()).toBe(before);
    expect(await targetQuery("SELECT 1 FROM media_type WHERE name = $1", [marker])).toEqual([]);
    // Audited as a refused request (with what the client said it is), never as a tool call.
    const events = await waitFor(
      () => auditEvents(world),
      (all) => all.some((e) => e.linkId === writer.linkId && e.kind === "request_refused" && e.ruleId === "header_mismatch"),
    );
    const refused = events.find((e) => e.linkId === writer.linkId && e.ruleId === "header_mismatch")!;
    expect(refused).toMatchObject({ verdict: "blocked", clientName: "attacker", clientVersion: "6.6", protocolVersion: MODERN });
    expect(events.filter((e) => e.linkId === writer.linkId && e.kind === "tool_call")).toEqual([]);
    // The same statement with agreeing headers does run (the refusal was the header's doing).
    const ok = await rawPost(writer.url, { ...write, id: 6 }, modernHeaders(writer.key, "tools/call", "execute_sql"));
    expect(ok.status).toBe(200);
    expect(ok.json.result.isError).toBeUndefined();
    expect(await targetQuery("SELECT 1 AS one FROM media_type WHERE name = $1", [marker])).toEqual([{ one: 1 }]);
    await targetQuery("DELETE FROM media_type WHERE name = $1", [marker]);
  });
});

describe("2026-07-28 results carry the revision's fields; 2025 results do not", () => {
  test("resultType, serverInfo, ttlMs/cacheScope on modern replies; none on 2025 replies", async () => {
    const list = await rawPost(reader.url, modern("tools/list"), modernHeaders(reader.key, "tools/list"));
    expect(list.status).toBe(200);
    expect(list.json.result).toMatchObject({ resultType: "complete", ttlMs: 60_000, cacheScope: "private" });
    expect(list.json.result._meta["io.modelcontextprotocol/serverInfo"]).toMatchObject({ name: "portcullis" });
    const names = list.json.result.tools.map((t: { name: string }) => t.name);
    expect(names).toContain("execute_sql");
    const again = await rawPost(reader.url, modern("tools/list"), modernHeaders(reader.key, "tools/list"));
    expect(again.json.result.tools.map((t: { name: string }) => t.name)).toEqual(names); // deterministic order

    const call = await rawPost(reader.url, modernCall("SELECT 1 AS one"), modernHeaders(reader.key, "tools/call", "execute_sql"));
    expect(call.json.result).toMatchObject({ resultType: "complete", structuredContent: { rows: [[1]] } });
    expect(call.json.result._meta["io.modelcontextprotocol/serverInfo"]).toBeDefined();

    const resources = await rawPost(reader.url, modern("resources/list"), modernHeaders(reader.key, "resources/list"));
    expect(resources.json.result).toMatchObject({ resultType: "complete", ttlMs: 300_000, cacheScope: "private" });
    const templates = await rawPost(reader.url, modern("resources/templates/list"), modernHeaders(reader.key, "resources/templates/list"));
    expect(templates.json.result).toMatchObject({ resultType: "complete", ttlMs: 300_000, cacheScope: "private" });
    const uri = "portcullis://tables/public/album";
    const read = await rawPost(reader.url, modern("resources/read", { uri }), modernHeaders(reader.key, "resources/read", uri));
    expect(read.json.result).toMatchObject({ resultType: "complete", ttlMs: 300_000, cacheScope: "private", contents: [{ uri }] });

    const auth = { authorization: `Bearer ${reader.key}`, "mcp-protocol-version": "2025-11-25" };
    for (const method of ["tools/list", "resources/list"]) {
      const legacy = await rawPost(reader.url, { jsonrpc: "2.0", id: 1, method }, auth);
      expect(legacy.status, method).toBe(200);
      for (const field of ["resultType", "ttlMs", "cacheScope", "_meta"]) expect(legacy.json.result[field], `${method} ${field}`).toBeUndefined();
    }
    const legacyCall = await rawPost(reader.url, { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "execute_sql", arguments: { sql: "SELECT 1 AS one" } } }, auth);
    expect(legacyCall.json.result.structuredContent.rows).toEqual([[1]]);
    expect(legacyCall.json.result.resultType).toBeUndefined();
  });

  test("tools/call (answered without the SDK's dispatch) keeps the SDK's wire: the result shape of each era, -32602 for bad params and unknown tools, ids echoed as sent", async () => {
    const headers = modernHeaders(reader.key, "tools/call", "execute_sql");
    const ok = await rawPost(reader.url, modernCall("SELECT 2 AS two", "call-α"), headers);
    expect(ok.status).toBe(200);
    expect(ok.json.id).toBe("call-α");
    expect(Object.keys(ok.json.result).sort()).toEqual(["_meta", "content", "resultType", "structuredContent"]);
    expect(ok.json.result._meta).toEqual({ "io.modelcontextprotocol/serverInfo": { name: "portcullis", title: "Portcullis PostgreSQL gateway", version: "0.1.0" } });
    const badParams: [string, unknown][] = [
      ["arguments as an array", { name: "execute_sql", arguments: ["SELECT 1"] }],
      ["arguments null", { name: "execute_sql", arguments: null }],
    ];
    for (const [label, params] of badParams) {
      const reply = await rawPost(reader.url, { jsonrpc: "2.0", id: 7, method: "tools/call", params: { ...(params as object), _meta: envelope() } }, headers);
      expect(reply.json.error?.code, label).toBe(-32602);
      expect(reply.json.id, label).toBe(7);
    }
    const unknown = await rawPost(reader.url, modernCall("SELECT 1", 8, envelope(), "drop_everything"), modernHeaders(reader.key, "tools/call", "drop_everything"));
    expect(unknown.json.error).toMatchObject({ code: -32602, message: expect.stringContaining("Unknown tool: drop_everything") });
    const legacy = { authorization: `Bearer ${reader.key}`, "mcp-protocol-version": "2025-11-25" };
    const numeric = await rawPost(reader.url, { jsonrpc: "2.0", id: 0, method: "tools/call", params: { name: 5 } }, legacy);
    expect(numeric.json).toMatchObject({ id: 0, error: { code: -32602 } });
    const legacyOk = await rawPost(reader.url, { jsonrpc: "2.0", id: 0, method: "tools/call", params: { name: "execute_sql", arguments: { sql: "SELECT 3 AS three" } } }, legacy);
    expect(legacyOk.json.id).toBe(0);
    expect(Object.keys(legacyOk.json.result).sort()).toEqual(["content", "structuredContent"]);
  });

  test("404 -32601 only on 2026-07-28: 2025 clients keep 200 for an unknown method, and ping", async () => {
    const auth = { authorization: `Bearer ${reader.key}`, "mcp-protocol-version": "2025-06-18" };
    const unknown = await rawPost(reader.url, { jsonrpc: "2.0", id: 1, method: "prompts/list" }, auth);
    expect(unknown.status).toBe(200);
    expect(unknown.json.error.code).toBe(-32601);
    const ping = await rawPost(reader.url, { jsonrpc: "2.0", id: 2, method: "ping" }, auth);
    expect(ping).toMatchObject({ status: 200, json: { id: 2, result: {} } });
  });

  test("server/discover: the SDK's, with our revision, capabilities and private cache hints", async () => {
    const r = await rawPost(reader.url, modern("server/discover"), modernHeaders(reader.key, "server/discover"));
    expect(r.status).toBe(200);
    expect(r.json.result).toMatchObject({ supportedVersions: [MODERN], capabilities: { tools: {}, resources: {} }, resultType: "complete", ttlMs: 300_000, cacheScope: "private" });
    expect(r.json.result.instructions).toContain("get_schema");
    // Link-independent (the SDK answers it per instance, shared by every link): no link name in it;
    // the 2025 handshake, answered per request, names the link.
    const { name } = await world.prisma.link.findUniqueOrThrow({ where: { id: reader.linkId }, select: { name: true } });
    expect(JSON.stringify(r.json.result)).not.toContain(name);
    const init = await rawPost(
      reader.url,
      { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "1" } } },
      { authorization: `Bearer ${reader.key}` },
    );
    expect(init.json.result.instructions).toContain(`"${name}"`);
    expect(init.json.result.capabilities).toEqual(r.json.result.capabilities);
  });

  test("discover needs a credential like everything else", async () => {
    const r = await rawPost(reader.url, modern("server/discover"), { "mcp-protocol-version": MODERN, "mcp-method": "server/discover" });
    expect(r.status).toBe(401);
  });
});

describe("per-request identity", () => {
  test("two modern requests with different clientInfo are audited as their own client, revision and trace", async () => {
    const trace = randomUUID().replace(/-/g, "");
    const alice = modernCall("SELECT 'alice' AS who", 11, envelope({ name: "alice-client", version: "1.0" }, { traceparent: `00-${trace}-b7ad6b7169203331-01` }));
    const bob = modernCall("SELECT 'bob' AS who", 12, envelope({ name: "bob-client", version: "2.0" }));
    const [a, b] = await Promise.all([
      rawPost(reader.url, alice, modernHeaders(reader.key, "tools/call", "execute_sql")),
      rawPost(reader.url, bob, modernHeaders(reader.key, "tools/call", "execute_sql")),
    ]);
    expect(a.json.result.structuredContent.rows).toEqual([["alice"]]);
    expect(b.json.result.structuredContent.rows).toEqual([["bob"]]);
    const events = await waitFor(
      () => auditEvents(world),
      (all) => all.filter((e) => e.kind === "tool_call" && (e.sql === "SELECT 'alice' AS who" || e.sql === "SELECT 'bob' AS who")).length === 2,
    );
    const of = (sql: string) => events.find((e) => e.kind === "tool_call" && e.sql === sql)!;
    expect(of("SELECT 'alice' AS who")).toMatchObject({ clientName: "alice-client", clientVersion: "1.0", protocolVersion: MODERN, traceId: trace });
    expect(of("SELECT 'bob' AS who")).toMatchObject({ clientName: "bob-client", clientVersion: "2.0", protocolVersion: MODERN });
    expect(of("SELECT 'bob' AS who").traceId ?? null).toBeNull();
  });

  test("2025 calls are audited with their session's client and the header's revision (else the session's, else 2025-03-26)", async () => {
    const init = await rawPost(
      reader.url,
      { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "old-client", version: "0.9" } } },
      { authorization: `Bearer ${reader.key}` },
    );
    const session = init.headers.get("mcp-session-id")!;
    expect(init.json.result.protocolVersion).toBe("2025-06-18");
    const call = (sql: string, headers: Record<string, string>) =>
      rawPost(reader.url, { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "execute_sql", arguments: { sql } } }, { authorization: `Bearer ${reader.key}`, ...headers });
    await call("SELECT 'by header' AS v", { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" });
    await call("SELECT 'by session' AS v", { "mcp-session-id": session });
    await call("SELECT 'by nothing' AS v", {});
    const events = await waitFor(
      () => auditEvents(world),
      (all) => all.filter((e) => e.kind === "tool_call" && /'by (header|session|nothing)'/.test(e.sql ?? "")).length === 3,
    );
    const of = (v: string) => events.find((e) => e.sql === `SELECT '${v}' AS v`)!;
    expect(of("by header")).toMatchObject({ clientName: "old-client", clientVersion: "0.9", protocolVersion: "2025-11-25" });
    expect(of("by session")).toMatchObject({ clientName: "old-client", protocolVersion: "2025-06-18" });
    expect(of("by nothing")).toMatchObject({ protocolVersion: "2025-03-26" });
  });
});

describe("cancellation", () => {
  test("a client that disconnects cancels its statement in the database within seconds", async () => {
    const marker = `cancel_${randomUUID().replace(/-/g, "")}`;
    const sql = `SELECT count(*) AS ${marker} FROM track a, track b, track c`;
    const aborter = new AbortController();
    const pending = fetch(reader.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...modernHeaders(reader.key, "tools/call", "execute_sql") },
      body: JSON.stringify(modernCall(sql)),
      signal: aborter.signal,
    }).catch((error: Error) => error);
    const running = () => targetQuery<{ pid: number }>("SELECT pid, state, backend_type, now() - query_start AS age FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()", [`%${marker}%`]);
    await waitFor(running, (rows) => rows.length === 1, 10_000);
    aborter.abort();
    expect(await pending).toBeInstanceOf(Error);
    const started = Date.now();
    await waitFor(running, (rows) => rows.length === 0, 5_000, 100);
    expect(Date.now() - started).toBeLessThan(5_000);
    // Nothing stays behind in the dispatch transport (the SDK sends no answer for a cancelled id).
    await waitFor(async () => [gateway.mcp.modern.inFlight, gateway.mcp.modern.contextsHeld], ([a, b]) => a === 0 && b === 0, 5_000);
    // The call is still audited once (cancelled by the database), and the gateway keeps serving.
    const events = await waitFor(
      () => auditEvents(world),
      (all) => all.some((e) => e.kind === "tool_call" && e.sql === sql),
    );
    const mine = events.filter((e) => e.kind === "tool_call" && e.sql === sql);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ verdict: "error", protocolVersion: MODERN });
    expect(mine[0]!.error).toMatch(/cancel/i);
    const ok = await rawPost(reader.url, modernCall("SELECT 1 AS one", 2), modernHeaders(reader.key, "tools/call", "execute_sql"));
    expect(ok.json.result.structuredContent.rows).toEqual([[1]]);
  }, 30_000);
});
