import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { testPgUrl } from "@portcullis/db/testing";
import { GatewayWorld, connectClient, toolJson, toolText, waitFor } from "./fixtures.js";

/**
 * The gateway re-checks a connection against the operator's target policy whenever it opens a pool
 * for it: the address (a loopback target is refused unless allowed) and the role (one made superuser
 * after the connection was saved is refused). Judged by whether the statement ran: a marker row
 * inserted through the link, counted in the target.
 */
let world: GatewayWorld;
let admin: pg.Client;
const role = `gw_reader_${randomBytes(4).toString("hex")}`;
let readerUrl: string;

beforeAll(async () => {
  world = await GatewayWorld.create();
  admin = new pg.Client({ connectionString: world.target.url });
  await admin.connect();
  await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'reader-pw' NOSUPERUSER NOCREATEROLE`);
  await admin.query(`GRANT CONNECT ON DATABASE ${pg.escapeIdentifier(world.target.name)} TO ${role}`);
  await admin.query(`GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
  const url = new URL(world.target.url);
  url.username = role;
  url.password = "reader-pw";
  readerUrl = url.toString();
}, 60_000);
afterAll(async () => {
  await admin?.end();
  await world?.close();
  const cluster = new pg.Client({ connectionString: testPgUrl("postgres") });
  await cluster.connect();
  await cluster.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
  await cluster.end();
});

const port = () => new URL(testPgUrl("postgres")).port;

test("a loopback target is refused under the default policy, and served once its address is allowed", async () => {
  const team = await world.addTeam(undefined, readerUrl);
  const link = await world.addLink({ access: "read" }, team);
  const strict = await world.startGateway({ TARGET_NETWORKS: "", TARGET_ALLOW_POWERFUL_ROLES: "" });
  const client = await connectClient(`${strict.url}/mcp/${link.linkId}`, link.key);
  const refused = await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT 'ran' AS m" } });
  expect(refused.isError).toBe(true);
  expect(toolText(refused)).toContain("refused by this Portcullis's target policy");
  expect(toolText(refused)).not.toContain("ran");
  expect(toolText(refused)).not.toContain("127.0.0.1"); // never names the host to the caller
  await client.close();

  const allowed = await world.startGateway({ TARGET_NETWORKS: "", TARGET_ALLOW_POWERFUL_ROLES: "", TARGET_ALLOW_ADDRESSES: `127.0.0.1:${port()}` });
  const ok = await connectClient(`${allowed.url}/mcp/${link.linkId}`, link.key);
  expect(toolJson(await ok.callTool({ name: "execute_sql", arguments: { sql: "SELECT 'ran' AS m" } })).rows).toEqual([["ran"]]);
  await ok.close();
});

test("a role made superuser after the connection was saved is refused when the pool is opened again", async () => {
  const team = await world.addTeam(undefined, readerUrl);
  const link = await world.addLink({ access: "read" }, team);
  const { url, gateway } = await world.startGateway({
    TARGET_NETWORKS: "",
    TARGET_ALLOW_POWERFUL_ROLES: "",
    TARGET_ALLOW_ADDRESSES: `127.0.0.1:${port()}`,
    GATEWAY_POOL_IDLE_MS: "300",
  });
  const client = await connectClient(`${url}/mcp/${link.linkId}`, link.key);
  expect(toolJson(await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT 1 AS n" } })).rows).toEqual([[1]]);
  await admin.query(`ALTER ROLE ${role} SUPERUSER`);
  try {
    // The idle pool is closed; the next call opens a new one and re-checks the role.
    await waitFor(async () => gateway.services.pools.size, (n) => n === 0, 5_000, 100);
    const refused = await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT 'after' AS m" } });
    expect(refused.isError).toBe(true);
    expect(toolText(refused)).toContain("target policy");
  } finally {
    await admin.query(`ALTER ROLE ${role} NOSUPERUSER`);
  }
  // Fixed by the operator: served again once the refusal is forgotten (a few seconds).
  await waitFor(
    async () => (await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT 2 AS n" } })).isError,
    (isError) => !isError,
    10_000,
    250,
  );
  await client.close();
}, 30_000);
