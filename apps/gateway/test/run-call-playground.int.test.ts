import { randomUUID } from "node:crypto";
import { freePort } from "@portcullis/db/testing";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { GatewayWorld, auditEvents, connectClient, toolJson, toolText, waitFor, type LinkFixture } from "./fixtures.js";

/**
 * A link whose database is unreachable, through both renderers of the one call path: MCP answers a
 * failed, retryable result in words that name no host or port; the Playground keeps its 503 with the
 * same words. Each call is audited once, as an error.
 */
let world: GatewayWorld;
let base: string;
let internal: string;
let link: LinkFixture;
let owner: string;

beforeAll(async () => {
  world = await GatewayWorld.create();
  ({ url: base, internalUrl: internal } = (await world.startGateway()) as { url: string; internalUrl: string });
  const port = await freePort();
  const team = await world.addTeam(`down-${randomUUID().slice(0, 6)}`, `postgresql://nobody:secret@127.0.0.1:${port}/nothing`);
  owner = team.userId;
  link = await world.addLink({ access: "read" }, team);
});
afterAll(() => world?.close());

test("MCP: failed target_unavailable, retryable, no address in the words", async () => {
  const client = await connectClient(`${base}/mcp/${link.linkId}`, link.key, "down-client");
  try {
    const r = await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT 'mcp-down' AS m" } });
    expect(r.isError).toBe(true);
    expect(toolJson(r)).toMatchObject({ status: "failed", failure: { code: "target_unavailable", retryable: true } });
    expect(toolText(r)).toMatch(/database is unreachable right now \(connection refused\)/);
    expect(toolText(r)).not.toMatch(/127\.0\.0\.1|nobody|nothing/);
  } finally {
    await client.close();
  }
});

test("Playground: 503 with the same words; audited once as an error", async () => {
  const r = await fetch(`${internal}/internal/links/${link.linkId}/playground`, {
    method: "POST",
    headers: { authorization: "Bearer internal-test-token", "content-type": "application/json" },
    body: JSON.stringify({ sql: "SELECT 'playground-down' AS m", userId: owner }),
  });
  expect(r.status).toBe(503);
  const body = (await r.json()) as { error: string };
  expect(body.error).toMatch(/database is unreachable right now \(connection refused\)/);
  expect(body.error).not.toMatch(/127\.0\.0\.1|nobody|nothing/);
  const events = await waitFor(
    () => auditEvents(world),
    (es) => es.filter((e) => e.linkId === link.linkId && e.kind === "tool_call").length >= 2,
  );
  const mine = events.filter((e) => e.linkId === link.linkId && e.kind === "tool_call");
  expect(mine.map((e) => [e.clientName, e.verdict, e.protocolVersion]).sort()).toEqual([
    ["down-client", "error", "2025-11-25"],
    ["portcullis-playground", "error", "playground"],
  ]);
  for (const e of mine) expect(e.error).toMatch(/database is unreachable/);
  // The statement is on the row although the call failed before the policy saw it.
  expect(mine.map((e) => e.sql).sort()).toEqual(["SELECT 'mcp-down' AS m", "SELECT 'playground-down' AS m"]);
});

test("Playground: the dashboard closing its request cancels the running statement in the database", async () => {
  const live = await world.addLink({ access: "read" });
  const marker = `cancel_${randomUUID().slice(0, 8)}`;
  const gone = new AbortController();
  const request = fetch(`${internal}/internal/links/${live.linkId}/playground`, {
    method: "POST",
    headers: { authorization: "Bearer internal-test-token", "content-type": "application/json" },
    body: JSON.stringify({ sql: `SELECT count(*) AS ${marker} FROM track a, track b, track c`, userId: world.userId }),
    signal: gone.signal,
  }).catch(() => "aborted");
  const target = new pg.Client({ connectionString: world.target.url });
  await target.connect();
  try {
    const running = () => target.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE $1 AND state = 'active' AND pid <> pg_backend_pid()", [`%${marker}%`]).then((r) => r.rows[0].n as number);
    expect(await waitFor(running, (n) => n === 1, 10_000)).toBe(1);
    gone.abort();
    expect(await request).toBe("aborted");
    // Well before the link's 15 s statement timeout: cancelled, not timed out.
    expect(await waitFor(running, (n) => n === 0, 5_000)).toBe(0);
    const events = await waitFor(() => auditEvents(world), (es) => es.some((e) => e.sql?.includes(marker)));
    expect(events.find((e) => e.sql?.includes(marker))).toMatchObject({ verdict: "error", clientName: "portcullis-playground", error: expect.stringContaining("57014") });
  } finally {
    await target.end();
  }
});
