import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { MODERN, modernEnvelope, modernHeaders, modernRequest, rawPost, waitFor } from "./fixtures.js";
import { BUMP, bumps, chainOf, confirmWorld, requestsOf, writeRequestRow, type ConfirmWorld } from "./confirm-support.js";

/**
 * approval "confirm" on MCP 2026-07-28: the call answers `input_required` with an elicitation and a
 * signed requestState; the client's retry confirms and runs the write in that same call. With the real
 * v2 client (pinned to 2026-07-28, its own multi-round-trip driver), and raw for the attacks.
 */
let w: ConfirmWorld;
let secondUrl: string;

beforeAll(async () => {
  w = await confirmWorld();
  const second = await w.world.startGateway({ GATEWAY_RATE_LIMIT_PER_MINUTE: "10000" });
  secondUrl = `${second.url}/mcp/${w.link.linkId}`;
});
afterAll(() => w?.world.close());

async function v2Client(key: string, answer: (message: string) => { action: "accept" | "decline" | "cancel"; content?: Record<string, string | number | boolean> }, elicitation = true) {
  const v2 = await import("@modelcontextprotocol/client");
  const client = new v2.Client(
    { name: "v2-confirm", version: "2.4.0" },
    { versionNegotiation: { mode: { pin: MODERN } }, ...(elicitation ? { capabilities: { elicitation: { form: {} } } } : {}) },
  );
  const asked: string[] = [];
  if (elicitation) {
    client.setRequestHandler("elicitation/create", async (request) => {
      const message = (request.params as { message: string }).message;
      asked.push(message);
      return answer(message);
    });
  }
  await client.connect(new v2.StreamableHTTPClientTransport(new URL(w.link.url), { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
  return { client, asked };
}

const elicitingEnvelope = () => modernEnvelope({ name: "raw-2026", version: "1" }, { "io.modelcontextprotocol/clientCapabilities": { elicitation: {} } });
const call = (args: Record<string, unknown>, extra: Record<string, unknown> = {}, id: number | string = 1) =>
  modernRequest("tools/call", { name: "execute_sql", arguments: args, ...extra }, id, elicitingEnvelope());
const post = (key: string, body: unknown, url = w.link.url) => rawPost(url, body, modernHeaders(key, "tools/call", "execute_sql"));

/** A raw first call: the input_required answer (asserted) with its state and the request it names. */
async function ask(genreId: number) {
  const r = await post(w.link.key, call({ sql: BUMP, params: [genreId] }));
  expect(r.status).toBe(200);
  expect(r.json.result.resultType).toBe("input_required");
  const state = r.json.result.requestState as string;
  const [request] = await requestsOf(w.world, w.link.linkId);
  return { state, requestId: request!.id, result: r.json.result };
}

describe("v2 client, 2026-07-28", () => {
  test("accepts: the write runs exactly once, in the same call; the audit links the request and its execution", async () => {
    const before = await bumps(w.world, 1);
    const { client, asked } = await v2Client(w.link.key, () => ({ action: "accept", content: { confirm: true } }));
    const result = await client.callTool({ name: "execute_sql", arguments: { sql: BUMP, params: [1] } });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ status: "ok", affected: 1 });
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatch(/^Update 1 row in public\.genre\? /);
    expect(asked[0]).toContain(BUMP);
    expect(await bumps(w.world, 1)).toBe(before + 1);
    const [request] = await requestsOf(w.world, w.link.linkId);
    expect(request).toMatchObject({ kind: "confirm", status: "executed" });
    const chain = await waitFor(() => chainOf(w.world, request!.id), (events) => events.length >= 2);
    expect(chain.map((e) => [e.verdict, e.ruleId ?? null]).sort()).toEqual([
      ["allowed", null],
      ["blocked", "confirmation_required"],
    ]);
    await client.close();
  });

  test("declines: nothing runs, the request is rejected, the result says so", async () => {
    const before = await bumps(w.world, 2);
    const { client } = await v2Client(w.link.key, () => ({ action: "decline" }));
    const result = await client.callTool({ name: "execute_sql", arguments: { sql: BUMP, params: [2] } });
    expect(JSON.stringify(result)).toMatch(/nothing ran|not run|declined|rejected/i);
    expect(await bumps(w.world, 2)).toBe(before);
    const [request] = await requestsOf(w.world, w.link.linkId);
    expect(request!.status).toBe("rejected");
    await client.close();
  });

  test("accept with confirm: false is a no", async () => {
    const before = await bumps(w.world, 3);
    const { client } = await v2Client(w.link.key, () => ({ action: "accept", content: { confirm: false } }));
    await client.callTool({ name: "execute_sql", arguments: { sql: BUMP, params: [3] } });
    expect(await bumps(w.world, 3)).toBe(before);
    expect((await requestsOf(w.world, w.link.linkId))[0]!.status).toBe("rejected");
    await client.close();
  });

  test("a client that declares no elicitation gets the pending request as it is", async () => {
    const before = await bumps(w.world, 4);
    const { client } = await v2Client(w.link.key, () => ({ action: "accept" }), false);
    const result = await client.callTool({ name: "execute_sql", arguments: { sql: BUMP, params: [4] } });
    expect(result.structuredContent).toMatchObject({ status: "pending_approval", kind: "confirm" });
    expect(await bumps(w.world, 4)).toBe(before);
    await client.close();
  });
});

describe("attacks on the round trip (raw 2026-07-28)", () => {
  const yes = { confirm: { action: "accept", content: { confirm: true } } };

  test("a forged requestState (claims edited, or made up) runs nothing", async () => {
    const before = await bumps(w.world, 5);
    const { state, requestId } = await ask(5);
    const [prefix, keyId, payload, signature] = state.split(".") as [string, string, string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    const edited = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 86_400_000 })).toString("base64url");
    for (const forged of [[prefix, keyId, edited, signature].join("."), "pcs1.k1.eyJ9.AAAA", "anything"]) {
      const r = await post(w.link.key, call({ sql: BUMP, params: [5] }, { inputResponses: yes, requestState: forged }, 2));
      expect(r.json.result.isError, forged).toBe(true);
      expect(r.json.result.structuredContent.refusal.ruleId).toBe("write_request_mismatch");
    }
    // inputResponses without any state: refused too.
    const bare = await post(w.link.key, call({ sql: BUMP, params: [5] }, { inputResponses: yes }, 3));
    expect(bare.json.result.isError).toBe(true);
    expect(await bumps(w.world, 5)).toBe(before);
    expect((await writeRequestRow(w.world, requestId))!.status).toBe("pending");
  });

  test("another key on the same link cannot use the state; modified arguments cannot either", async () => {
    const before = await bumps(w.world, 6);
    const before7 = await bumps(w.world, 7);
    const { state, requestId } = await ask(6);
    const stolen = await post(w.otherKey, call({ sql: BUMP, params: [6] }, { inputResponses: yes, requestState: state }));
    expect(stolen.json.result.structuredContent.refusal).toMatchObject({ ruleId: "write_request_mismatch" });
    expect(stolen.json.result.structuredContent.refusal.reason).toMatch(/another key/);
    for (const args of [{ sql: BUMP, params: [7] }, { sql: `${BUMP} OR true`, params: [6] }, { sql: BUMP }]) {
      const changed = await post(w.link.key, call(args, { inputResponses: yes, requestState: state }));
      expect(changed.json.result.structuredContent.refusal?.ruleId, JSON.stringify(args)).toBe("write_request_mismatch");
    }
    expect(await bumps(w.world, 6)).toBe(before);
    expect(await bumps(w.world, 7)).toBe(before7);
    expect((await writeRequestRow(w.world, requestId))!.status).toBe("pending");
  });

  test("the state confirms once, on any instance: replayed after the execution it is refused and nothing runs twice", async () => {
    const before = await bumps(w.world, 8);
    const { state, requestId } = await ask(8);
    // Stateless: the retry lands on another instance, which verifies and consumes the state itself.
    const first = await post(w.link.key, call({ sql: BUMP, params: [8] }, { inputResponses: yes, requestState: state }), secondUrl);
    expect(first.json.result.structuredContent).toMatchObject({ status: "ok", affected: 1 });
    expect(first.json.result.resultType).toBe("complete");
    const replay = await post(w.link.key, call({ sql: BUMP, params: [8] }, { inputResponses: yes, requestState: state }));
    expect(replay.json.result.structuredContent.refusal.ruleId).toBe("write_request_used");
    expect(await bumps(w.world, 8)).toBe(before + 1);
    expect((await writeRequestRow(w.world, requestId))!.status).toBe("executed");
    const chain = await waitFor(() => chainOf(w.world, requestId), (events) => events.length >= 3);
    expect(chain.filter((e) => e.verdict === "allowed")).toHaveLength(1);
    expect(chain.some((e) => e.ruleId === "write_request_used")).toBe(true);
  });

  test("a client without elicitation in this request's capabilities is never asked", async () => {
    const r = await post(w.link.key, modernRequest("tools/call", { name: "execute_sql", arguments: { sql: BUMP, params: [9] } }, 1, modernEnvelope()));
    expect(r.json.result.resultType).toBe("complete");
    expect(r.json.result.structuredContent).toMatchObject({ status: "pending_approval", kind: "confirm" });
  });
});
