import { randomBytes } from "node:crypto";
import { createLinkTool, decideWriteRequest, setLinkDisabledTools, type SavedToolCheckDeps, type SavedToolInput } from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import { targetPolicyFromEnv } from "@portcullis/db/target";
import { withClient } from "@portcullis/db/testing";
import * as policy from "@portcullis/policy";
import { afterAll, beforeAll, expect, test } from "vitest";
import { GatewayWorld, auditEvents, waitFor, type LinkFixture } from "./fixtures.js";

/**
 * The Playground endpoint's `{ tool, arguments }` (a saved tool's Try it, issue 17): the call goes
 * through runCall under the tool's name, so its own typed parse, the policy and the audit apply as for
 * an MCP client. Judged by the rows answered and the audit events left; the Playground page's
 * `{ sql }` body keeps working, and a switched-off execute_sql cannot be reached through either.
 */
let world: GatewayWorld;
let internal: string;
let link: LinkFixture;
let other: LinkFixture;
let deps: SavedToolCheckDeps;

const SCOPE = { access: "read", tables: { employee: { access: "none" } } };
const ARTISTS: SavedToolInput = {
  name: "artists_upto",
  description: "Artist names with an id up to max_id",
  sql: "SELECT name FROM artist WHERE artist_id <= $1 ORDER BY artist_id",
  parameters: [{ name: "max_id", type: "integer", description: "highest id", required: true }],
};

type Answer = { status: number; body: { error?: string; verdict?: { allowed: boolean; ruleId?: string }; result?: { rows: unknown[][]; rowCount: number } } };

async function ask(linkId: string, body: Record<string, unknown>): Promise<Answer> {
  const r = await fetch(`${internal}/internal/links/${linkId}/playground`, {
    method: "POST",
    headers: { authorization: "Bearer internal-test-token", "content-type": "application/json" },
    body: JSON.stringify({ userId: world.userId, ...body }),
  });
  return { status: r.status, body: (await r.json()) as Answer["body"] };
}

const eventsOf = (linkId: string) => auditEvents(world).then((es) => es.filter((e) => e.linkId === linkId && e.kind === "tool_call"));

beforeAll(async () => {
  world = await GatewayWorld.create();
  deps = { policy, route: { policy: targetPolicyFromEnv({ TARGET_NETWORKS: "any", TARGET_ALLOW_POWERFUL_ROLES: "true" }), keyring: getKeyring(world.secretKeys) } };
  internal = (await world.startGateway()).internalUrl!;
  link = await world.addLink(SCOPE);
  other = await world.addLink(SCOPE);
  await createLinkTool(world.prisma, { teamId: link.teamId, linkId: link.linkId, createdById: link.userId, tool: ARTISTS }, deps);
  await createLinkTool(
    world.prisma,
    { teamId: other.teamId, linkId: other.linkId, createdById: other.userId, tool: { name: "genres_all", description: "Every genre", sql: "SELECT name FROM genre ORDER BY genre_id", parameters: [] } },
    deps,
  );
});
afterAll(() => world?.close());

test("Try it of a saved tool runs its statement with the bound value and is audited under the tool's name", async () => {
  const r = await ask(link.linkId, { tool: "artists_upto", arguments: { max_id: 3 } });
  expect(r.status).toBe(200);
  expect(r.body.result?.rows).toEqual([["AC/DC"], ["Accept"], ["Aerosmith"]]);
  const events = await waitFor(() => eventsOf(link.linkId), (es) => es.some((e) => e.tool === "artists_upto"));
  expect(events.filter((e) => e.tool === "artists_upto")).toEqual([
    expect.objectContaining({ verdict: "allowed", clientName: "portcullis-playground", protocolVersion: "playground", userId: world.userId, sql: ARTISTS.sql }),
  ]);
  expect(events.some((e) => e.tool === "execute_sql")).toBe(false);
});

test("a saved tool's statement error reads as PostgreSQL's words, as execute_sql's does, without the model's untrusted-data boundary", async () => {
  await createLinkTool(
    world.prisma,
    { teamId: link.teamId, linkId: link.linkId, createdById: link.userId, tool: { name: "ratio", description: "100 over n", sql: "SELECT 100 / $1::int AS r", parameters: [{ name: "n", type: "integer", description: "", required: true }] } },
    deps,
  );
  const ok = await waitFor(() => ask(link.linkId, { tool: "ratio", arguments: { n: 4 } }), (r) => r.status === 200, 10_000, 100);
  expect(ok.body.result?.rows).toEqual([[25]]);
  const failed = await ask(link.linkId, { tool: "ratio", arguments: { n: 0 } });
  const plain = await ask(link.linkId, { sql: "SELECT 100 / $1::int AS r", params: [0] });
  expect(failed.status).toBe(200);
  expect((failed.body as { error?: string }).error).toMatch(/division by zero/);
  expect((failed.body as { error?: string }).error).toBe((plain.body as { error?: string }).error);
});

test("arguments of the wrong type are refused in the tool's words; nothing runs, the refusal is audited under its name", async () => {
  for (const bad of [{ max_id: "3" }, { max_id: "1; DROP TABLE artist" }, { max_id: 1.5 }, {}, { max_id: [1] }]) {
    const r = await ask(link.linkId, { tool: "artists_upto", arguments: bad });
    expect(r.status, JSON.stringify(bad)).toBe(422);
    expect(r.body.error, JSON.stringify(bad)).toMatch(/^Invalid arguments for artists_upto: max_id: /);
    expect(r.body.result).toBeUndefined();
  }
  const events = await waitFor(() => eventsOf(link.linkId), (es) => es.filter((e) => e.tool === "artists_upto" && e.verdict === "error").length >= 5);
  expect(events.filter((e) => e.tool === "artists_upto" && e.verdict === "error").every((e) => /Invalid arguments for artists_upto/.test(e.error ?? ""))).toBe(true);
});

test("an unknown tool and another link's saved tool are refused in words, audited, and nothing of theirs runs", async () => {
  const unknown = await ask(link.linkId, { tool: "drop_everything", arguments: {} });
  expect(unknown.status).toBe(404);
  expect(unknown.body.error).toMatch(/this link has no tool named "drop_everything"; nothing was run\. It answers to: .*artists_upto/);
  const foreign = await ask(link.linkId, { tool: "genres_all", arguments: {} });
  expect(foreign.status).toBe(404);
  expect(foreign.body.error).toMatch(/no tool named "genres_all"/);
  expect(JSON.stringify(foreign.body)).not.toContain("Rock");
  // On its own link it answers: the refusal above was the link's, not the tool's.
  expect((await ask(other.linkId, { tool: "genres_all", arguments: {} })).body.result?.rows[0]).toEqual(["Rock"]);
  const events = await waitFor(() => eventsOf(link.linkId), (es) => es.some((e) => e.tool === "genres_all"));
  expect(events.filter((e) => e.tool === "genres_all" || e.tool === "drop_everything").map((e) => [e.tool, e.verdict]).sort()).toEqual([
    ["drop_everything", "error"],
    ["genres_all", "error"],
  ]);
});

test("a body naming a tool cannot carry sql too; built-ins without rows are not the Playground's; a malformed body is refused", async () => {
  const before = (await eventsOf(link.linkId)).length;
  const smuggled = await ask(link.linkId, { tool: "artists_upto", arguments: { max_id: 1 }, sql: "SELECT first_name FROM employee" });
  expect(smuggled.status).toBe(422);
  expect(smuggled.body.error).toMatch(/sql/);
  const schema = await ask(link.linkId, { tool: "get_schema", arguments: {} });
  expect(schema.status).toBe(422);
  expect(schema.body.error).toMatch(/runs execute_sql or one of this link's saved tools, not get_schema/);
  for (const body of [{ tool: ["artists_upto"], arguments: {} }, { tool: "artists_upto", arguments: [3] }, { tool: "", arguments: {} }]) {
    expect((await ask(link.linkId, body)).status, JSON.stringify(body)).toBe(422);
  }
  // None of these ran anything, so none left a tool call.
  await new Promise((r) => setTimeout(r, 300));
  expect((await eventsOf(link.linkId)).length).toBe(before);
});

test("execute_sql through { tool, arguments } is execute_sql's call; the Playground page's { sql } body keeps working", async () => {
  const named = await ask(link.linkId, { tool: "execute_sql", arguments: { sql: "SELECT name FROM genre WHERE genre_id = $1", params: [1] } });
  expect(named.body.result?.rows).toEqual([["Rock"]]);
  const legacy = await ask(link.linkId, { sql: "SELECT name FROM genre WHERE genre_id = $1", params: [2] });
  expect(legacy.body.result?.rows).toEqual([["Jazz"]]);
  const hidden = await ask(link.linkId, { tool: "execute_sql", arguments: { sql: "SELECT first_name FROM employee" } });
  expect(hidden.body.verdict?.allowed).toBe(false);
  expect(JSON.stringify(hidden.body)).not.toContain("Andrew");
});

test("a switched-off execute_sql cannot be run through the Playground, by either body; the link's saved tool still can", async () => {
  const l = await world.addLink(SCOPE);
  await createLinkTool(world.prisma, { teamId: l.teamId, linkId: l.linkId, createdById: l.userId, tool: ARTISTS }, deps);
  const marker = `m_${randomBytes(4).toString("hex")}`;
  expect((await ask(l.linkId, { sql: `SELECT '${marker}' AS m` })).body.result?.rows).toEqual([[marker]]);
  await setLinkDisabledTools(world.prisma, { teamId: l.teamId, linkId: l.linkId, disabledTools: ["execute_sql"] });
  // The gateway hears of the change by NOTIFY.
  const off = await waitFor(() => ask(l.linkId, { sql: `SELECT '${marker}-off' AS m` }), (r) => r.status !== 200, 10_000, 100);
  expect(off.status).toBe(404);
  expect(off.body.error).toBe("execute_sql is switched off on this link (its Tools tab); nothing was run");
  const named = await ask(l.linkId, { tool: "execute_sql", arguments: { sql: `SELECT '${marker}-named' AS m` } });
  expect(named.status).toBe(404);
  expect(JSON.stringify(named.body)).not.toContain(`${marker}-named`);
  expect((await ask(l.linkId, { tool: "artists_upto", arguments: { max_id: 1 } })).body.result?.rows).toEqual([["AC/DC"]]);
  const events = await waitFor(() => eventsOf(l.linkId), (es) => es.filter((e) => e.tool === "execute_sql" && e.verdict === "error").length >= 2 && es.some((e) => e.tool === "artists_upto"));
  // Audited as calls of a tool the link does not answer to; the statements never reached the policy.
  expect(events.filter((e) => e.tool === "execute_sql" && e.verdict === "error").every((e) => e.sql === undefined || e.sql === null)).toBe(true);
  // (The polling above may have run its statement before the switch reached the gateway; never the named one.)
  expect(events.filter((e) => e.verdict === "allowed" && e.tool === "artists_upto")).toHaveLength(1);
  expect(events.some((e) => e.verdict === "allowed" && e.sql?.includes(`${marker}-named`))).toBe(false);
});

test("a saved write under approval: Try it answers the pending request and runs nothing; once approved, the same call with its requestId runs it once, under the tool's name", async () => {
  const l = await world.addLink({ access: "read", tables: { invoice: { access: "write", approval: "writes" } } });
  await createLinkTool(
    world.prisma,
    { teamId: l.teamId, linkId: l.linkId, createdById: l.userId, tool: { name: "zero_invoice", description: "Sets an invoice's total to 0", sql: "UPDATE invoice SET total = 0 WHERE invoice_id = $1", parameters: [{ name: "id", type: "integer", description: "", required: true }] } },
    deps,
  );
  const total = () => withClient(world.target.url, async (c) => String((await c.query("SELECT total FROM invoice WHERE invoice_id = 4")).rows[0].total));
  const before = await total();
  expect(before).not.toBe("0.00");
  const asked = await ask(l.linkId, { tool: "zero_invoice", arguments: { id: 4 } });
  const body = asked.body as { verdict: { allowed: boolean; ruleId?: string }; pending?: { requestId: string; message: string; preview: { affected: number } } };
  expect(body.verdict).toMatchObject({ allowed: false, ruleId: "approval_required" });
  expect(body.pending?.preview.affected).toBe(1);
  expect(body.pending?.message).toMatch(/call zero_invoice again with exactly the same arguments plus/);
  expect(await total()).toBe(before);

  const approver = await world.prisma.user.create({ data: { email: `approver-${randomBytes(4).toString("hex")}@example.com` } });
  await world.prisma.membership.create({ data: { teamId: world.teamId, userId: approver.id, role: "admin" } });
  await decideWriteRequest(world.prisma, { teamId: world.teamId, id: body.pending!.requestId, deciderId: approver.id, decision: "approve", via: "dashboard" });
  // Other arguments with the approved request's id: not the approved statement.
  const other = await ask(l.linkId, { tool: "zero_invoice", arguments: { id: 5, requestId: body.pending!.requestId } });
  expect(other.body.result).toBeUndefined();
  const ran = await ask(l.linkId, { tool: "zero_invoice", arguments: { id: 4, requestId: body.pending!.requestId } });
  expect(ran.body.result?.rowCount).toBe(1);
  expect(await total()).toBe("0.00");
  expect(await withClient(world.target.url, async (c) => String((await c.query("SELECT total FROM invoice WHERE invoice_id = 5")).rows[0].total))).not.toBe("0.00");
  const again = await ask(l.linkId, { tool: "zero_invoice", arguments: { id: 4, requestId: body.pending!.requestId } });
  expect(again.body.result).toBeUndefined();

  const events = await waitFor(() => eventsOf(l.linkId), (es) => es.filter((e) => e.tool === "zero_invoice").length >= 4);
  expect(events.every((e) => e.tool === "zero_invoice")).toBe(true);
  expect(events.filter((e) => e.verdict === "allowed").map((e) => e.writeRequestId)).toEqual([body.pending!.requestId]);
});
