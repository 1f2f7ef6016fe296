import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { spawnGateway, type ChildGateway } from "./child-gateway.js";
import { GatewayWorld, connectClient, toolJson, toolText } from "./fixtures.js";

/**
 * One huge row must not grow the gateway: the DataRow header announces its size, and a row bigger
 * than what is left of the byte cap is never buffered; the query is cancelled (the connection closed)
 * and the answer says why. Before: `SELECT repeat('x', 200000000)` grew the process by ~600 MiB.
 */
let world: GatewayWorld;
let gateway: ChildGateway;
let admin: pg.Client;

beforeAll(async () => {
  world = await GatewayWorld.create();
  admin = new pg.Client({ connectionString: world.target.url });
  await admin.connect();
  await admin.query("CREATE TABLE blobs (id int PRIMARY KEY, body text)");
  gateway = await spawnGateway(world.env());
}, 60_000);
afterAll(async () => {
  await admin?.end();
  await gateway?.stop();
  await world?.close();
});

const MiB = 2 ** 20;

async function targetBackendsRunning(text: string): Promise<number> {
  const { rows } = await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()", [`%${text}%`]);
  return rows[0].n as number;
}

test("SELECT repeat('x', 200000000) is refused mid-row: bounded RSS, clear answer, query cancelled, pool usable", async () => {
  const link = await world.addLink({ access: "read", limits: { maxRows: 1000, statementTimeoutMs: 60000 } });
  const client = await connectClient(`${gateway.url}/mcp/${link.linkId}`, link.key);
  const small = toolJson(await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT repeat('y', 1000) AS s" } }));
  expect(small.rowCount).toBe(1);
  const huge = { name: "execute_sql", arguments: { sql: "SELECT 1 AS n, repeat('x', 200000000) AS s" } };
  const before = await gateway.memory();
  const started = performance.now();
  const result = await client.callTool(huge);
  const elapsed = performance.now() - started;
  const afterOne = await gateway.memory();
  await client.callTool(huge);
  await client.callTool(huge);
  const after = await gateway.memory();
  const body = toolJson(result);
  console.log(
    `200 MB row: answered in ${elapsed.toFixed(0)} ms; peak RSS ${Math.round(before.peak / MiB)} -> ${Math.round(afterOne.peak / MiB)} MiB after one call -> ${Math.round(after.peak / MiB)} MiB after three; note: ${body.truncated.note}`,
  );
  expect(result.isError).toBeFalsy();
  expect(body.rowCount).toBe(0);
  expect(body.truncated).toMatchObject({ value: true, by: "bytes" });
  expect(body.truncated.note).toMatch(/alone is 190\.7 MiB.*not read and the query was cancelled/);
  // The row itself is 190 MiB; holding it once (let alone its string and JSON: ~600 MiB measured
  // before this guard) would show here. The margin is the heap's first growth on this code path.
  expect(after.peak - before.peak).toBeLessThan(48 * MiB);
  expect(after.peak - afterOne.peak).toBeLessThan(16 * MiB);

  // PostgreSQL stopped sending: the backend is gone, not still pushing 200 MB into a dead socket.
  await new Promise((r) => setTimeout(r, 500));
  expect(await targetBackendsRunning("repeat('x', 200000000)")).toBe(0);
  // The pool still serves the link (the closed connection was discarded, not handed out again).
  for (let i = 0; i < 12; i++) {
    expect(toolJson(await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT 42 AS n" } })).rows).toEqual([[42]]);
  }
  await client.close();
}, 60_000);

test("rows read before the oversized one are kept; a row that fits the cap is still cut the ordinary way", async () => {
  const link = await world.addLink({ access: "read" });
  const client = await connectClient(`${gateway.url}/mcp/${link.linkId}`, link.key);
  const mixed = toolJson(
    await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT g, CASE WHEN g = 3 THEN repeat('x', 5000000) ELSE 'small' END FROM generate_series(1, 5) g" } }),
  );
  expect(mixed.rows).toEqual([
    [1, "small"],
    [2, "small"],
  ]);
  expect(mixed.truncated).toMatchObject({ value: true, by: "bytes" });
  expect(mixed.truncated.note).toContain("the next row alone is 4.8 MiB");
  // 200 KiB fits the 256 KiB cap with room to spare: the ordinary path, no cancellation.
  const fits = toolJson(await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT repeat('z', 200000) AS s" } }));
  expect(fits.rowCount).toBe(1);
  expect(fits.truncated).toEqual({ value: false });
  await client.close();
});

test("a write whose RETURNING row is too big is rolled back, and says so", async () => {
  const link = await world.addLink({ access: "write" });
  const client = await connectClient(`${gateway.url}/mcp/${link.linkId}`, link.key);
  const result = await client.callTool({
    name: "execute_sql",
    arguments: { sql: "INSERT INTO blobs (id, body) VALUES (1, repeat('x', 20000000)) RETURNING id, body" },
  });
  expect(result.isError).toBe(true);
  expect(toolText(result)).toContain("rolled back, nothing was written");
  const { rows } = await admin.query("SELECT count(*)::int AS n FROM blobs");
  expect(rows[0].n).toBe(0);
  // An ordinary write on the same link commits.
  const ok = toolJson(await client.callTool({ name: "execute_sql", arguments: { sql: "INSERT INTO blobs (id, body) VALUES (2, 'ok')" } }));
  expect(ok).toMatchObject({ statementClass: "insert", affected: 1 });
  expect((await admin.query("SELECT id FROM blobs")).rows).toEqual([{ id: 2 }]);
  await client.close();
}, 60_000);

test("an error whose text carries a huge value is not buffered either, and error texts are bounded", async () => {
  const link = await world.addLink({ access: "read", limits: { maxRows: 1000, statementTimeoutMs: 60000 } });
  const client = await connectClient(`${gateway.url}/mcp/${link.linkId}`, link.key);
  // PostgreSQL puts the whole value in the message: invalid input syntax for type integer: "xxx…".
  const before = await gateway.memory();
  const huge = await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT repeat('x', 200000000)::int" } });
  const after = await gateway.memory();
  console.log(`200 MB error message: peak RSS ${Math.round(before.peak / MiB)} -> ${Math.round(after.peak / MiB)} MiB; ${toolText(huge).slice(0, 200)}`);
  expect(huge.isError).toBe(true);
  expect(toolText(huge)).toContain("more than the gateway reads; the statement was cancelled");
  expect(toolText(huge).length).toBeLessThan(1000);
  expect(after.peak - before.peak).toBeLessThan(48 * MiB);
  // Below the message limit: read, but what reaches the caller is cut.
  const medium = await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT repeat('y', 500000)::int" } });
  expect(medium.isError).toBe(true);
  expect(toolText(medium)).toContain("invalid input syntax for type integer");
  expect(toolText(medium)).toContain("more characters cut");
  expect(toolText(medium).length).toBeLessThan(3000);
  expect(toolJson(await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT 7 AS n" } })).rows).toEqual([[7]]);
  await client.close();
}, 60_000);
