import { randomBytes } from "node:crypto";
import { Client as LegacyClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as LegacyTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "@portcullis/telemetry/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayWorld, auditEvents, modernCall, modernEnvelope, modernHeaders, rawPost, waitFor, type LinkFixture } from "./fixtures.js";
import { spawnTracedGateway } from "./otel-support.js";

// Issue 16 point 3: spans, attributes, the client's trace context, the audit event's trace id, metrics
// and SQLCommenter, through a real gateway process exporting to an OTLP receiver this test runs.
const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const SERVER = 2;
const CLIENT = 3;

let world: GatewayWorld;
let receiver: OtlpReceiver;
let gateway: Awaited<ReturnType<typeof spawnTracedGateway>>;
let link: LinkFixture;

beforeAll(async () => {
  [world, receiver] = await Promise.all([GatewayWorld.create(), startOtlpReceiver()]);
  gateway = await spawnTracedGateway(world.env(), {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
    OTEL_BSP_SCHEDULE_DELAY: "50",
    OTEL_METRIC_EXPORT_INTERVAL: "300",
    OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=otel-test",
    PORTCULLIS_SQLCOMMENTER: "1",
  });
  link = await world.addLink({ access: "read", tables: { customer: { access: "none" } } }, undefined, gateway.url);
});

afterAll(async () => {
  await gateway?.stop();
  await Promise.all([world?.close(), receiver?.close()]);
});

async function modernClient(): Promise<{ callTool(p: Record<string, unknown>): Promise<unknown>; close(): Promise<void> }> {
  const v2 = await import("@modelcontextprotocol/client");
  const client = new v2.Client({ name: "otel-v2", version: "2.4.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await client.connect(new v2.StreamableHTTPClientTransport(new URL(link.url), { requestInit: { headers: { authorization: `Bearer ${link.key}` } } }));
  return client as never;
}

async function legacyClient(headers: Record<string, string>): Promise<LegacyClient> {
  const client = new LegacyClient({ name: "otel-1x", version: "1.0.0" });
  await client.connect(new LegacyTransport(new URL(link.url), { requestInit: { headers: { authorization: `Bearer ${link.key}`, ...headers } } }));
  return client;
}

/** The server span of a trace and its children, once all of them arrived. */
async function traceOf(traceId: string, children: number): Promise<{ server: ReceivedSpan; kids: ReceivedSpan[] }> {
  const spans = await waitFor(
    async () => receiver.spans.filter((s) => s.traceId === traceId),
    (found) => found.some((s) => s.kind === SERVER && s.attributes["mcp.method.name"] === "tools/call") && found.length >= children + 1,
  );
  const server = spans.find((s) => s.kind === SERVER && s.attributes["mcp.method.name"] === "tools/call")!;
  return { server, kids: spans.filter((s) => s.parentSpanId === server.spanId) };
}

describe("OpenTelemetry export", () => {
  it("2026-07-28: traceparent in _meta is the parent; span tree, attributes and the audit event's trace id", async () => {
    const traceId = hex(16);
    const parentSpanId = hex(8);
    const client = await modernClient();
    try {
      await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT name FROM media_type ORDER BY media_type_id LIMIT 2" }, _meta: { traceparent: `00-${traceId}-${parentSpanId}-01` } });
    } finally {
      await client.close();
    }
    const { server, kids } = await traceOf(traceId, 4);
    expect(server.parentSpanId).toBe(parentSpanId);
    expect(server.name).toBe("tools/call execute_sql");
    expect(server.attributes).toMatchObject({
      "mcp.method.name": "tools/call",
      "gen_ai.tool.name": "execute_sql",
      "gen_ai.operation.name": "execute_tool",
      "mcp.protocol.version": "2026-07-28",
      "network.transport": "tcp",
      "portcullis.verdict": "allowed",
      "http.response.status_code": 200,
    });
    expect(typeof server.attributes["jsonrpc.request.id"]).toBe("string");
    expect(server.resource).toMatchObject({ "service.name": "portcullis-gateway", "deployment.environment.name": "otel-test" });
    const db = kids.find((k) => k.kind === CLIENT)!;
    expect(db.name).toMatch(/^SELECT /);
    expect(kids.map((k) => k.name).sort()).toEqual([db.name, "portcullis.audit", "portcullis.auth", "portcullis.policy"].sort());
    expect(db.attributes).toMatchObject({ "db.system.name": "postgresql", "db.operation.name": "SELECT", "db.collection.name": "public.media_type", "db.query.summary": "SELECT public.media_type", "db.response.returned_rows": 2 });
    expect(db.attributes["db.namespace"]).toBeTruthy();
    expect(db.attributes["server.port"]).toBeTypeOf("number");
    // Literals can ride in the text: off unless OTEL_PORTCULLIS_DB_QUERY_TEXT opts in.
    expect(db.attributes["db.query.text"]).toBeUndefined();
    for (const kid of kids) expect(kid.startNs >= server.startNs && kid.endNs <= server.endNs).toBe(true);
    const events = await waitFor(() => auditEvents(world), (e) => e.some((x) => x.traceId === traceId));
    expect(events.filter((e) => e.traceId === traceId)).toHaveLength(1);
  });

  it("2026-07-28: _meta wins over the HTTP header; the header is the fallback when _meta has none", async () => {
    const [metaTrace, headerTrace, onlyHeader] = [hex(16), hex(16), hex(16)];
    const [metaSpan, headerSpan, onlySpan] = [hex(8), hex(8), hex(8)];
    const sql = "SELECT 1 AS one";
    const both = await rawPost(link.url, modernCall(sql, 7, modernEnvelope(undefined, { traceparent: `00-${metaTrace}-${metaSpan}-01` })), {
      ...modernHeaders(link.key, "tools/call", "execute_sql"),
      traceparent: `00-${headerTrace}-${headerSpan}-01`,
    });
    const fallback = await rawPost(link.url, modernCall(sql, 8), { ...modernHeaders(link.key, "tools/call", "execute_sql"), traceparent: `00-${onlyHeader}-${onlySpan}-01` });
    expect([both.status, fallback.status]).toEqual([200, 200]);
    expect((await traceOf(metaTrace, 4)).server.parentSpanId).toBe(metaSpan);
    expect((await traceOf(onlyHeader, 4)).server).toMatchObject({ parentSpanId: onlySpan, attributes: { "jsonrpc.request.id": "8" } });
    expect(receiver.spans.some((s) => s.traceId === headerTrace)).toBe(false);
    const events = await waitFor(() => auditEvents(world), (e) => e.some((x) => x.traceId === onlyHeader));
    expect(events.some((e) => e.traceId === metaTrace)).toBe(true);
  });

  it("2025-11-25: a client that carries traceparent only in _meta is continued too (the header wins when both)", async () => {
    const [traceId, spanId, headerTrace, headerSpan] = [hex(16), hex(8), hex(16), hex(8)];
    const onlyMeta = await legacyClient({});
    const both = await legacyClient({ traceparent: `00-${headerTrace}-${headerSpan}-01` });
    try {
      await onlyMeta.callTool({ name: "execute_sql", arguments: { sql: "SELECT 2 AS two" }, _meta: { traceparent: `00-${traceId}-${spanId}-01` } });
      await both.callTool({ name: "execute_sql", arguments: { sql: "SELECT 3 AS three" }, _meta: { traceparent: `00-${hex(16)}-${hex(8)}-01` } });
    } finally {
      await Promise.all([onlyMeta.close(), both.close()]);
    }
    expect((await traceOf(traceId, 3)).server.parentSpanId).toBe(spanId);
    expect((await traceOf(headerTrace, 3)).server.parentSpanId).toBe(headerSpan);
  });

  it("what a client chooses (request id, tool name) is cut short in span names and attributes", async () => {
    const traceId = hex(16);
    const hugeId = `id-${"x".repeat(200_000)}`;
    // (the tool name also travels in the Mcp-Name header, which Node caps at 16 KiB in all)
    const hugeTool = `tool_${"y".repeat(10_000)}`;
    const body = modernCall("SELECT 1", hugeId, modernEnvelope(undefined, { traceparent: `00-${traceId}-${hex(8)}-01` }), hugeTool);
    const res = await rawPost(link.url, body, modernHeaders(link.key, "tools/call", hugeTool));
    expect(res.status).toBeLessThan(500);
    const server = await waitFor(
      async () => receiver.spans.find((s) => s.traceId === traceId && s.kind === SERVER),
      (span) => span !== undefined,
    );
    expect(server!.name.length).toBeLessThanOrEqual(200);
    for (const [key, value] of Object.entries(server!.attributes)) expect(String(value).length, key).toBeLessThanOrEqual(4_096);
    expect(String(server!.attributes["jsonrpc.request.id"]).length).toBeLessThanOrEqual(130);
  });

  it("2025-11-25: the HTTP traceparent header is the parent; a refused statement is a blocked span", async () => {
    const traceId = hex(16);
    const parentSpanId = hex(8);
    const client = await legacyClient({ traceparent: `00-${traceId}-${parentSpanId}-01` });
    try {
      await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT * FROM customer" } });
    } finally {
      await client.close();
    }
    const { server, kids } = await traceOf(traceId, 3);
    expect(server.parentSpanId).toBe(parentSpanId);
    expect(server.attributes).toMatchObject({ "mcp.method.name": "tools/call", "gen_ai.tool.name": "execute_sql", "portcullis.verdict": "blocked", "error.type": "tool_error" });
    expect(String(server.attributes["mcp.protocol.version"])).toMatch(/^2025-/);
    expect(typeof server.attributes["mcp.session.id"]).toBe("string");
    const policy = kids.find((k) => k.name === "portcullis.policy")!;
    expect(policy.attributes["portcullis.verdict"]).toBe("blocked");
    // Refused before execution: no database span at all.
    expect(kids.some((k) => k.kind === CLIENT)).toBe(false);
    const events = await waitFor(() => auditEvents(world), (e) => e.some((x) => x.traceId === traceId));
    expect(events.find((e) => e.traceId === traceId)?.verdict).toBe("blocked");
  });

  it("metrics arrive over OTLP: request duration by method/tool/verdict and db.client.operation.duration; invented names stay out", async () => {
    // A client inventing tool names must not grow the meter's series: they are counted as _OTHER.
    const invented = `made_up_${hex(6)}`;
    const client = await legacyClient({});
    try {
      await client.callTool({ name: invented, arguments: {} }).catch(() => undefined);
    } finally {
      await client.close();
    }
    const points = await waitFor(
      async () => receiver.points,
      (p) =>
        p.some((x) => x.metric === "mcp.server.operation.duration" && x.attributes["portcullis.verdict"] === "blocked") &&
        p.some((x) => x.metric === "db.client.operation.duration") &&
        p.some((x) => x.attributes["gen_ai.tool.name"] === "_OTHER") &&
        receiver.spans.some((s) => s.attributes["gen_ai.tool.name"] === invented),
    );
    expect(points.some((p) => Object.values(p.attributes).includes(invented))).toBe(false);
    expect(receiver.spans.some((s) => s.attributes["gen_ai.tool.name"] === invented)).toBe(true);
    const allowed = points.find((p) => p.metric === "mcp.server.operation.duration" && p.attributes["portcullis.verdict"] === "allowed");
    expect(allowed?.attributes).toMatchObject({ "mcp.method.name": "tools/call", "gen_ai.tool.name": "execute_sql" });
    expect(allowed?.count).toBeGreaterThanOrEqual(1);
    expect(points.find((p) => p.metric === "db.client.operation.duration")?.attributes).toMatchObject({ "db.system.name": "postgresql", "db.operation.name": "SELECT" });
    expect(receiver.requests.every((r) => r.contentType === "application/x-protobuf")).toBe(true);
  });

  it("SQLCommenter: the running statement names our link, team and span; client text cannot reach the comment", async () => {
    const target = new pg.Client({ connectionString: world.target.url });
    await target.connect();
    const client = await modernClient();
    try {
      const marker = hex(4);
      // The attack: a traceparent that tries to close the comment, and a statement ending in a line
      // comment (a naive append would vanish into it).
      const hostile = `00-${"a".repeat(32)}-${"b".repeat(16)}-01*/; DROP TABLE album; /*`;
      const call = client.callTool({ name: "execute_sql", arguments: { sql: `SELECT count(*), '${marker}' FROM track a CROSS JOIN track b -- */ DROP TABLE album` }, _meta: { traceparent: hostile, tracestate: "x=*/" } });
      const running = await waitFor(
        async () => (await target.query<{ query: string }>("SELECT query FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()", [`%${marker}%`])).rows,
        (rows) => rows.length > 0,
      );
      await call;
      const query = running[0]!.query;
      const comment = /\n(\/\*.*\*\/)$/.exec(query)?.[1];
      expect(comment).toMatch(new RegExp(`^/\\*portcullis_link='${link.linkId}',portcullis_team='${link.teamId}',traceparent='00-[0-9a-f]{32}-[0-9a-f]{16}-01'\\*/$`));
      // A fresh trace (the hostile parent was not valid), whose database span is the comment's span.
      const [, traceId, spanId] = /traceparent='00-([0-9a-f]{32})-([0-9a-f]{16})-01'/.exec(comment!)!;
      expect(traceId).not.toBe("a".repeat(32));
      const db = await waitFor(async () => receiver.spans.find((s) => s.spanId === spanId), (s) => s !== undefined);
      expect(db).toMatchObject({ traceId, kind: CLIENT });
      expect((await target.query("SELECT count(*)::int AS n FROM album")).rows[0].n).toBeGreaterThan(0);
    } finally {
      await client.close();
      await target.end();
    }
  });
});

describe("OpenTelemetry off", () => {
  it("OTEL_SDK_DISABLED: nothing is exported, and the audit event keeps the client's own trace id", async () => {
    const own = await startOtlpReceiver();
    const quiet = await spawnTracedGateway(world.env(), { OTEL_EXPORTER_OTLP_ENDPOINT: own.url, OTEL_BSP_SCHEDULE_DELAY: "50", OTEL_METRIC_EXPORT_INTERVAL: "100", OTEL_SDK_DISABLED: "true" });
    try {
      const traceId = hex(16);
      const answer = await rawPost(`${quiet.url}/mcp/${link.linkId}`, modernCall("SELECT 2 AS two", 1, modernEnvelope(undefined, { traceparent: `00-${traceId}-${hex(8)}-01` })), modernHeaders(link.key, "tools/call", "execute_sql"));
      expect(answer.status).toBe(200);
      await waitFor(() => auditEvents(world), (e) => e.some((x) => x.traceId === traceId));
      // Well past the batch delay and the metric interval it would have used.
      await new Promise((r) => setTimeout(r, 600));
      expect(own.requests).toEqual([]);
    } finally {
      await quiet.stop();
      await own.close();
    }
  });
});
