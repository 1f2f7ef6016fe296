import { classifyInboundRequest } from "@modelcontextprotocol/server";
import { describe, expect, test } from "vitest";
import { classifyMcpPost, decodeMcpName, forgetAcceptedEnvelopes, legacyRevision, modernEnvelopeOf, plainLegacyRequest, type Classified } from "../src/http/mcp/classify.js";

const MODERN = "2026-07-28";
const ALL = ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"];
const envelope = (over: Record<string, unknown> = {}) => ({
  "io.modelcontextprotocol/protocolVersion": MODERN,
  "io.modelcontextprotocol/clientInfo": { name: "alice-client", version: "3.1" },
  "io.modelcontextprotocol/clientCapabilities": {},
  ...over,
});
const call = (name = "execute_sql", meta: Record<string, unknown> = envelope()) => ({
  jsonrpc: "2.0",
  id: 7,
  method: "tools/call",
  params: { name, arguments: { sql: "DELETE FROM album" }, _meta: meta },
});
const headers = (over: Record<string, string | undefined> = {}) => ({ "mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": "execute_sql", ...over });
const b64 = (s: string) => `=?base64?${Buffer.from(s).toString("base64")}?=`;

function rejected(c: Classified) {
  if (c.kind !== "reject") throw new Error(`expected a rejection, got ${c.kind}`);
  return c;
}

describe("2026-07-28 requests", () => {
  test("a complete request is modern, with the client's own identity and revision", () => {
    const c = classifyMcpPost(headers(), call());
    expect(c).toMatchObject({ kind: "modern", protocolVersion: MODERN, identity: { clientName: "alice-client", clientVersion: "3.1", traceId: null } });
  });

  test.each([
    ["MCP-Protocol-Version missing", { "mcp-protocol-version": undefined }],
    ["Mcp-Method missing", { "mcp-method": undefined }],
    ["Mcp-Name missing", { "mcp-name": undefined }],
    ["Mcp-Name names another tool (the body's write must not run under a header a router allowed)", { "mcp-name": "get_schema" }],
    ["Mcp-Name differs in case only (values are case-sensitive)", { "mcp-name": "EXECUTE_SQL" }],
    ["Mcp-Name with an invalid Base64 sentinel", { "mcp-name": "=?base64?not base64!?=" }],
    ["Mcp-Name Base64 of another name", { "mcp-name": b64("get_schema") }],
    ["Mcp-Method disagrees", { "mcp-method": "tools/list" }],
    ["Mcp-Method differs in case", { "mcp-method": "TOOLS/CALL" }],
    ["MCP-Protocol-Version disagrees with the envelope", { "mcp-protocol-version": "2025-11-25" }],
  ])("%s → 400 -32020", (_label, over) => {
    const r = rejected(classifyMcpPost(headers(over), call()));
    expect(r).toMatchObject({ httpStatus: 400, code: -32020, ruleId: "header_mismatch", id: 7 });
  });

  test("Mcp-Name: Base64 sentinel decoded, optional whitespace stripped", () => {
    expect(classifyMcpPost(headers({ "mcp-name": b64("execute_sql") }), call()).kind).toBe("modern");
    expect(classifyMcpPost(headers({ "mcp-name": " \texecute_sql \t" }), call()).kind).toBe("modern");
    expect(classifyMcpPost(headers({ "mcp-name": b64("ünïcode") }), call("ünïcode")).kind).toBe("modern");
    expect(decodeMcpName("=?base64?ZXhlY3V0ZV9zcWw=?=")).toBe("execute_sql");
    expect(decodeMcpName("=?base64?ZXhlY3V0ZV9zcWw?=")).toBeUndefined(); // not canonical (padding)
    expect(decodeMcpName("=?base64?/w==?=")).toBeUndefined(); // not UTF-8
  });

  test("resources/read: Mcp-Name mirrors params.uri", () => {
    const read = { jsonrpc: "2.0", id: 3, method: "resources/read", params: { uri: "portcullis://tables/public/album", _meta: envelope() } };
    const h = { "mcp-protocol-version": MODERN, "mcp-method": "resources/read" };
    expect(classifyMcpPost({ ...h, "mcp-name": "portcullis://tables/public/album" }, read).kind).toBe("modern");
    expect(rejected(classifyMcpPost({ ...h, "mcp-name": "portcullis://tables/public/artist" }, read)).code).toBe(-32020);
    expect(rejected(classifyMcpPost(h, read)).code).toBe(-32020);
  });

  test("methods without a name need no Mcp-Name", () => {
    const list = { jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: envelope() } };
    expect(classifyMcpPost({ "mcp-protocol-version": MODERN, "mcp-method": "tools/list" }, list).kind).toBe("modern");
  });

  test("an unsupported revision in the envelope → 400 -32022 with supported and requested", () => {
    for (const version of ["2099-01-01", "2025-11-25"]) {
      const r = rejected(classifyMcpPost(headers({ "mcp-protocol-version": version }), call("execute_sql", envelope({ "io.modelcontextprotocol/protocolVersion": version }))));
      expect(r).toMatchObject({ httpStatus: 400, code: -32022, data: { supported: [MODERN], requested: version }, ruleId: "unsupported_protocol_version" });
    }
  });

  test("an envelope missing a required key or of the wrong type → 400 -32602", () => {
    const { ["io.modelcontextprotocol/clientCapabilities"]: _caps, ...noCaps } = envelope();
    for (const meta of [noCaps, envelope({ "io.modelcontextprotocol/protocolVersion": 5 })]) {
      const r = rejected(classifyMcpPost(headers(), call("execute_sql", meta)));
      expect(r).toMatchObject({ httpStatus: 400, code: -32602, ruleId: "invalid_envelope" });
    }
  });

  test("a modern header on a body without an envelope → 400 -32602", () => {
    const r = rejected(classifyMcpPost({ "mcp-protocol-version": MODERN, "mcp-method": "tools/list" }, { jsonrpc: "2.0", id: 1, method: "tools/list" }));
    expect(r).toMatchObject({ httpStatus: 400, code: -32602 });
  });

  test("initialize with a modern header is refused; with a valid modern envelope it is a modern request (answered 404 later)", () => {
    const init = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } } };
    expect(rejected(classifyMcpPost({ "mcp-protocol-version": MODERN }, init)).httpStatus).toBe(400);
    const enveloped = { ...init, params: { ...init.params, _meta: envelope() } };
    expect(classifyMcpPost({ "mcp-protocol-version": MODERN, "mcp-method": "initialize" }, enveloped).kind).toBe("modern");
  });

  test("notifications → modern-notification (202, nothing dispatched)", () => {
    const n = { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1, _meta: envelope() } };
    expect(classifyMcpPost({ "mcp-protocol-version": MODERN, "mcp-method": "notifications/cancelled" }, n).kind).toBe("modern-notification");
  });

  test("batches may not carry modern requests", () => {
    const r = rejected(classifyMcpPost({}, [call(), { jsonrpc: "2.0", id: 2, method: "tools/list" }]));
    expect(r).toMatchObject({ httpStatus: 400, code: -32600 });
  });

  test("clientInfo is trimmed (100/50); traceparent taken only when valid and not all-zero", () => {
    const long = classifyMcpPost(headers(), call("execute_sql", envelope({ "io.modelcontextprotocol/clientInfo": { name: "n".repeat(300), version: "v".repeat(300) } })));
    expect(long).toMatchObject({ identity: { clientName: "n".repeat(100), clientVersion: "v".repeat(50) } });
    const trace = "0af7651916cd43dd8448eb211c80319c";
    const ok = classifyMcpPost(headers(), call("execute_sql", envelope({ traceparent: `00-${trace}-b7ad6b7169203331-01` })));
    expect(ok).toMatchObject({ identity: { traceId: trace } });
    for (const bad of [`00-${"0".repeat(32)}-b7ad6b7169203331-01`, `00-${trace}-${"0".repeat(16)}-01`, `01-${trace}-b7ad6b7169203331-01`, `00-${trace.toUpperCase()}-b7ad6b7169203331-01`, 42, `00-${trace}-b7ad6b7169203331-01 `]) {
      expect(classifyMcpPost(headers(), call("execute_sql", envelope({ traceparent: bad })))).toMatchObject({ identity: { traceId: null } });
    }
    const anonymous = classifyMcpPost(headers(), call("execute_sql", envelope({ "io.modelcontextprotocol/clientInfo": undefined })));
    expect(anonymous).toMatchObject({ identity: { clientName: null, clientVersion: null } });
  });
});

describe("2025-era requests", () => {
  const list = { jsonrpc: "2.0", id: 1, method: "tools/list" };
  test("no header (2025-03-26) and each supported 2025 header are legacy", () => {
    expect(classifyMcpPost({}, list)).toMatchObject({ kind: "legacy", batch: false, headerVersion: null });
    for (const v of ["2025-11-25", "2025-06-18", "2025-03-26"]) expect(classifyMcpPost({ "mcp-protocol-version": v }, list)).toMatchObject({ kind: "legacy", headerVersion: v });
  });

  test("an unknown header version → 400 -32022 listing all four revisions (a dual-era client then goes modern)", () => {
    for (const v of ["2099-01-01", "2024-11-05", "garbage"]) {
      const r = rejected(classifyMcpPost({ "mcp-protocol-version": v }, list));
      expect(r).toMatchObject({ httpStatus: 400, code: -32022, data: { supported: ALL, requested: v }, id: 1 });
    }
  });

  test("batches: up to 32, never empty, every element a JSON-RPC message", () => {
    expect(classifyMcpPost({}, Array.from({ length: 32 }, (_, i) => ({ ...list, id: i })))).toMatchObject({ kind: "legacy", batch: true });
    expect(rejected(classifyMcpPost({}, Array.from({ length: 33 }, (_, i) => ({ ...list, id: i })))).code).toBe(-32600);
    expect(rejected(classifyMcpPost({}, [])).code).toBe(-32600);
    expect(rejected(classifyMcpPost({}, [list, { jsonrpc: "1.0", id: 2, method: "x" }])).code).toBe(-32600);
  });

  test("batches only on 2025-03-26: a batch under a 2025-06-18 or 2025-11-25 header is refused (batching was removed then)", () => {
    const batch = [list, { ...list, id: 2 }];
    expect(classifyMcpPost({ "mcp-protocol-version": "2025-03-26" }, batch)).toMatchObject({ kind: "legacy", batch: true });
    for (const v of ["2025-06-18", "2025-11-25"]) expect(rejected(classifyMcpPost({ "mcp-protocol-version": v }, batch))).toMatchObject({ httpStatus: 400, code: -32600 });
  });

  test("Mcp-Method / Mcp-Name sent with a 2025 body must agree with it, as on 2026-07-28 (a filter on them is not bypassed)", () => {
    const call = { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "execute_sql", arguments: { sql: "DELETE FROM t" } } };
    const h = { "mcp-protocol-version": "2025-11-25" };
    expect(classifyMcpPost({ ...h, "mcp-method": "tools/call", "mcp-name": "execute_sql" }, call).kind).toBe("legacy");
    expect(classifyMcpPost({ ...h, "mcp-method": "tools/call", "mcp-name": "=?base64?ZXhlY3V0ZV9zcWw=?=" }, call).kind).toBe("legacy");
    expect(rejected(classifyMcpPost({ ...h, "mcp-method": "tools/list" }, call))).toMatchObject({ httpStatus: 400, code: -32020, id: 3 });
    expect(rejected(classifyMcpPost({ ...h, "mcp-name": "get_permissions" }, call))).toMatchObject({ httpStatus: 400, code: -32020 });
    expect(rejected(classifyMcpPost({ ...h, "mcp-name": "execute_sql" }, list))).toMatchObject({ code: -32020 });
    expect(rejected(classifyMcpPost({ "mcp-method": "tools/list" }, [list, { ...list, id: 2 }]))).toMatchObject({ code: -32020 });
  });

  test("not JSON-RPC at all → 400 -32600", () => {
    for (const body of [{}, "x", 42, null, { jsonrpc: "2.0", id: 1.5, method: "tools/list" }, { jsonrpc: "2.0", id: 1, method: "tools/list", params: [1] }]) {
      expect(rejected(classifyMcpPost({}, body))).toMatchObject({ httpStatus: 400, code: -32600 });
    }
  });

  test("initialize and notifications are legacy", () => {
    const init = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } } };
    expect(classifyMcpPost({}, init).kind).toBe("legacy");
    expect(classifyMcpPost({}, { jsonrpc: "2.0", method: "notifications/initialized" }).kind).toBe("legacy");
  });

  test("the revision a legacy request is served under: header, else the session's, else 2025-03-26", () => {
    expect(legacyRevision("2025-06-18", "2025-11-25")).toBe("2025-06-18");
    expect(legacyRevision(null, "2025-11-25")).toBe("2025-11-25");
    expect(legacyRevision(null, "2099-01-01")).toBe("2025-03-26");
    expect(legacyRevision(null, null)).toBe("2025-03-26");
  });
});

describe("the plain 2025 request, classified without the SDK", () => {
  const base = { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "execute_sql", arguments: { sql: "SELECT 1" } } };
  const bodies: [string, unknown][] = [
    ["plain call", base],
    ["string id", { ...base, id: "a" }],
    ["no params", { jsonrpc: "2.0", id: 2, method: "tools/list" }],
    ["params with other keys", { ...base, params: { name: "x", cursor: "c", extra: { a: 1 } } }],
    ["initialize", { ...base, method: "initialize", params: { protocolVersion: "2025-11-25" } }],
    ["initialize with a modern envelope", { ...base, method: "initialize", params: { _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } } }],
    ["_meta without a claim", { ...base, params: { ...base.params, _meta: { progressToken: 1 } } }],
    ["_meta with a claim", { ...base, params: { ...base.params, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } } }],
    ["_meta not an object", { ...base, params: { _meta: 5 } }],
    ["null id", { ...base, id: null }],
    ["fractional id", { ...base, id: 1.5 }],
    ["unsafe integer id", { ...base, id: 2 ** 60 }],
    ["no id (a notification)", { jsonrpc: "2.0", method: "notifications/initialized" }],
    ["extra key", { ...base, extra: 1 }],
    ["result key (a response)", { jsonrpc: "2.0", id: 1, result: {} }],
    ["error key", { ...base, error: { code: 1, message: "x" } }],
    ["wrong jsonrpc", { ...base, jsonrpc: "1.0" }],
    ["method not a string", { ...base, method: 5 }],
    ["params an array", { ...base, params: [1] }],
    ["params null", { ...base, params: null }],
    ["a batch", [base]],
    ["a string", "x"],
  ];
  const headerCases: (string | undefined)[] = [undefined, "2025-11-25", "2025-06-18", "2025-03-26", "2026-07-28", " 2025-11-25", "1999-01-01"];

  test("whenever it answers, the SDK's classifier answers legacy/no-claim for the same request, and the gateway's outcome is the same", async () => {
    let fast = 0;
    for (const [label, body] of bodies) {
      for (const header of headerCases) {
        if (!plainLegacyRequest(header, body)) continue;
        fast++;
        const sdk = classifyInboundRequest({ httpMethod: "POST", protocolVersionHeader: header, mcpMethodHeader: undefined, mcpNameHeader: undefined, body });
        expect(sdk, `${label} / ${header}`).toMatchObject({ kind: "legacy", reason: "no-claim" });
      }
    }
    // Only the first four bodies, under an absent or 2025 header.
    expect(fast).toBe(4 * 4);
    expect(classifyMcpPost({ "mcp-protocol-version": "2025-11-25" }, base)).toMatchObject({ kind: "legacy", batch: false, headerVersion: "2025-11-25" });
  });

  test("a modern header, an envelope or initialize always goes to the SDK", () => {
    expect(plainLegacyRequest("2026-07-28", base)).toBe(false);
    expect(plainLegacyRequest(undefined, { ...base, method: "initialize" })).toBe(false);
    expect(plainLegacyRequest(undefined, { ...base, params: { _meta: {} } })).toBe(false);
  });
});

describe("the 2026-07-28 fast path (a known envelope skips the SDK's classifier)", () => {
  const V = "io.modelcontextprotocol/protocolVersion";
  const INFO = "io.modelcontextprotocol/clientInfo";
  const CAPS = "io.modelcontextprotocol/clientCapabilities";
  const metas: [string, Record<string, unknown>][] = [
    ["valid", envelope()],
    ["no clientInfo", { [V]: MODERN, [CAPS]: {} }],
    ["elicitation", envelope({ [CAPS]: { elicitation: { form: {} } } })],
    ["sampling + roots", envelope({ [CAPS]: { sampling: {}, roots: { listChanged: true } } })],
    ["extensions", envelope({ [CAPS]: { extensions: { "io.example/x": {} } } })],
    ["roots wrong type", envelope({ [CAPS]: { roots: 5 } })],
    ["elicitation wrong type", envelope({ [CAPS]: { elicitation: "yes" } })],
    ["capabilities an array", envelope({ [CAPS]: [] })],
    ["capabilities null", envelope({ [CAPS]: null })],
    ["capabilities missing", { [V]: MODERN, [INFO]: { name: "a", version: "1" } }],
    ["clientInfo name a number", envelope({ [INFO]: { name: 5, version: "1" } })],
    ["clientInfo without version", envelope({ [INFO]: { name: "a" } })],
    ["logLevel valid", envelope({ "io.modelcontextprotocol/logLevel": "info" })],
    ["logLevel invalid", envelope({ "io.modelcontextprotocol/logLevel": "loud" })],
    ["progressToken string", envelope({ progressToken: "t" })],
    ["progressToken integer", envelope({ progressToken: 5 })],
    ["progressToken fraction", envelope({ progressToken: 1.5 })],
    ["progressToken object", envelope({ progressToken: {} })],
    ["related task valid", envelope({ "io.modelcontextprotocol/related-task": { taskId: "t" } })],
    ["related task invalid", envelope({ "io.modelcontextprotocol/related-task": { taskId: 5 } })],
    ["foreign keys", envelope({ "x-vendor": { deep: [1, 2] }, traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" })],
    ["2025 claim", envelope({ [V]: "2025-11-25" })],
    ["unknown claim", envelope({ [V]: "2099-01-01" })],
    ["claim a number", envelope({ [V]: 20260728 })],
  ];
  const bodies: [string, (meta: Record<string, unknown>) => unknown][] = [
    ["tools/call", (m) => ({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "execute_sql", arguments: { sql: "SELECT 1" }, _meta: m } })],
    ["string id", (m) => ({ jsonrpc: "2.0", id: "a-1", method: "tools/call", params: { name: "execute_sql", arguments: {}, _meta: m } })],
    ["tools/list", (m) => ({ jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: m } })],
    ["initialize", (m) => ({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: MODERN, capabilities: {}, clientInfo: { name: "a", version: "1" }, _meta: m } })],
    ["fractional id", (m) => ({ jsonrpc: "2.0", id: 1.5, method: "tools/call", params: { name: "execute_sql", _meta: m } })],
    ["null id", (m) => ({ jsonrpc: "2.0", id: null, method: "tools/call", params: { name: "execute_sql", _meta: m } })],
    ["huge id", (m) => ({ jsonrpc: "2.0", id: 2 ** 60, method: "tools/call", params: { name: "execute_sql", _meta: m } })],
    ["no id (notification)", (m) => ({ jsonrpc: "2.0", method: "tools/call", params: { name: "execute_sql", _meta: m } })],
    ["extra key", (m) => ({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "execute_sql", _meta: m }, extra: 1 })],
    ["result key", (m) => ({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "execute_sql", _meta: m }, result: {} })],
    ["jsonrpc 1.0", (m) => ({ jsonrpc: "1.0", id: 7, method: "tools/call", params: { name: "execute_sql", _meta: m } })],
    ["method a number", (m) => ({ jsonrpc: "2.0", id: 7, method: 5, params: { _meta: m } })],
    ["_meta an array", () => ({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "execute_sql", _meta: [] } })],
    ["params an array", () => ({ jsonrpc: "2.0", id: 7, method: "tools/call", params: [] })],
    ["a batch", (m) => [{ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "execute_sql", _meta: m } }]],
  ];
  const methodOf = (b: unknown) => (typeof (b as { method?: unknown })?.method === "string" ? ((b as { method: string }).method) : "tools/call");
  const headerSets: [string, (b: unknown) => Record<string, string | undefined>][] = [
    ["exact", (b) => ({ "mcp-protocol-version": MODERN, "mcp-method": methodOf(b), "mcp-name": "execute_sql" })],
    ["no Mcp-Name", (b) => ({ "mcp-protocol-version": MODERN, "mcp-method": methodOf(b) })],
    ["version with whitespace", (b) => ({ "mcp-protocol-version": ` ${MODERN}`, "mcp-method": methodOf(b), "mcp-name": "execute_sql" })],
    ["2025 version", (b) => ({ "mcp-protocol-version": "2025-11-25", "mcp-method": methodOf(b), "mcp-name": "execute_sql" })],
    ["no version", (b) => ({ "mcp-method": methodOf(b), "mcp-name": "execute_sql" })],
    ["no method", () => ({ "mcp-protocol-version": MODERN, "mcp-name": "execute_sql" })],
    ["other method", () => ({ "mcp-protocol-version": MODERN, "mcp-method": "tools/list", "mcp-name": "execute_sql" })],
    ["method with whitespace", (b) => ({ "mcp-protocol-version": MODERN, "mcp-method": `${methodOf(b)} `, "mcp-name": "execute_sql" })],
  ];
  const cases = metas.flatMap(([m, meta]) => bodies.flatMap(([b, body]) => headerSets.map(([h, hs]) => ({ label: `${m} / ${b} / ${h}`, body: JSON.parse(JSON.stringify(body(meta))) as unknown, headers: hs(body(meta)) }))));

  test("every body gets the SDK's answer, with the envelopes cached and without", () => {
    const viaSdk = cases.map((c) => {
      forgetAcceptedEnvelopes();
      return JSON.stringify(classifyMcpPost(c.headers, c.body));
    });
    // Twice over, so every envelope the SDK accepted is cached before it is looked up again.
    for (let round = 0; round < 2; round++) {
      cases.forEach((c, i) => expect(JSON.stringify(classifyMcpPost(c.headers, c.body)), c.label).toBe(viaSdk[i]));
    }
    let fast = 0;
    for (const c of cases) {
      const meta = modernEnvelopeOf(c.headers["mcp-protocol-version"], c.headers["mcp-method"], c.body);
      if (!meta) continue;
      const sdk = classifyInboundRequest({ httpMethod: "POST", protocolVersionHeader: c.headers["mcp-protocol-version"], mcpMethodHeader: c.headers["mcp-method"], mcpNameHeader: c.headers["mcp-name"], body: c.body });
      // A shape the fast path takes is answered by the SDK from its _meta alone: modern for a valid one.
      const valid = ["valid", "no clientInfo", "elicitation", "sampling + roots", "extensions", "logLevel valid", "progressToken string", "progressToken integer", "related task valid", "foreign keys"].some((l) => c.label.startsWith(`${l} /`));
      if (valid) {
        fast++;
        expect(sdk, c.label).toMatchObject({ kind: "modern", messageKind: "request" });
      } else expect(sdk.kind === "modern" && sdk.messageKind === "request", c.label).toBe(false);
    }
    // Valid envelopes × ((tools/call, string id, tools/list) × (exact, no Mcp-Name) + tools/list under "other method").
    expect(fast).toBe(10 * (3 * 2 + 1));
  });

  test("a cached envelope does not carry over to a body the fast path does not take", () => {
    forgetAcceptedEnvelopes();
    expect(classifyMcpPost(headers(), call()).kind).toBe("modern");
    expect(rejected(classifyMcpPost(headers({ "mcp-method": "tools/list" }), call())).code).toBe(-32020);
    expect(rejected(classifyMcpPost(headers({ "mcp-protocol-version": "2025-11-25" }), call())).code).toBe(-32020);
    expect(rejected(classifyMcpPost(headers({ "mcp-name": "get_schema" }), call())).code).toBe(-32020);
    expect(rejected(classifyMcpPost(headers(), { ...call(), result: {} })).kind).toBe("reject");
    const init = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "a", version: "1" } } };
    expect(classifyMcpPost({}, init)).toMatchObject({ kind: "legacy" });
  });
});
