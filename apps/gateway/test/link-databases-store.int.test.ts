import { randomUUID } from "node:crypto";
import { getKeyring } from "@portcullis/db/secrets";
import { addLinkDatabase, addMember, decideAccessGrant, updateLinkDatabase, listLinkDatabases } from "@portcullis/db/operations";
import { createChinookDatabase, freePort, type TestDatabase } from "@portcullis/db/testing";
import { parseScope } from "@portcullis/policy";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { LinkStore } from "../src/links/link-store.js";
import { createLogger } from "../src/logger.js";
import { GatewayWorld, waitFor } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";
import { addConnection, createApiKey, createUser, parseTargetUrlForTests } from "./operations.js";

/**
 * A link over two copies of Chinook ("music" shows customer, "copy" hides it): the same table name is
 * judged by each database's own scope; a member's grant on one database applies there only; a further
 * database whose stored scope stops parsing is refused alone; a change of its connection reaches the
 * link at once; the store loads every database's connection with its route and replicas.
 */
let world: GatewayWorld;
let copy: TestDatabase;
let gateway = "";
let meta: pg.Client;
const ids = { link: "", copyConnection: "", member: "" };
const keys = { owner: "", member: "" };

const LIMITS = { maxRows: 100, statementTimeoutMs: 5000 };

beforeAll(async () => {
  world = await GatewayWorld.create();
  copy = await createChinookDatabase();
  ids.copyConnection = (await addConnection(world.prisma, { teamId: world.teamId, name: "copy", fields: parseTargetUrlForTests(copy.url), test: false }, getKeyring(world.secretKeys))).id;
  const link = await world.addLink({ access: "read", limits: LIMITS });
  ids.link = link.linkId;
  keys.owner = link.key;
  const first = (await listLinkDatabases(world.prisma, { teamId: world.teamId, linkId: ids.link }))[0]!.name;
  await updateLinkDatabase(world.prisma, { teamId: world.teamId, linkId: ids.link, name: first, newName: "music" }, { parseScope });
  await addLinkDatabase(world.prisma, { teamId: world.teamId, linkId: ids.link, name: "copy", connectionId: ids.copyConnection, scope: { access: "read", tables: { customer: { access: "none" } }, limits: LIMITS } }, { parseScope });
  const member = await createUser(world.prisma, { email: `ldbs-${randomUUID().slice(0, 6)}@example.com` });
  await addMember(world.prisma, { teamId: world.teamId, userId: member.id, role: "member" });
  await world.prisma.linkAccess.create({ data: { linkId: ids.link, userId: member.id } });
  ids.member = member.id;
  keys.member = (await createApiKey(world.prisma, { teamId: world.teamId, linkId: ids.link, userId: member.id, name: "member" })).key;
  const started = await world.startGateway();
  gateway = started.url;
  await started.gateway.accessListenerReady();
  meta = new pg.Client({ connectionString: world.meta.url });
  await meta.connect();
}, 120_000);

afterAll(async () => {
  await meta?.end().catch(() => {});
  await world?.close();
  await copy?.drop().catch(() => {});
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- structuredContent of any arm
const data = async (name: string, args: Record<string, unknown>, key = keys.owner): Promise<Record<string, any>> =>
  (await mcpRequest(`${gateway}/mcp/${ids.link}`, key, "2026-07-28", "tools/call", { name, arguments: args })).json.result.structuredContent;
const customers = (database?: string) => data("execute_sql", { sql: "SELECT count(*)::int AS n FROM customer", ...(database ? { database } : {}) });

test("the same table name is judged by each database's own scope", async () => {
  expect((await customers()).rows).toEqual([[59]]);
  expect((await customers("music")).rows).toEqual([[59]]);
  const hidden = await customers("copy");
  expect(hidden.status).toBe("refused");
  expect(hidden.rows).toBeUndefined();
  const schema = await data("get_schema", {});
  const names = (schema.relations as { name: string; database: string }[]).map((r) => `${r.database}:${r.name}`);
  expect(names).toContain("music:customer");
  expect(names).not.toContain("copy:customer");
  expect(names).toContain("copy:invoice");
});

test("a member's grant on one database applies to that database only", async () => {
  const UPDATE = "UPDATE genre SET name = name WHERE genre_id = 1";
  expect((await data("execute_sql", { sql: UPDATE, database: "copy" }, keys.member)).status).toBe("refused");
  const asked = await data("request_access", { table: "genre", access: "write", minutes: 5, reason: "fix a genre name", database: "copy" }, keys.member);
  expect(asked.status).toBe("pending");
  const stored = (await meta.query("SELECT database_name FROM access_grants WHERE id = $1", [asked.grantId])).rows[0];
  expect(stored.database_name).toBe("copy");
  await decideAccessGrant(world.prisma, { teamId: world.teamId, id: asked.grantId, deciderId: world.userId, decision: "grant" });
  await waitFor(async () => (await data("execute_sql", { sql: UPDATE, database: "copy" }, keys.member)).status, (s) => s === "ok", 5_000);
  // The first database, whose scope is the same read, gets nothing from it.
  const music = await data("execute_sql", { sql: UPDATE, database: "music" }, keys.member);
  expect(music.status).toBe("refused");
  expect((await data("execute_sql", { sql: UPDATE }, keys.member)).status).toBe("refused");
  const permissions = await data("get_permissions", {}, keys.member);
  const grantsByDb = Object.fromEntries((permissions.databases as { name: string; grants: unknown[] }[]).map((d) => [d.name, d.grants.length]));
  expect(grantsByDb).toEqual({ music: 0, copy: 1 });
  // The owner holds no grant: the copy stays read-only for them.
  expect((await data("execute_sql", { sql: UPDATE, database: "copy" })).status).toBe("refused");
});

test("a further database whose stored scope stops parsing is refused alone; the link keeps working", async () => {
  await meta.query(`UPDATE link_databases SET scope = '{"access": "everything"}' WHERE link_id = $1 AND name = 'copy'`, [ids.link]);
  try {
    const refused = await waitFor(() => customers("copy"), (s) => s.refusal?.ruleId === "database_not_found", 5_000);
    expect(refused.refusal.reason).toContain("it has: music.");
    expect((await customers("music")).rows).toEqual([[59]]);
    const schema = await data("get_schema", {});
    expect(schema.databases).toBeUndefined();
  } finally {
    await meta.query(`UPDATE link_databases SET scope = $2::jsonb WHERE link_id = $1 AND name = 'copy'`, [ids.link, JSON.stringify({ access: "read", tables: { customer: { access: "none" } }, limits: LIMITS })]);
  }
  await waitFor(() => data("execute_sql", { sql: "SELECT count(*)::int AS n FROM genre", database: "copy" }), (s) => s.status === "ok", 5_000);
});

test("a change to a further database's connection reaches the link at once", async () => {
  const { rows } = await meta.query("SELECT port FROM connections WHERE id = $1", [ids.copyConnection]);
  const port = rows[0].port as number;
  await meta.query("UPDATE connections SET port = $2 WHERE id = $1", [ids.copyConnection, await freePort()]);
  try {
    const down = await waitFor(() => data("execute_sql", { sql: "SELECT 1 AS one", database: "copy" }), (s) => s.status === "failed", 5_000);
    expect(down.failure.code).toBe("target_unavailable");
    expect((await data("execute_sql", { sql: "SELECT 1 AS one", database: "music" })).rows).toEqual([[1]]);
  } finally {
    await meta.query("UPDATE connections SET port = $2 WHERE id = $1", [ids.copyConnection, port]);
  }
  await waitFor(() => data("execute_sql", { sql: "SELECT 1 AS one", database: "copy" }), (s) => s.status === "ok", 5_000);
});

test("the store loads every database's connection with its SSH route, replicas and TLS fields, and saved tools in name order", async () => {
  await meta.query(
    "INSERT INTO connection_replicas (connection_id, team_id, name, host, port, position) VALUES ($1, $2, 'r1', '10.9.9.9', 6543, 0)",
    [ids.copyConnection, world.teamId],
  );
  await meta.query(
    `INSERT INTO connection_ssh_hops (connection_id, team_id, position, host, port, username, private_key_ciphertext, host_key_sha256)
     VALUES ($1, $2, 0, 'bastion.example', 22, 'tunnel', 'sealed', 'SHA256:abc')`,
    [ids.copyConnection, world.teamId],
  );
  await meta.query("UPDATE connections SET ssl_server_name = 'db.internal', replica_max_lag_ms = 1234 WHERE id = $1", [ids.copyConnection]);
  await meta.query(
    `INSERT INTO link_tools (link_id, team_id, name, description, sql, parameters, database_name) VALUES
       ($1, $2, 'zeta', 'z', 'SELECT 1', '[]', NULL), ($1, $2, 'alpha', 'a', 'SELECT $1::int', '[{"name":"n","type":"integer","description":"n","required":true}]', 'copy')`,
    [ids.link, world.teamId],
  );
  await meta.query("UPDATE links SET disabled_tools = '{explain_query}' WHERE id = $1", [ids.link]);
  const pool = new pg.Pool({ connectionString: world.meta.url, max: 1 });
  try {
    const store = new LinkStore(pool, 60_000, createLogger("silent"));
    const record = (await store.get(ids.link))!;
    expect(record.databaseName).toBe("music");
    expect(record.databases!.map((d) => d.databaseName)).toEqual(["music", "copy"]);
    const further = record.databases![1]!;
    expect(further.connection.id).toBe(ids.copyConnection);
    expect(further.connection.replicas).toEqual([{ name: "r1", host: "10.9.9.9", port: 6543 }]);
    expect(further.connection.sshHops).toEqual([{ position: 0, host: "bastion.example", port: 22, username: "tunnel", privateKeyCiphertext: "sealed", passphraseCiphertext: null, hostKeySha256: "SHA256:abc" }]);
    expect(further.connection.sslServerName).toBe("db.internal");
    expect(further.connection.replicaMaxLagMs).toBe(1234);
    expect(record.connection.sshHops).toEqual([]);
    expect(record.connection.replicas).toEqual([]);
    expect(record.savedTools!.map((t) => [t.name, t.databaseName, t.parameters.length])).toEqual([["alpha", "copy", 1], ["zeta", null, 0]]);
    expect(further.savedTools).toBe(record.savedTools);
    expect(record.disabledTools).toEqual(["explain_query"]);
    // A change of the further database's connection drops the link from the cache.
    expect(store.peek(ids.link)).toBe(record);
    store.invalidateConnection(ids.copyConnection);
    expect(store.peek(ids.link)).toBeUndefined();
  } finally {
    await pool.end();
  }
});
