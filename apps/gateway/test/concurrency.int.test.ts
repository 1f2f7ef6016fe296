import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createEmptyDatabase } from "@portcullis/db/testing";
import { spawnGateway, type ChildGateway } from "./child-gateway.js";
import { GatewayWorld, auditEvents, rawPost, waitFor, type LinkFixture } from "./fixtures.js";

/**
 * Hundreds of simultaneous calls over two gateway instances, three links and two teams, every
 * request with the same JSON-RPC id: each answer must be the one for its own link's scope and
 * database, and each audit event must name its own team and link.
 */
let world: GatewayWorld;
let instances: string[];
let gateways: ChildGateway[] = [];
let full: LinkFixture;
let masked: LinkFixture;
let teamB: LinkFixture;
let otherTarget: Awaited<ReturnType<typeof createEmptyDatabase>> | undefined;

beforeAll(async () => {
  world = await GatewayWorld.create();
  otherTarget = await createEmptyDatabase("teamb");
  const admin = new pg.Client({ connectionString: otherTarget.url });
  await admin.connect();
  await admin.query("CREATE TABLE customer (customer_id int primary key, email text); INSERT INTO customer SELECT g, 'team-b-' || g FROM generate_series(1, 100) g");
  await admin.end();
  const b = await world.addTeam("team-b", otherTarget.url);
  full = await world.addLink({ access: "read" });
  masked = await world.addLink({ access: "read", tables: { customer: { hiddenColumns: ["email"] } } });
  teamB = await world.addLink({ access: "read" }, b);
  gateways = await Promise.all([spawnGateway(world.env()), spawnGateway(world.env())]);
  instances = gateways.map((g) => g.url);
}, 120_000);
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await world?.close();
  await otherTarget?.drop();
});

test("300 simultaneous calls: no cross-talk between links or teams", async () => {
  const chinookEmails = new Map<number, string>();
  const client = new pg.Client({ connectionString: world.target.url });
  await client.connect();
  for (const row of (await client.query("SELECT customer_id, email FROM customer")).rows) chinookEmails.set(row.customer_id, row.email);
  await client.end();

  const links = [full, masked, teamB];
  const calls = Array.from({ length: 300 }, (_, i) => {
    const link = links[i % 3]!;
    const n = (i % 50) + 1;
    const base = instances[i % 2]!;
    const body = { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "execute_sql", arguments: { sql: `SELECT email, ${i} AS i FROM customer WHERE customer_id = $1`, params: [n] } } };
    return rawPost(`${base}/mcp/${link.linkId}`, body, { authorization: `Bearer ${link.key}` }).then((r) => ({ r, link, n, i }));
  });
  const results = await Promise.all(calls);
  for (const { r, link, n, i } of results) {
    expect(r.status).toBe(200);
    expect(r.json.id).toBe(1);
    const result = r.json.result;
    if (link === masked) {
      expect(result.isError, `call ${i}`).toBe(true);
      expect(result.content[0].text).toContain("undefined_column");
      continue;
    }
    const rows = result.structuredContent.rows;
    expect(rows, `call ${i}`).toEqual([[link === teamB ? `team-b-${n}` : chinookEmails.get(n), i]]);
  }

  const events = await waitFor(
    () => auditEvents(world),
    (es) => es.filter((e) => /SELECT email, \d+ AS i/.test(e.sql ?? "")).length === 300,
    20_000,
    200,
  );
  for (const e of events.filter((x) => /SELECT email, \d+ AS i/.test(x.sql ?? ""))) {
    const i = Number(/SELECT email, (\d+) AS i/.exec(e.sql!)![1]);
    const link = links[i % 3]!;
    expect(e.linkId).toBe(link.linkId);
    expect(e.teamId).toBe(link.teamId);
    expect(e.apiKeyId).toBe(link.apiKeyId);
    expect(e.verdict).toBe(link === masked ? "blocked" : "allowed");
  }
}, 60_000);

test("graceful shutdown: the in-flight call finishes and its audit event is flushed", async () => {
  const gateway = gateways[0]!;
  const slow = rawPost(
    `${gateway.url}/mcp/${full.linkId}`,
    { jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "execute_sql", arguments: { sql: "SELECT count(*) AS n /* slow-shutdown */ FROM generate_series(1, 3000000)" } } },
    { authorization: `Bearer ${full.key}` },
  );
  await new Promise((r) => setTimeout(r, 150));
  const code = await gateway.stop();
  const r = await slow;
  expect(r.status).toBe(200);
  expect(r.json.result.content[0].text).toContain('[["3000000"]]');
  expect(code).toBe(0);
  await waitFor(() => auditEvents(world), (es) => es.some((e) => e.sql?.includes("slow-shutdown")));
}, 60_000);
