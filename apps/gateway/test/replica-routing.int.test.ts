import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ingestAuditBatch } from "@portcullis/db/audit";
import { sharedReplicationPair, startReplicationPair, type ReplicationPair } from "@portcullis/db/testing";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { replicaRouter, useReplicaTiming } from "../src/execution/replica-router.js";
import type { Gateway } from "../src/gateway.js";
import { GatewayWorld, auditEvents, connectClient, toolJson, toolText, waitFor } from "./fixtures.js";

// Issue 17, read replicas: a real primary and two streaming replicas (pg_basebackup), the gateway as it
// runs, an MCP client. Where a statement ran is judged by effect: the server's own port and recovery
// state returned by the statement, and the audit row's target_server.
// pg_is_in_recovery() is not among the functions a link may call; the port says which server answered
// (the pair checked each replica is in recovery).
const WHERE = "SELECT inet_server_port() AS port FROM artist WHERE artist_id = 1";
const MAX_LAG_MS = 1_000;

let pair: ReplicationPair;
let world: GatewayWorld;
let client: Client;
let meta: pg.Pool;
let firstGateway: Gateway;

beforeAll(async () => {
  pair = await sharedReplicationPair({ replicas: 2 });
  // The pair outlives the world (cached per file): dropping the world's target drops nothing.
  world = await GatewayWorld.create({ target: { name: pair.database, url: pair.primary.url(pair.database), drop: async () => {} } });
  meta = new pg.Pool({ connectionString: world.meta.url, max: 2 });
  for (const [position, replica] of pair.replicas.entries()) {
    await meta.query(`INSERT INTO connection_replicas (connection_id, team_id, name, host, port, position) VALUES ($1, $2, $3, '127.0.0.1', $4, $5)`, [
      world.connectionId,
      world.teamId,
      replica.name,
      replica.port,
      position,
    ]);
  }
  await meta.query(`UPDATE connections SET replica_max_lag_ms = $2 WHERE id = $1`, [world.connectionId, MAX_LAG_MS]);
  const { gateway, url } = await world.startGateway();
  firstGateway = gateway;
  useReplicaTiming(gateway.services, { intervalMs: 100, timeoutMs: 1_000 });
  const link = await world.addLink({ access: "read", tables: { artist: { access: "write" } } });
  client = await connectClient(`${url}/mcp/${link.linkId}`, link.key);
}, 180_000);

afterAll(async () => {
  await client?.close();
  await meta?.end();
  await world?.close();
  await pair?.destroy();
});

type Where = { port: number; standby: boolean };

async function where(sql = WHERE): Promise<Where> {
  const result = await client.callTool({ name: "execute_sql", arguments: { sql } });
  expect(result.isError, toolText(result)).toBeFalsy();
  const port = Number((toolJson(result).rows[0] as [number])[0]);
  return { port, standby: port !== pair.primary.port };
}

const portOf = (name: string) => (name === "primary" ? pair.primary.port : pair.replicas.find((r) => r.name === name)!.port);

/**
 * target_server of the stored audit rows of the calls whose SQL is LIKE `sqlLike` (the worker's batch
 * insert, run here on the queued events), once `count` of them are stored (the queue is fed from the
 * journal shortly after each answer).
 */
async function storedServers(sqlLike: string, count: number): Promise<(string | null)[]> {
  return waitFor(
    async () => {
      await ingestAuditBatch(meta, await auditEvents(world));
      const { rows } = await meta.query(`SELECT target_server FROM audit_events WHERE tool IN ('execute_sql', 'explain_query') AND sql LIKE $1 ORDER BY time, seq`, [sqlLike]);
      return rows.map((r) => r.target_server as string | null);
    },
    (servers) => servers.length >= count,
    10_000,
    100,
  );
}

test("reads go to the replicas, round robin, and the audit row names the replica", async () => {
  // The first read after the connection is idle may go to the primary while the probes start.
  await waitFor(() => where(), (w) => w.standby, 10_000, 50);
  const seen: Where[] = [];
  for (let i = 0; i < 6; i++) seen.push(await where(`${WHERE} AND ${i} = ${i}`));
  expect(seen.every((w) => w.standby)).toBe(true);
  const ports = seen.map((w) => w.port);
  expect(new Set(ports)).toEqual(new Set(pair.replicas.map((r) => r.port)));
  // Alternating: each replica every other read.
  for (let i = 1; i < ports.length; i++) expect(ports[i]).not.toBe(ports[i - 1]);
  const servers = await storedServers(`${WHERE} AND _ = _`.replace(/_/g, "%"), 6);
  expect(servers).toHaveLength(6);
  expect(servers.map((s) => portOf(s!))).toEqual(ports);
}, 60_000);

test("writes go to the primary, never retried on a replica, and reach the replicas by replication", async () => {
  const insert = await client.callTool({
    name: "execute_sql",
    arguments: { sql: "INSERT INTO artist (artist_id, name) VALUES (9001, 'Replica Test') RETURNING inet_server_port() AS port" },
  });
  expect(insert.isError, toolText(insert)).toBeFalsy();
  expect(toolJson(insert).rows[0]).toEqual([pair.primary.port]);
  // A data-modifying CTE under a SELECT is a write by the verdict: the primary.
  const cte = await client.callTool({
    name: "execute_sql",
    arguments: { sql: "WITH u AS (UPDATE artist SET name = 'Replica Test 2' WHERE artist_id = 9001 RETURNING 1) SELECT inet_server_port() AS port FROM u" },
  });
  expect(cte.isError, toolText(cte)).toBeFalsy();
  expect(toolJson(cte).rows[0]).toEqual([pair.primary.port]);
  expect(await storedServers("INSERT INTO artist (artist_id, name) VALUES (9001%", 1)).toEqual(["primary"]);
  expect(await storedServers("WITH u AS (UPDATE artist%", 1)).toEqual(["primary"]);
  // Visible on a replica once replayed, read through the gateway.
  await pair.waitForReplay(0);
  await pair.waitForReplay(1);
  const read = await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT name, inet_server_port() AS port FROM artist WHERE artist_id = 9001" } });
  const [name, port] = toolJson(read).rows[0] as [string, number];
  expect(name).toBe("Replica Test 2");
  expect(pair.replicas.map((r) => r.port)).toContain(port);
}, 60_000);

test("replay paused beyond the lag limit: reads go to the primary until it is resumed", async () => {
  await pair.pauseReplay(0);
  await pair.pauseReplay(1);
  try {
    // Something to replay: the replicas now fall behind by the time since their last replayed commit.
    const primary = new pg.Client({ connectionString: pair.primary.url(pair.database) });
    await primary.connect();
    await primary.query("INSERT INTO replication_marker (note) VALUES ('lag')");
    await primary.end();
    const lagging = await waitFor(() => where(), (w) => !w.standby, MAX_LAG_MS * 6, 100);
    expect(lagging.port).toBe(pair.primary.port);
    for (let i = 0; i < 3; i++) expect(await where(`${WHERE} AND 'lag${i}' = 'lag${i}'`)).toEqual({ port: pair.primary.port, standby: false });
    expect(await storedServers(`${WHERE} AND 'lag%`, 3)).toEqual(["primary", "primary", "primary"]);
  } finally {
    await pair.resumeReplay(0);
    await pair.resumeReplay(1);
  }
  const back = await waitFor(() => where(), (w) => w.standby, 10_000, 100);
  expect(pair.replicas.map((r) => r.port)).toContain(back.port);
}, 60_000);

test("replicas stopped: reads go to the other replica, then the primary, with no error to the client; back when they return", async () => {
  await waitFor(() => where(), (w) => w.standby, 10_000, 100);
  await pair.stopReplica(0);
  try {
    // Right after the stop, before any probe noticed: the read that picks replica1 is retried elsewhere.
    for (let i = 0; i < 4; i++) expect(await where(`${WHERE} AND 'one${i}' = 'one${i}'`)).toEqual({ port: pair.replicas[1]!.port, standby: true });
    await pair.stopReplica(1);
    try {
      for (let i = 0; i < 3; i++) expect(await where(`${WHERE} AND 'none${i}' = 'none${i}'`)).toEqual({ port: pair.primary.port, standby: false });
      expect(await storedServers(`${WHERE} AND 'none%`, 3)).toEqual(["primary", "primary", "primary"]);
      expect(await storedServers(`${WHERE} AND 'one%`, 4)).toEqual(["replica2", "replica2", "replica2", "replica2"]);
    } finally {
      await pair.startReplica(1);
    }
  } finally {
    await pair.startReplica(0);
  }
  const ports = new Set<number>();
  await waitFor(
    async () => ports.add((await where()).port),
    (p) => pair.replicas.every((r) => p.has(r.port)),
    20_000,
    100,
  );
}, 90_000);

test("EXPLAIN runs on the primary: a plain EXPLAIN of a write is a read by the verdict (the approval dry run's plan is one)", async () => {
  // (EXPLAIN ANALYZE of a write is refused outright on non-admin links.)
  const write = await client.callTool({ name: "explain_query", arguments: { sql: "UPDATE artist SET name = name WHERE artist_id = 1" } });
  expect(write.isError, toolText(write)).toBeFalsy();
  const read = await client.callTool({ name: "explain_query", arguments: { sql: "SELECT name FROM artist WHERE artist_id = 2" } });
  expect(read.isError, toolText(read)).toBeFalsy();
  expect(await storedServers("EXPLAIN UPDATE artist%", 1)).toEqual(["primary"]);
  expect(await storedServers("EXPLAIN SELECT name FROM artist WHERE artist_id = 2", 1)).toEqual(["primary"]);
}, 30_000);

/** When the probe of each replica last ran, as the replica itself shows it (its sessions' last statement). */
async function lastProbeAt(replicaIndex: number): Promise<number | null> {
  const admin = new pg.Client({ connectionString: pair.replicas[replicaIndex]!.url() });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ at: Date | null }>(
      `SELECT max(state_change) AS at FROM pg_stat_activity WHERE application_name = 'portcullis' AND query LIKE '%pg_last_wal_receive_lsn%'`,
    );
    return rows[0]?.at ? rows[0].at.getTime() : null;
  } finally {
    await admin.end();
  }
}

test("probes run only while the connection is in use, and stop with the gateway's pools", async () => {
  // Only this test's gateway probes from here on (the first one's probes would show on the replica too).
  replicaRouter(firstGateway.services).stop();
  const { gateway, url } = await world.startGateway();
  useReplicaTiming(gateway.services, { intervalMs: 100, timeoutMs: 1_000, activeWindowMs: 600 });
  const link = await world.addLink({ access: "read" });
  const own = await connectClient(`${url}/mcp/${link.linkId}`, link.key);
  const read = () => own.callTool({ name: "execute_sql", arguments: { sql: "SELECT inet_server_port() AS port" } });
  await waitFor(async () => Number((toolJson(await read()).rows[0] as [number])[0]), (port) => port !== pair.primary.port, 10_000, 50);
  // In use: the probe keeps running (its session's last statement moves on).
  const first = await waitFor(() => lastProbeAt(0), (at) => at !== null, 5_000, 100);
  const later = await waitFor(() => lastProbeAt(0), (at) => at !== null && at > first! + 150, 5_000, 100);
  expect(later).toBeGreaterThan(first!);
  // Idle past the window: it stops (nothing more runs on the replica for this gateway).
  await new Promise((r) => setTimeout(r, 1_200));
  const idle = await lastProbeAt(0);
  await new Promise((r) => setTimeout(r, 800));
  expect(await lastProbeAt(0)).toBe(idle);
  // Used again: it starts again.
  await read();
  await waitFor(() => lastProbeAt(0), (at) => at !== null && at > idle!, 5_000, 100);
  // The gateway stops: its pools close, the probes stop and open nothing new.
  await own.close();
  await gateway.stop();
  await new Promise((r) => setTimeout(r, 500));
  const admin = new pg.Client({ connectionString: pair.replicas[0]!.url() });
  await admin.connect();
  try {
    const count = async () => Number((await admin.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'portcullis' AND query LIKE '%pg_last_wal_receive_lsn%' AND state_change > now() - interval '300 milliseconds'`)).rows[0].n);
    await new Promise((r) => setTimeout(r, 400));
    expect(await count()).toBe(0);
  } finally {
    await admin.end();
  }
}, 60_000);

test("latency: a 10-row read on the primary vs through a replica (median of 100 calls each)", async () => {
  // A team whose connection to the same primary has no replicas: the primary path as before.
  const plain = await world.addTeam(`plain-${Date.now()}`, pair.primary.url(pair.database));
  const { url } = await world.startGateway();
  const primaryLink = await world.addLink({ access: "read" }, plain);
  const replicaLink = await world.addLink({ access: "read" });
  const onPrimary = await connectClient(`${url}/mcp/${primaryLink.linkId}`, primaryLink.key);
  const onReplica = await connectClient(`${url}/mcp/${replicaLink.linkId}`, replicaLink.key);
  const sql = (i: number) => `SELECT track_id, name, inet_server_port() AS port FROM track WHERE track_id > ${i % 50} ORDER BY track_id LIMIT 10`;
  const call = async (c: Client, i: number, expectReplica: boolean) => {
    const started = performance.now();
    const result = await c.callTool({ name: "execute_sql", arguments: { sql: sql(i) } });
    const ms = performance.now() - started;
    const rows = toolJson(result).rows as [number, string, number][];
    expect(rows).toHaveLength(10);
    expect(rows[0]![2] !== pair.primary.port).toBe(expectReplica);
    return ms;
  };
  await waitFor(async () => Number((toolJson(await onReplica.callTool({ name: "execute_sql", arguments: { sql: sql(0) } })).rows[0] as number[])[2]), (p) => p !== pair.primary.port, 10_000, 50);
  for (let i = 0; i < 20; i++) await Promise.all([call(onPrimary, 1000 + i, false), call(onReplica, 1000 + i, true)]);
  // Interleaved, so a busy moment on this shared machine weighs on both sides alike.
  const primary: number[] = [];
  const replica: number[] = [];
  for (let i = 0; i < 100; i++) {
    primary.push(await call(onPrimary, i, false));
    replica.push(await call(onReplica, i, true));
  }
  const pct = (times: number[], p: number) => [...times].sort((x, y) => x - y)[Math.floor((times.length * p) / 100)]!.toFixed(2);
  console.log(`10-row read, 100 calls each: primary p50 ${pct(primary, 50)} ms p90 ${pct(primary, 90)} ms; through a replica p50 ${pct(replica, 50)} ms p90 ${pct(replica, 90)} ms`);
  await onPrimary.close();
  await onReplica.close();
}, 120_000);

test("a replica whose address the target policy refuses is never reached: reads use the others, with no error", async () => {
  // Only the primary and replica2 are allowed targets here; replica1 (say, an address of the stack's own
  // network) is refused like a database host would be.
  const allowed = `127.0.0.1:${pair.primary.port},127.0.0.1:${pair.replicas[1]!.port}`;
  const { gateway, url } = await world.startGateway({ TARGET_NETWORKS: "public", TARGET_ALLOW_ADDRESSES: allowed });
  useReplicaTiming(gateway.services, { intervalMs: 100, timeoutMs: 1_000 });
  const link = await world.addLink({ access: "read" });
  const own = await connectClient(`${url}/mcp/${link.linkId}`, link.key);
  const ports = new Set<number>();
  for (let i = 0; i < 12; i++) {
    const result = await own.callTool({ name: "execute_sql", arguments: { sql: `SELECT inet_server_port() AS port, ${i} AS i` } });
    expect(result.isError, toolText(result)).toBeFalsy();
    ports.add(Number((toolJson(result).rows[0] as [number])[0]));
  }
  expect(ports.has(pair.replicas[0]!.port)).toBe(false);
  expect(ports.has(pair.replicas[1]!.port)).toBe(true);
  await own.close();
  await gateway.stop();
}, 60_000);

test("a replica that is no longer in recovery (promoted) is not used for reads", async () => {
  const own = await startReplicationPair({ replicas: 1 });
  try {
    const team = await world.addTeam(`promoted-${Date.now()}`, own.primary.url(own.database));
    await meta.query(`INSERT INTO connection_replicas (connection_id, team_id, name, host, port) VALUES ($1, $2, 'promoted', '127.0.0.1', $3)`, [
      team.connectionId,
      team.teamId,
      own.replicas[0]!.port,
    ]);
    const { gateway, url } = await world.startGateway();
    useReplicaTiming(gateway.services, { intervalMs: 100, timeoutMs: 1_000 });
    const link = await world.addLink({ access: "read" }, team);
    const c = await connectClient(`${url}/mcp/${link.linkId}`, link.key);
    const port = async () => Number((toolJson(await c.callTool({ name: "execute_sql", arguments: { sql: "SELECT inet_server_port() AS port" } })).rows[0] as [number])[0]);
    await waitFor(port, (p) => p === own.replicas[0]!.port, 10_000, 50);
    const admin = new pg.Client({ connectionString: own.replicas[0]!.url() });
    await admin.connect();
    await admin.query("SELECT pg_promote(true, 30)");
    await admin.end();
    // A server out of recovery may take writes of its own: its data is no longer the primary's.
    await waitFor(port, (p) => p === own.primary.port, 10_000, 50);
    for (let i = 0; i < 5; i++) expect(await port()).toBe(own.primary.port);
    await c.close();
    await gateway.stop();
  } finally {
    await own.destroy();
  }
}, 90_000);

test("a replica that has not replayed the schema the policy decided against serves no reads (a hidden table dropped and created again stays hidden)", async () => {
  const primaryAdmin = new pg.Client({ connectionString: pair.primary.url(pair.database) });
  await primaryAdmin.connect();
  await primaryAdmin.query("DROP TABLE IF EXISTS secret_t; CREATE TABLE secret_t (id int, pin text); INSERT INTO secret_t VALUES (1, '4242')");
  await pair.waitForReplay(0);
  // A team whose only replica is replica1, with a lag limit no test pause reaches: only the schema
  // position can keep reads off it.
  const team = await world.addTeam(`schema-${Date.now()}`, pair.primary.url(pair.database));
  await meta.query(`INSERT INTO connection_replicas (connection_id, team_id, name, host, port) VALUES ($1, $2, 'replica1', '127.0.0.1', $3)`, [
    team.connectionId,
    team.teamId,
    pair.replicas[0]!.port,
  ]);
  await meta.query(`UPDATE connections SET replica_max_lag_ms = 600000 WHERE id = $1`, [team.connectionId]);
  const { gateway, url } = await world.startGateway();
  useReplicaTiming(gateway.services, { intervalMs: 100, timeoutMs: 1_000 });
  const link = await world.addLink({ access: "read", tables: { secret_t: { access: "none" } } }, team);
  const c = await connectClient(`${url}/mcp/${link.linkId}`, link.key);
  const probe = async () => {
    const result = await c.callTool({ name: "execute_sql", arguments: { sql: "SELECT count(*) AS n, inet_server_port() AS port FROM pg_class WHERE relname = 'secret_t'" } });
    expect(result.isError, toolText(result)).toBeFalsy();
    const [n, port] = toolJson(result).rows[0] as [string, number];
    return { n: Number(n), port: Number(port) };
  };
  try {
    await waitFor(probe, (r) => r.port === pair.replicas[0]!.port, 10_000, 50);
    expect(await probe()).toEqual({ n: 0, port: pair.replicas[0]!.port });
    await pair.pauseReplay(0);
    // The hidden table is dropped and created again (a new oid) while replica1 still has the old one;
    // the gateway then loads the new catalog (as after a DDL notification).
    await primaryAdmin.query("DROP TABLE secret_t; CREATE TABLE secret_t (id int, pin text)");
    gateway.services.catalogs.invalidate(team.connectionId);
    // On replica1 the old secret_t is an object the new catalog does not know: it would be listed.
    for (let i = 0; i < 3; i++) expect(await probe()).toEqual({ n: 0, port: pair.primary.port });
    await pair.resumeReplay(0);
    await waitFor(probe, (r) => r.port === pair.replicas[0]!.port, 10_000, 100);
    expect(await probe()).toEqual({ n: 0, port: pair.replicas[0]!.port });
  } finally {
    await pair.resumeReplay(0).catch(() => {});
    await c.close();
    await gateway.stop();
    await primaryAdmin.end();
  }
}, 60_000);
