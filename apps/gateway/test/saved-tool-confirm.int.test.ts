import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema, type ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import { createLinkTool, listLinkTools, updateLinkTool, type SavedToolCheckDeps, type SavedToolInput } from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import { targetPolicyFromEnv } from "@portcullis/db/target";
import * as policy from "@portcullis/policy";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BUMP, bumps, chainOf, confirmWorld, requestsOf, writeRequestRow, type ConfirmWorld } from "./confirm-support.js";
import { CONFIRM_SCOPE } from "./confirm-support.js";
import { MODERN, modernEnvelope, modernHeaders, modernRequest, rawPost, waitFor, type LinkFixture } from "./fixtures.js";

/**
 * approval "confirm" through a curated tool (issue 17): the caller confirms a saved tool's write in
 * their own client exactly as an execute_sql write — 2026-07-28 (input_required + signed requestState
 * bound to the saved tool's name and its bound statement) and 2025 (elicitation/create on the call's
 * stream). Judged by the genre rows of the target: a bump runs at most once, and never on a no.
 */
let w: ConfirmWorld;
let deps: SavedToolCheckDeps;

const bumpTool = (name: string, sql = BUMP): SavedToolInput => ({
  name,
  description: "Marks a genre once more",
  sql,
  parameters: [{ name: "id", type: "integer", description: "the genre", required: true }],
});

beforeAll(async () => {
  w = await confirmWorld();
  deps = { policy, route: { policy: targetPolicyFromEnv({ TARGET_NETWORKS: "any", TARGET_ALLOW_POWERFUL_ROLES: "true" }), keyring: getKeyring(w.world.secretKeys) } };
  const { teamId, linkId, userId } = w.link;
  // Two tools with the very same statement: a state for one must not confirm the other.
  for (const tool of [bumpTool("bump_genre"), bumpTool("bump_genre_too"), bumpTool("edited_bump")]) await createLinkTool(w.world.prisma, { teamId, linkId, createdById: userId, tool }, deps);
  await waitFor(async () => (await listedNow()).map((t) => t.name), (names) => names.includes("edited_bump"));
});
afterAll(() => w?.world.close());

/**
 * What tools/list says NOW: a fresh client per look, since the v2 client keeps a tools/list answer for
 * its cache hint (a first look taken before the gateway heard of an edit would be kept, not re-asked).
 */
async function listedNow(on: LinkFixture = w.link) {
  const v2 = await v2Client(() => ({ action: "decline" }), false, on);
  try {
    return (await v2.client.listTools()).tools;
  } finally {
    await v2.client.close();
  }
}

async function v2Client(answer: () => { action: "accept" | "decline" | "cancel"; content?: Record<string, boolean> }, elicitation = true, on: LinkFixture = w.link) {
  const v2 = await import("@modelcontextprotocol/client");
  const client = new v2.Client(
    { name: "v2-saved-confirm", version: "2.4.0" },
    { versionNegotiation: { mode: { pin: MODERN } }, ...(elicitation ? { capabilities: { elicitation: { form: {} } } } : {}) },
  );
  const asked: string[] = [];
  if (elicitation)
    client.setRequestHandler("elicitation/create", async (request) => {
      asked.push((request.params as { message: string }).message);
      return answer();
    });
  await client.connect(new v2.StreamableHTTPClientTransport(new URL(on.url), { requestInit: { headers: { authorization: `Bearer ${on.key}` } } }));
  return { client, asked };
}

async function v1Client(handler: (message: string) => Promise<ElicitResult>, on: LinkFixture = w.link) {
  const client = new ClientV1({ name: "sdk-1.x-saved-confirm", version: "1.32.2" }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, (request) => handler(request.params.message));
  await client.connect(new TransportV1(new URL(on.url), { requestInit: { headers: { authorization: `Bearer ${on.key}` } } }));
  return client;
}

async function createdTool(name: string) {
  return (await listLinkTools(w.world.prisma, { teamId: w.link.teamId, linkId: w.link.linkId })).find((t) => t.name === name)!;
}

/** The audit events of one write request, as [tool, verdict, ruleId]. */
async function chainTools(requestId: string, count: number) {
  const chain = await waitFor(() => chainOf(w.world, requestId), (events) => events.length >= count);
  return chain.map((e) => [e.tool, e.verdict, e.ruleId ?? null]).sort();
}

describe("v2 client pinned to 2026-07-28", () => {
  test("accepts: the saved tool's write runs once in the same call, audited under its name", async () => {
    const before = await bumps(w.world, 1);
    const { client, asked } = await v2Client(() => ({ action: "accept", content: { confirm: true } }));
    const result = await client.callTool({ name: "bump_genre", arguments: { id: 1 } });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ status: "ok", affected: 1 });
    // The text is the database's data, marked as for the tool's own run.
    expect((result.content as { text: string }[])[0]!.text).toMatch(/untrusted-data-/);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatch(/^Update 1 row in public\.genre\? /);
    expect(asked[0]).toContain(BUMP);
    expect(await bumps(w.world, 1)).toBe(before + 1);
    const [request] = await requestsOf(w.world, w.link.linkId);
    expect(request).toMatchObject({ kind: "confirm", status: "executed", sql: BUMP });
    expect(await chainTools(request!.id, 2)).toEqual([
      ["bump_genre", "allowed", null],
      ["bump_genre", "blocked", "confirmation_required"],
    ]);
    await client.close();
  });

  test("declines: nothing runs, the request is rejected", async () => {
    const before = await bumps(w.world, 2);
    const { client, asked } = await v2Client(() => ({ action: "decline" }));
    const result = await client.callTool({ name: "bump_genre", arguments: { id: 2 } });
    expect(asked).toHaveLength(1);
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result)).toMatch(/declined/);
    expect(await bumps(w.world, 2)).toBe(before);
    const [request] = await requestsOf(w.world, w.link.linkId);
    expect(request!.status).toBe("rejected");
    await client.close();
  });
});

describe("the requestState binds the saved tool and its statement (raw 2026-07-28)", () => {
  const yes = { confirm: { action: "accept", content: { confirm: true } } };
  const envelope = () => modernEnvelope({ name: "raw-2026", version: "1" }, { "io.modelcontextprotocol/clientCapabilities": { elicitation: {} } });
  const call = (name: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    body: modernRequest("tools/call", { name, arguments: args, ...extra }, 1, envelope()),
    name,
  });
  const post = async (c: { body: unknown; name: string }) => {
    const r = await rawPost(w.link.url, c.body, modernHeaders(w.link.key, "tools/call", c.name));
    expect(r.status).toBe(200);
    return r.json.result as { resultType: string; requestState?: string; isError?: boolean; structuredContent: { status?: string; affected?: number; refusal?: { ruleId: string; reason: string } } };
  };
  async function ask(name: string, args: Record<string, unknown>) {
    const result = await post(call(name, args));
    expect(result.resultType).toBe("input_required");
    const [request] = await requestsOf(w.world, w.link.linkId);
    return { state: result.requestState!, requestId: request!.id };
  }

  test("other arguments, another saved tool with the same statement, or execute_sql are refused; the right retry runs once", async () => {
    const [b5, b6] = [await bumps(w.world, 5), await bumps(w.world, 6)];
    const { state, requestId } = await ask("bump_genre", { id: 5 });
    const attempts: [string, Record<string, unknown>, RegExp][] = [
      ["bump_genre", { id: 6 }, /statement or parameters differ/],
      ["bump_genre", { id: "5" }, /no such tool taking these arguments/],
      ["bump_genre", {}, /no such tool taking these arguments/],
      ["bump_genre_too", { id: 5 }, /issued for another tool/],
      ["execute_sql", { sql: BUMP, params: [5] }, /issued for another tool/],
      ["no_such_tool", { id: 5 }, /issued for another tool/],
    ];
    for (const [name, args, reason] of attempts) {
      const refused = await post(call(name, args, { inputResponses: yes, requestState: state }));
      expect(refused.isError, `${name} ${JSON.stringify(args)}`).toBe(true);
      expect(refused.structuredContent.refusal).toMatchObject({ ruleId: "write_request_mismatch" });
      expect(refused.structuredContent.refusal!.reason).toMatch(reason);
    }
    expect(await bumps(w.world, 5)).toBe(b5);
    expect(await bumps(w.world, 6)).toBe(b6);
    expect((await writeRequestRow(w.world, requestId))!.status).toBe("pending");

    const ran = await post(call("bump_genre", { id: 5 }, { inputResponses: yes, requestState: state }));
    expect(ran.resultType).toBe("complete");
    expect(ran.structuredContent).toMatchObject({ status: "ok", affected: 1 });
    const replay = await post(call("bump_genre", { id: 5 }, { inputResponses: yes, requestState: state }));
    expect(replay.structuredContent.refusal!.ruleId).toBe("write_request_used");
    expect(await bumps(w.world, 5)).toBe(b5 + 1);
    expect(await bumps(w.world, 6)).toBe(b6);
    expect((await writeRequestRow(w.world, requestId))!.status).toBe("executed");
    // The refused retries are audited too, each under the tool it named.
    const events = await waitFor(() => chainOf(w.world, requestId), (e) => e.filter((x) => x.ruleId === "write_request_mismatch").length >= attempts.length);
    expect(events.filter((e) => e.ruleId === "write_request_mismatch").map((e) => e.tool).sort()).toEqual(attempts.map(([name]) => name).sort());
    expect(events.filter((e) => e.verdict === "allowed").map((e) => e.tool)).toEqual(["bump_genre"]);
  });

  test("an execute_sql state cannot confirm the saved tool running the same statement", async () => {
    const before = await bumps(w.world, 7);
    const { state, requestId } = await ask("execute_sql", { sql: BUMP, params: [7] });
    const refused = await post(call("bump_genre", { id: 7 }, { inputResponses: yes, requestState: state }));
    expect(refused.structuredContent.refusal).toMatchObject({ ruleId: "write_request_mismatch" });
    expect(refused.structuredContent.refusal!.reason).toMatch(/issued for another tool/);
    expect(await bumps(w.world, 7)).toBe(before);
    expect((await writeRequestRow(w.world, requestId))!.status).toBe("pending");
  });

  test("a no through the retry runs nothing and rejects the request", async () => {
    const before = await bumps(w.world, 8);
    const { state, requestId } = await ask("bump_genre", { id: 8 });
    const declined = await post(call("bump_genre", { id: 8 }, { inputResponses: { confirm: { action: "decline" } }, requestState: state }));
    expect(declined.isError).toBe(true);
    expect(declined.structuredContent.refusal!.ruleId).toBe("write_request_not_approved");
    expect(await bumps(w.world, 8)).toBe(before);
    expect((await writeRequestRow(w.world, requestId))!.status).toBe("rejected");
  });

  test("the tool's statement edited between the question and the answer: the retry is refused, nothing runs", async () => {
    const before = await bumps(w.world, 9);
    const { state, requestId } = await ask("edited_bump", { id: 9 });
    const { teamId, linkId } = w.link;
    const edited = "UPDATE genre SET name = name || '!!' WHERE genre_id = $1";
    const saved = await createdTool("edited_bump");
    await updateLinkTool(w.world.prisma, { teamId, linkId, id: saved.id, tool: { ...bumpTool("edited_bump", edited), description: "Marks a genre twice" } }, deps);
    // The gateway hears of the edit by NOTIFY: the retry goes only once the listing shows it (before,
    // the old statement would still match and run — not what this test is about).
    await waitFor(async () => (await listedNow()).find((t) => t.name === "edited_bump")?.description ?? "", (d) => d.startsWith("Marks a genre twice"));
    const refused = await post(call("edited_bump", { id: 9 }, { inputResponses: yes, requestState: state }));
    expect(refused.structuredContent.refusal!.ruleId).toBe("write_request_mismatch");
    expect(refused.structuredContent.refusal!.reason).toMatch(/differ/);
    expect(await bumps(w.world, 9)).toBe(before);
    expect((await writeRequestRow(w.world, requestId))!.status).toBe("pending");
  });
});

describe("1.x SDK client with elicitation (2025-11-25)", () => {
  test("accepts on its stream: the saved tool's write runs once, audited under its name", async () => {
    const before = await bumps(w.world, 11);
    const asked: string[] = [];
    const client = await v1Client(async (message) => {
      asked.push(message);
      return { action: "accept", content: { confirm: true } };
    });
    const result = await client.callTool({ name: "bump_genre", arguments: { id: 11 } });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ status: "ok", affected: 1 });
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatch(/^Update 1 row in public\.genre\? /);
    expect(asked[0]).toContain(BUMP);
    expect(await bumps(w.world, 11)).toBe(before + 1);
    const [request] = await requestsOf(w.world, w.link.linkId);
    expect(request).toMatchObject({ kind: "confirm", status: "executed" });
    expect(await chainTools(request!.id, 2)).toEqual([
      ["bump_genre", "allowed", null],
      ["bump_genre", "blocked", "confirmation_required"],
    ]);
    await client.close();
  });

  test("declines: nothing runs and the request is rejected", async () => {
    const before = await bumps(w.world, 12);
    const client = await v1Client(async () => ({ action: "decline" }));
    const result = await client.callTool({ name: "bump_genre", arguments: { id: 12 } });
    expect(JSON.stringify(result)).toMatch(/declined/);
    expect(await bumps(w.world, 12)).toBe(before);
    expect((await requestsOf(w.world, w.link.linkId))[0]!.status).toBe("rejected");
    const [request] = await requestsOf(w.world, w.link.linkId);
    expect(await chainTools(request!.id, 2)).toEqual([
      ["bump_genre", "blocked", "confirmation_required"],
      ["bump_genre", "blocked", "write_request_not_approved"],
    ]);
    await client.close();
  });
});

describe("a saved tool on the second database of a link", () => {
  test("both eras confirm it there, under that database's scope; the request and its execution name it", async () => {
    // The first database may only read genre: the write can run only on "second", where it needs a yes.
    const multi = await w.world.addLink({ access: "read", schemas: ["public"] }, undefined, w.url);
    await w.world.prisma.linkDatabase.create({ data: { linkId: multi.linkId, teamId: multi.teamId, name: "second", connectionId: w.world.connectionId, position: 1, scope: CONFIRM_SCOPE } });
    await createLinkTool(w.world.prisma, { teamId: multi.teamId, linkId: multi.linkId, createdById: multi.userId, tool: { ...bumpTool("bump_second"), databaseName: "second" } }, deps);
    const before = [await bumps(w.world, 14), await bumps(w.world, 15)];
    await waitFor(async () => (await listedNow(multi)).map((t) => t.name), (names) => names.includes("bump_second"));
    const v2 = await v2Client(() => ({ action: "accept", content: { confirm: true } }), true, multi);
    const modern = await v2.client.callTool({ name: "bump_second", arguments: { id: 14 } });
    expect(modern.structuredContent).toMatchObject({ status: "ok", affected: 1 });
    expect(v2.asked).toHaveLength(1);
    await v2.client.close();
    const v1 = await v1Client(async () => ({ action: "accept", content: { confirm: true } }), multi);
    const legacy = await v1.callTool({ name: "bump_second", arguments: { id: 15 } });
    expect(legacy.structuredContent).toMatchObject({ status: "ok", affected: 1 });
    await v1.close();
    expect([await bumps(w.world, 14), await bumps(w.world, 15)]).toEqual([before[0]! + 1, before[1]! + 1]);
    const requests = await requestsOf(w.world, multi.linkId);
    expect(requests.map((r) => [r.status, r.databaseName])).toEqual([
      ["executed", "second"],
      ["executed", "second"],
    ]);
    for (const request of requests) {
      const chain = await waitFor(() => chainOf(w.world, request.id), (events) => events.length >= 2);
      expect(chain.map((e) => [e.tool, e.verdict, e.databaseName]).sort()).toEqual([
        ["bump_second", "allowed", "second"],
        ["bump_second", "blocked", "second"],
      ]);
    }
  });
});
