import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema, type ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import { decideWriteRequest } from "@portcullis/db/operations";
import { testRedisUrl } from "@portcullis/db/testing";
import { createRedis } from "@portcullis/jobs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { rawPost, waitFor } from "./fixtures.js";
import { BUMP, bumps, chainOf, confirmWorld, requestsOf, writeRequestRow, type ConfirmWorld } from "./confirm-support.js";

/**
 * approval "confirm" on the 2025 revisions: a client whose initialize declared elicitation gets a real
 * `elicitation/create` on the tools/call's SSE stream and POSTs its answer — here always to a SECOND
 * gateway instance (as a load balancer may), so the answer crosses instances through Redis. A client
 * without elicitation gets the pending request and the member confirms it as the dashboard would.
 */
let w: ConfirmWorld;
let secondUrl: string;

beforeAll(async () => {
  w = await confirmWorld();
  const second = await w.world.startGateway({ GATEWAY_RATE_LIMIT_PER_MINUTE: "10000" });
  secondUrl = `${second.url}/mcp/${w.link.linkId}`;
});
afterAll(() => w?.world.close());

/** Sends the client's JSON-RPC responses (its answers to our questions) to the other instance. */
let answersSent = 0;
const answersElsewhere: typeof fetch = async (input, init) => {
  const body = typeof init?.body === "string" ? init.body : undefined;
  const parsed = body ? (JSON.parse(body) as Record<string, unknown>) : undefined;
  if (init?.method === "POST" && parsed && !("method" in parsed) && ("result" in parsed || "error" in parsed)) {
    answersSent++;
    const answered = await fetch(secondUrl, init);
    expect(answered.status).toBe(202);
    return answered;
  }
  return fetch(input, init);
};

async function sdkClient(key: string, handler?: (message: string, requestId: string | number) => Promise<ElicitResult>) {
  const client = new Client({ name: "sdk-1.x-confirm", version: "1.32.2" }, handler ? { capabilities: { elicitation: {} } } : undefined);
  if (handler) client.setRequestHandler(ElicitRequestSchema, (request, extra) => handler(request.params.message, extra.requestId));
  await client.connect(new StreamableHTTPClientTransport(new URL(w.link.url), { fetch: answersElsewhere, requestInit: { headers: { authorization: `Bearer ${key}` } } }));
  return client;
}

describe("1.x SDK client with elicitation (2025-11-25)", () => {
  test("accepts on its own stream: the write runs once, in the same call, audited as one chain", async () => {
    const before = await bumps(w.world, 11);
    const asked: string[] = [];
    const client = await sdkClient(w.link.key, async (message) => {
      asked.push(message);
      return { action: "accept", content: { confirm: true } };
    });
    const sent = answersSent;
    const result = await client.callTool({ name: "execute_sql", arguments: { sql: BUMP, params: [11] } });
    expect(result.structuredContent).toMatchObject({ status: "ok", affected: 1 });
    expect(asked).toHaveLength(1);
    // The answer went to the other instance and came back through Redis.
    expect(answersSent).toBe(sent + 1);
    expect(asked[0]).toMatch(/^Update 1 row in public\.genre\? /);
    expect(await bumps(w.world, 11)).toBe(before + 1);
    const [request] = await requestsOf(w.world, w.link.linkId);
    expect(request).toMatchObject({ kind: "confirm", status: "executed" });
    const chain = await waitFor(() => chainOf(w.world, request!.id), (events) => events.length >= 2);
    expect(chain.filter((e) => e.verdict === "allowed")).toHaveLength(1);
    expect(chain.filter((e) => e.ruleId === "confirmation_required")).toHaveLength(1);
    await client.close();
  });

  test("declines: nothing runs and the request is rejected", async () => {
    const before = await bumps(w.world, 12);
    const client = await sdkClient(w.link.key, async () => ({ action: "decline" }));
    const result = await client.callTool({ name: "execute_sql", arguments: { sql: BUMP, params: [12] } });
    expect(JSON.stringify(result)).toMatch(/nothing ran|not run|declined|rejected/i);
    expect(await bumps(w.world, 12)).toBe(before);
    expect((await requestsOf(w.world, w.link.linkId))[0]!.status).toBe("rejected");
    await client.close();
  });

  test("an answer POSTed by another key (on either instance) is refused; the waiting call is untouched", async () => {
    const before = await bumps(w.world, 13);
    let release!: (answer: ElicitResult) => void;
    let asked!: (id: string | number) => void;
    const seen = new Promise<string | number>((resolve) => (asked = resolve));
    const client = await sdkClient(w.link.key, (_message, id) => {
      asked(id);
      return new Promise<ElicitResult>((resolve) => (release = resolve));
    });
    const pending = client.callTool({ name: "execute_sql", arguments: { sql: BUMP, params: [13] } });
    const elicitationId = await seen;
    const hijack = { jsonrpc: "2.0", id: elicitationId, result: { action: "accept", content: { confirm: true } } };
    for (const target of [w.link.url, secondUrl]) {
      const r = await rawPost(target, hijack, { authorization: `Bearer ${w.otherKey}`, "mcp-protocol-version": "2025-11-25" });
      expect(r.status, target).toBe(404);
      expect(r.json.error.message).toMatch(/No confirmation of yours/);
    }
    expect(await bumps(w.world, 13)).toBe(before);
    const [request] = await requestsOf(w.world, w.link.linkId);
    expect(request!.status).toBe("pending");
    // The owner's own answer still reaches the call.
    release({ action: "decline" });
    await pending;
    await client.close();
    expect(await bumps(w.world, 13)).toBe(before);
    expect((await writeRequestRow(w.world, request!.id))!.status).toBe("rejected");
  });
});

describe("v2 client on its default 2025 handshake, with elicitation", () => {
  test("is asked on the call's stream and its yes runs the write once", async () => {
    const before = await bumps(w.world, 16);
    const v2 = await import("@modelcontextprotocol/client");
    const client = new v2.Client({ name: "v2-default-confirm", version: "2.4.0" }, { capabilities: { elicitation: { form: {} } } });
    const asked: string[] = [];
    client.setRequestHandler("elicitation/create", async (request) => {
      asked.push((request.params as { message: string }).message);
      return { action: "accept", content: { confirm: true } };
    });
    await client.connect(new v2.StreamableHTTPClientTransport(new URL(w.link.url), { fetch: answersElsewhere, requestInit: { headers: { authorization: `Bearer ${w.link.key}` } } }));
    expect(client.getProtocolEra()).toBe("legacy");
    const result = await client.callTool({ name: "execute_sql", arguments: { sql: BUMP, params: [16] } });
    expect(result.structuredContent).toMatchObject({ status: "ok", affected: 1 });
    expect(asked).toHaveLength(1);
    expect(await bumps(w.world, 16)).toBe(before + 1);
    await client.close();
  });
});

describe("a question nobody answers", () => {
  test("the client leaves while asked: its waiter is dropped everywhere, nothing ran, the request stays pending for the dashboard", async () => {
    const before = await bumps(w.world, 15);
    const base = { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${w.link.key}` };
    const init = await fetch(w.link.url, {
      method: "POST",
      headers: base,
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: { elicitation: {} }, clientInfo: { name: "raw-2025", version: "1" } } }),
    });
    const session = init.headers.get("mcp-session-id")!;
    await init.text();
    const controller = new AbortController();
    const call = await fetch(w.link.url, {
      method: "POST",
      signal: controller.signal,
      headers: { ...base, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "execute_sql", arguments: { sql: BUMP, params: [15] } } }),
    });
    expect(call.headers.get("content-type")).toMatch(/text\/event-stream/);
    // Read the stream up to the question, then go away.
    const reader = call.body!.getReader();
    let text = "";
    while (!text.includes("elicitation/create")) text += new TextDecoder().decode((await reader.read()).value);
    const question = JSON.parse(/data: (.*)/.exec(text)![1]!) as { id: string; params: { message: string } };
    expect(question.params.message).toMatch(/^Update 1 row in public\.genre\? /);
    const redis = createRedis(testRedisUrl(), "subscriber");
    try {
      expect(await redis.exists(`portcullis:confirm:wait:${question.id}`)).toBe(1);
      controller.abort();
      await waitFor(() => redis.exists(`portcullis:confirm:wait:${question.id}`), (n) => n === 0);
    } finally {
      redis.disconnect();
    }
    // An answer arriving afterwards finds nothing to answer.
    const late = await rawPost(secondUrl, { jsonrpc: "2.0", id: question.id, result: { action: "accept", content: { confirm: true } } }, { authorization: `Bearer ${w.link.key}`, "mcp-protocol-version": "2025-11-25" });
    expect(late.status).toBe(404);
    expect(await bumps(w.world, 15)).toBe(before);
    expect((await requestsOf(w.world, w.link.linkId))[0]!.status).toBe("pending");
  });
});

describe("a client without elicitation", () => {
  test("gets pending_approval; the member confirms as the dashboard would; execute_sql with the requestId runs it once", async () => {
    const before = await bumps(w.world, 14);
    const client = await sdkClient(w.link.key);
    const first = await client.callTool({ name: "execute_sql", arguments: { sql: BUMP, params: [14] } });
    const pending = first.structuredContent as { status: string; kind: string; requestId: string };
    expect(pending).toMatchObject({ status: "pending_approval", kind: "confirm" });
    expect(await bumps(w.world, 14)).toBe(before);
    await decideWriteRequest(w.world.prisma, { teamId: w.world.teamId, id: pending.requestId, deciderId: w.world.userId, decision: "approve", via: "dashboard" });
    const run = await client.callTool({ name: "execute_sql", arguments: { sql: BUMP, params: [14], requestId: pending.requestId } });
    expect(run.structuredContent).toMatchObject({ status: "ok", affected: 1 });
    const again = await client.callTool({ name: "execute_sql", arguments: { sql: BUMP, params: [14], requestId: pending.requestId } });
    expect(again.isError).toBe(true);
    expect(await bumps(w.world, 14)).toBe(before + 1);
    expect((await writeRequestRow(w.world, pending.requestId))!.status).toBe("executed");
    await client.close();
  });
});
