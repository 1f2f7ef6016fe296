import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { GatewayWorld, type LinkFixture } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";

/**
 * Statements the policy allows on admin links since issue 14 that cannot run like the others:
 * VACUUM outside a transaction block, EXPLAIN ANALYZE of a write rolled back (it explains, never writes).
 */
let world: GatewayWorld;
let link: LinkFixture;
let target: pg.Client;

beforeAll(async () => {
  world = await GatewayWorld.create();
  const { url } = await world.startGateway();
  link = await world.addLink({ access: "admin" }, undefined, url);
  target = new pg.Client({ connectionString: world.target.url });
  await target.connect();
});
afterAll(async () => {
  await target?.end();
  await world?.close();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- structuredContent of either arm
const run = async (sql: string): Promise<Record<string, any>> => (await mcpRequest(link.url, link.key, "2026-07-28", "tools/call", { name: "execute_sql", arguments: { sql } })).json.result.structuredContent;

test("VACUUM and ANALYZE run on an admin link; EXPLAIN ANALYZE of a write changes nothing", async () => {
  expect(await run("VACUUM (ANALYZE) album")).toMatchObject({ status: "ok", command: "VACUUM" });
  expect(await run("ANALYZE genre")).toMatchObject({ status: "ok", command: "ANALYZE" });
  expect((await target.query("SELECT last_vacuum IS NOT NULL AS v FROM pg_stat_user_tables WHERE relname = 'album'")).rows[0].v).toBe(true);
  // The session the next call gets still runs inside transactions with the link's settings.
  expect(await run("SELECT count(*) FROM genre")).toMatchObject({ status: "ok" });

  const explained = await run("/* why */ -- slow?\n EXPLAIN (ANALYZE) INSERT INTO genre (genre_id, name) VALUES (9999, 'explained')");
  expect(explained.status).toBe("ok");
  expect(JSON.stringify(explained.rows)).toMatch(/Insert on genre/);
  expect((await target.query("SELECT count(*)::int AS n FROM genre WHERE genre_id = 9999")).rows[0].n).toBe(0);
  // The write itself still commits.
  expect(await run("INSERT INTO genre (genre_id, name) VALUES (9998, 'written')")).toMatchObject({ status: "ok", affected: 1 });
  expect((await target.query("SELECT count(*)::int AS n FROM genre WHERE genre_id = 9998")).rows[0].n).toBe(1);
});
