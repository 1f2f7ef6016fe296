import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createEmptyDatabase } from "@portcullis/db/testing";
import { spawnGateway, type ChildGateway } from "./child-gateway.js";
import { GatewayWorld, connectClient, toolJson } from "./fixtures.js";

/**
 * A 1,000,000-row table read through the gateway: the result is cut at the limit while reading
 * (portal row limits, byte cap), so the gateway process's memory does not grow with the table.
 */
let world: GatewayWorld;
let gateway: ChildGateway;

beforeAll(async () => {
  const target = await createEmptyDatabase("big");
  const admin = new pg.Client({ connectionString: target.url });
  await admin.connect();
  await admin.query("CREATE TABLE big AS SELECT g AS id, md5(g::text) AS payload, now() AS at FROM generate_series(1, 1000000) g");
  await admin.end();
  world = await GatewayWorld.create({ target });
  gateway = await spawnGateway(world.env());
}, 120_000);
afterAll(async () => {
  await gateway?.stop();
  await world?.close();
});

test("SELECT * over a million rows is cut at the row limit and at the byte cap, in bounded memory", async () => {
  const rowsLink = await world.addLink({ access: "read", limits: { maxRows: 1000, statementTimeoutMs: 30000 } });
  const bytesLink = await world.addLink({ access: "read", limits: { maxRows: 1000000, statementTimeoutMs: 30000 } });
  const byRows = await connectClient(`${gateway.url}/mcp/${rowsLink.linkId}`, rowsLink.key);
  const byBytes = await connectClient(`${gateway.url}/mcp/${bytesLink.linkId}`, bytesLink.key);
  const sql = { name: "execute_sql", arguments: { sql: "SELECT * FROM big" } };

  // Warm up (catalog, pools, JIT) before taking the baseline.
  await byRows.callTool(sql);
  await byBytes.callTool(sql);
  const before = await gateway.memory();

  const started = performance.now();
  for (let i = 0; i < 5; i++) {
    const r = toolJson(await byRows.callTool(sql));
    expect(r.rowCount).toBe(1000);
    expect(r.truncated).toMatchObject({ value: true, by: "rows", limit: 1000 });
    expect(r.truncated.note).toContain("at most 1000 rows");
    const b = toolJson(await byBytes.callTool(sql));
    expect(b.truncated).toMatchObject({ value: true, by: "bytes" });
    expect(b.truncated.note).toContain("KiB size limit");
    expect(b.rowCount).toBeGreaterThan(1000);
    expect(b.rowCount).toBeLessThan(10_000);
  }
  const elapsed = performance.now() - started;
  const after = await gateway.memory();
  const growth = after.peak - before.peak;
  console.log(`10 cut reads of a 1,000,000-row table in ${elapsed.toFixed(0)} ms; peak RSS ${Math.round(before.peak / 2 ** 20)} MiB -> ${Math.round(after.peak / 2 ** 20)} MiB`);
  // Reading the table (~70 MB as text, several times that as JS values) would show up here; the
  // margin is for the heap's own growth and GC timing.
  expect(growth).toBeLessThan(64 * 2 ** 20);
  // PostgreSQL stopped producing rows at the cut: nowhere near a full scan per call.
  expect(elapsed).toBeLessThan(10_000);
  await byRows.close();
  await byBytes.close();
}, 120_000);
