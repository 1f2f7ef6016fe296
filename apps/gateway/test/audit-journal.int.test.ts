import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import { parseAuditChainKey, verifyAuditChain } from "@portcullis/db/audit";
import pg from "pg";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { spawnGateway } from "./child-gateway.js";
import { ThrowawayRedis, callSql, journalSegments, rowsPerCall, startAuditWorker } from "./durability-support.js";
import { GatewayWorld, auditEvents, waitFor, type LinkFixture } from "./fixtures.js";
import { withClient } from "@portcullis/db/testing";
import type { Gateway } from "../src/gateway.js";
import { OUTCOME_NOT_RECORDED } from "../src/audit/producer.js";
import type { RunningWorker } from "../../worker/src/app.js";

/**
 * The audit journal's guarantee: a call answered 200 has its event fdatasync'd in the gateway's
 * journal, and the journal keeps it until the metadata database holds it. Proved by effect: rows in
 * audit_events after SIGKILLs of the gateway and of Redis (its dataset wiped), with the real worker.
 */
let world: GatewayWorld;
let redis: ThrowawayRedis;
let link: LinkFixture;
let workers: RunningWorker[] = [];
let gateways: Gateway[] = [];

// The worker (in this process) chains with an HMAC key: re-sent duplicates must not break a keyed chain.
const chainKey = randomBytes(32).toString("hex");

beforeAll(async () => {
  process.env.AUDIT_CHAIN_KEY = chainKey;
  [world, redis] = await Promise.all([GatewayWorld.create(), ThrowawayRedis.start()]);
  link = await world.addLink({ access: "read" });
});
// Each test starts its own instances and worker: a later test must not find an earlier one's adopter.
afterEach(async () => {
  await Promise.all([...workers, ...gateways].map((w) => ("close" in w ? w.close() : w.stop()).catch(() => {})));
  workers = [];
  gateways = [];
});
afterAll(async () => {
  await world?.close();
  await redis?.close();
});

async function startGateway(overrides: Record<string, string> = {}): Promise<{ gateway: Gateway; url: string; dir: string }> {
  const before = new Set(await readdir(world.spoolDir).catch(() => [] as string[]));
  const { gateway, url } = await world.startGateway({ REDIS_URL: redis.url, ...overrides });
  gateways.push(gateway);
  const dir = (await readdir(world.spoolDir)).find((d) => !before.has(d) && !d.startsWith("."))!;
  return { gateway, url: `${url}/mcp/${link.linkId}`, dir };
}

async function worker(): Promise<RunningWorker> {
  const w = await startAuditWorker(world, redis.url);
  workers.push(w);
  return w;
}

/** `clients` loops of unique calls until `stop()`; returns the numbers answered 200 with a result. */
function load(url: string, marker: string, clients: number, start: number) {
  const answered: number[] = [];
  const failures: string[] = [];
  let running = true;
  let next = start;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      const n = next++;
      try {
        const r = await callSql(url, link.key, `SELECT ${n} AS n /* ${marker} */`);
        if (r.ok) answered.push(n);
        else failures.push(r.text.slice(0, 200));
      } catch (error) {
        failures.push(String((error as Error).cause ?? error));
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
  return {
    answered,
    failures,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function expectOneRowEach(marker: string, answered: number[], timeoutMs = 60_000): Promise<void> {
  const counts = await waitFor(
    () => rowsPerCall(world, marker),
    (c) => answered.every((n) => c.has(n)),
    timeoutMs,
    250,
  );
  for (const n of answered) expect(counts.get(n), `call ${n}`).toBe(1);
  for (const [n, count] of counts) expect(count, `call ${n} stored once`).toBe(1);
}

/** Holds an exclusive lock on a Chinook table: reads of it wait until `release()`, then all go on at once. */
async function lockTable(table: string): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: world.target.url });
  await client.connect();
  await client.query("BEGIN");
  await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  return async () => {
    await client.query("COMMIT");
    await client.end();
  };
}

async function expectChainVerifies(): Promise<void> {
  const pool = new pg.Pool({ connectionString: world.meta.url });
  try {
    expect(await verifyAuditChain(pool, world.teamId, { key: parseAuditChainKey(chainKey) })).toMatchObject({ ok: true });
    const { rows } = await pool.query<{ keyed: number; total: number }>(
      `SELECT count(*) FILTER (WHERE hash LIKE 'k1:%')::int AS keyed, count(*)::int AS total FROM audit_events WHERE team_id = $1`,
      [world.teamId],
    );
    expect(rows[0]!.keyed).toBe(rows[0]!.total);
  } finally {
    await pool.end();
  }
}

test("SIGKILL of a gateway under load: every call answered 200 gets exactly one row once another instance starts", async () => {
  const env = world.env({ REDIS_URL: redis.url });
  const child = await spawnGateway(env);
  const traffic = load(`${child.url}/mcp/${link.linkId}`, "kill-gw", 8, 0);
  await waitFor(async () => traffic.answered.length, (n) => n >= 300, 30_000);
  const exited = new Promise((r) => child.child.once("exit", r));
  child.child.kill("SIGKILL");
  await exited;
  await traffic.stop();
  const answered = [...traffic.answered];
  expect(answered.length).toBeGreaterThanOrEqual(300);
  // The dead instance's directory is still there, with segments holding the unshipped tail.
  const left = await journalSegments(world.spoolDir);
  expect([...left.values()].flat().length).toBeGreaterThan(0);

  // A new instance adopts the directory (its owner's pid is dead) and, with the worker running,
  // makes sure each event is stored: what Redis already held is stored once, the rest is re-sent.
  const { gateway } = await startGateway();
  await worker();
  await expectOneRowEach("kill-gw", answered);
  await expectChainVerifies();
  // Retired: no segment is left once the database holds every event.
  await waitFor(async () => Object.fromEntries(await journalSegments(world.spoolDir)), (dirs) => Object.values(dirs).flat().length === 0, 20_000, 250);
  expect(gateway.services.audit.backlog().pending).toBe(0);
}, 120_000);

test("Redis killed -9 and restarted empty while events were queued: the journal re-sends and every answered call gets one row", async () => {
  const { gateway, url } = await startGateway();
  const answered: number[] = [];
  for (let n = 0; n < 40; n++) if ((await callSql(url, link.key, `SELECT ${n} AS n /* redis-wipe */`)).ok) answered.push(n);
  expect(answered).toHaveLength(40);
  // Queued in Redis, not yet ingested (no worker runs)...
  await waitFor(async () => (await auditEvents(world, redis.url)).filter((e) => e.sql?.includes("redis-wipe")).length, (n) => n === 40, 10_000, 100);
  // ...when Redis dies and comes back with nothing: its AOF is gone.
  await redis.kill({ wipe: true });
  await redis.up();
  expect((await auditEvents(world, redis.url)).length).toBe(0);
  await worker();
  await expectOneRowEach("redis-wipe", answered, 60_000);
  await expectChainVerifies();
  await waitFor(() => Promise.resolve(gateway.services.audit.backlog().pending), (n) => n === 0, 20_000, 250);
  expect(Number((await gateway.services.metrics.auditEvents.get()).values.find((v) => v.labels.outcome === "resent")?.value ?? 0)).toBeGreaterThanOrEqual(40);
}, 120_000);

test("while the worker is down, events Redis still holds are not re-sent (a long outage must not re-upload the backlog); they land once it is back", async () => {
  const { gateway, url } = await startGateway();
  const answered: number[] = [];
  for (let n = 0; n < 10; n++) if ((await callSql(url, link.key, `SELECT ${n} AS n /* worker-down */`)).ok) answered.push(n);
  expect(answered).toHaveLength(10);
  const resent = async () => Number((await gateway.services.metrics.auditEvents.get()).values.find((v) => v.labels.outcome === "resent")?.value ?? 0);
  // Past the first re-send time (10 s), nothing is stored and the jobs wait in Redis.
  await new Promise((r) => setTimeout(r, 13_000));
  expect(gateway.services.audit.backlog().pending).toBe(10);
  expect(await resent()).toBe(0);
  await worker();
  await expectOneRowEach("worker-down", answered, 60_000);
  await waitFor(() => Promise.resolve(gateway.services.audit.backlog().pending), (n) => n === 0, 20_000, 250);
  expect(await resent()).toBe(0);
}, 90_000);

test("a dead instance's journal is adopted by exactly one of two live instances, which never take each other's", async () => {
  const a = await startGateway();
  const b = await startGateway();
  const child = await spawnGateway(world.env({ REDIS_URL: redis.url }));
  const childDir = (await readdir(world.spoolDir)).find((d) => d !== a.dir && d !== b.dir && !d.startsWith(".") && d.startsWith(`${child.child.pid}-`))!;
  expect(childDir).toBeDefined();
  // Redis down: the child's events exist only in its journal.
  await redis.kill();
  const answered: number[] = [];
  for (let n = 0; n < 30; n++) if ((await callSql(`${child.url}/mcp/${link.linkId}`, link.key, `SELECT ${n} AS n /* adopt */`)).ok) answered.push(n);
  expect(answered).toHaveLength(30);
  const exited = new Promise((r) => child.child.once("exit", r));
  child.child.kill("SIGKILL");
  await exited;
  await redis.up();

  // Within one adoption round (5 s) the dead directory is claimed, and its segments sit in one adopter's directory.
  await waitFor(() => readdir(world.spoolDir), (entries) => !entries.some((e) => e.includes(childDir)), 15_000, 100);
  const dirs = await journalSegments(world.spoolDir);
  const adopters = [a.dir, b.dir].filter((d) => (dirs.get(d) ?? []).some((f) => f.startsWith(`adopted-${childDir}-`)));
  expect(adopters).toHaveLength(1);
  // Both live instances still own their own directories.
  expect(dirs.has(a.dir) && dirs.has(b.dir)).toBe(true);

  await worker();
  await expectOneRowEach("adopt", answered);
  await expectChainVerifies();
  await waitFor(async () => Object.values(Object.fromEntries(await journalSegments(world.spoolDir))).flat().length, (n) => n === 0, 30_000, 250);
}, 120_000);

test("a journal that cannot write fails the call with a retryable error instead of answering it unaudited", async () => {
  const { gateway, url, dir } = await startGateway();
  await worker();
  expect((await callSql(url, link.key, "SELECT 1 AS n /* disk-fail */")).ok).toBe(true);
  // Past the rotation interval the next call opens a new segment: its directory is now a file.
  await new Promise((r) => setTimeout(r, 1_200));
  const journalDir = path.join(world.spoolDir, dir);
  await rm(journalDir, { recursive: true, force: true });
  await writeFile(journalDir, "not a directory");
  const failed = await callSql(url, link.key, "SELECT 2 AS n /* disk-fail */");
  expect(failed.ok).toBe(false);
  expect(failed.error).toMatchObject({ code: -32050 });
  expect(failed.error!.message).toMatch(/retry/);
  expect(failed.text).not.toContain('"result"');
  const refused = (await gateway.services.metrics.refused.get()).values.find((v) => v.labels.reason === "audit_unavailable");
  expect(refused?.value).toBe(1);
  // Unready meanwhile, so a load balancer sends calls to instances that can audit them.
  const base = url.slice(0, url.indexOf("/mcp/"));
  const unready = await fetch(`${base}/readyz`);
  expect(unready.status).toBe(503);
  const journalCheck = ((await unready.json()) as { checks: Record<string, string> }).checks.auditJournal!;
  expect(journalCheck).toMatch(/^failing/);
  // /readyz is public: the cause (paths, pids) stays in the log.
  expect(journalCheck).not.toContain(world.spoolDir);
  expect(journalCheck).not.toMatch(/ENOTDIR|EACCES|\//);
  // Known failing: the next call is refused before anything runs (so retrying it is safe).
  const early = await callSql(url, link.key, "SELECT 4 AS n /* disk-fail */");
  expect(early.error).toMatchObject({ code: -32050 });
  expect(early.error!.message).toMatch(/nothing was run/);

  // The disk is back: calls are answered (and audited) again.
  await rm(journalDir, { force: true });
  await mkdir(world.spoolDir, { recursive: true });
  // The background pass probes the directory and the instance is ready again, without any call.
  await waitFor(async () => (await fetch(`${base}/readyz`)).status, (status) => status === 200, 10_000, 100);
  expect((await callSql(url, link.key, "SELECT 3 AS n /* disk-fail */")).ok).toBe(true);
  const counts = await waitFor(() => rowsPerCall(world, "disk-fail"), (c) => c.has(1) && c.has(3), 30_000, 250);
  // The refused call never became a row; the answered ones did, once each.
  expect(Object.fromEntries(counts)).toEqual({ 1: 1, 3: 1 });
}, 90_000);

test("a write whose record cannot be journalled first is not run: answered as retryable, and the retry runs it once", async () => {
  const table = `journal_write_${randomBytes(3).toString("hex")}`;
  await withClient(world.target.url, (c) => c.query(`CREATE TABLE ${table} (id int)`));
  const writer = await world.addLink({ access: "write" });
  const { url, dir } = await startGateway();
  await worker();
  const writerUrl = url.replace(link.linkId, writer.linkId);
  await new Promise((r) => setTimeout(r, 1_200));
  const journalDir = path.join(world.spoolDir, dir);
  await rm(journalDir, { recursive: true, force: true });
  await writeFile(journalDir, "not a directory");
  const count = () => withClient(world.target.url, async (c) => (await c.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number);
  const wrote = await callSql(writerUrl, writer.key, `INSERT INTO ${table} VALUES (1) /* write-ahead */`);
  expect(wrote.error).toMatchObject({ code: -32050 });
  expect(wrote.error!.message).toMatch(/nothing was run.*retry/);
  // Judged by effect: the write's record goes to disk before the write, so without it nothing ran.
  expect(await count()).toBe(0);
  await rm(journalDir, { force: true });
  await mkdir(world.spoolDir, { recursive: true });
  const base = url.slice(0, url.indexOf("/mcp/"));
  await waitFor(async () => (await fetch(`${base}/readyz`)).status, (status) => status === 200, 10_000, 100);
  expect((await callSql(writerUrl, writer.key, `INSERT INTO ${table} VALUES (1) /* write-ahead */`)).ok).toBe(true);
  expect(await count()).toBe(1);
  // One event, the complete one (not its intent): rows written and no error.
  const stored = () => withClient(world.meta.url, async (c) => (await c.query(`SELECT verdict, rows, error FROM audit_events WHERE sql LIKE '%' || $1 || '%'`, [table])).rows);
  const mine = await waitFor(stored, (rows) => rows.length > 0, 30_000, 250);
  await new Promise((r) => setTimeout(r, 500));
  expect(await stored()).toEqual([{ verdict: "allowed", rows: 1, error: null }]);
  expect(mine).toHaveLength(1);
}, 60_000);

test("group commit: 64 calls completing together cost far fewer than 64 synchronous writes", async () => {
  const { gateway, url } = await startGateway({ GATEWAY_POOL_MAX: "64" });
  await worker();
  const syncs = async () => (await gateway.services.metrics.auditFsyncSeconds.get()).values.find((v) => v.metricName?.endsWith("_count"))?.value ?? 0;
  const journalled = async () => (await gateway.services.metrics.auditEvents.get()).values.find((v) => v.labels.outcome === "journalled")?.value ?? 0;
  // Warm the link's caches and pool first. Then 64 calls wait on one lock (each call's intent is on
  // disk by then) and, released together, reach the journal within a few milliseconds of each other:
  // what a burst of traffic looks like.
  expect((await callSql(url, link.key, "SELECT 0 AS n FROM genre LIMIT 1 /* group */")).ok).toBe(true);
  const release = await lockTable("genre");
  const calls = Promise.all(Array.from({ length: 64 }, (_, i) => callSql(url, link.key, `SELECT ${i + 1} AS n FROM genre LIMIT 1 /* group */`)));
  // All 64 statements are waiting on the lock (so each call's intent went to the journal before), and
  // the journal has gone quiet: what is counted from here is the outcomes only, even on a loaded machine.
  const waiting = () =>
    withClient(world.target.url, async (c) => (await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%/* group */%'`)).rows[0].n as number);
  await waitFor(waiting, (n) => n === 64, 30_000, 50);
  let quiet = await syncs();
  for (let still = 0; still < 3; ) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await syncs();
    still = now === quiet ? still + 1 : 0;
    quiet = now;
  }
  const [syncsBefore, eventsBefore] = [await syncs(), await journalled()];
  await release();
  const results = await calls;
  expect(results.every((r) => r.ok)).toBe(true);
  // The answers did not wait for their events (their intents were on disk): those follow at once.
  const eventsAfter = await waitFor(journalled, (n) => n - eventsBefore >= 64, 10_000, 20);
  const syncsAfter = await syncs();
  expect(eventsAfter - eventsBefore).toBe(64);
  expect(syncsAfter - syncsBefore).toBeGreaterThan(0);
  expect(syncsAfter - syncsBefore).toBeLessThanOrEqual(32);
  console.log(`group commit: 64 calls, ${syncsAfter - syncsBefore} synchronous writes`);
  // Exactly one complete event per call.
  const counts = await waitFor(() => rowsPerCall(world, "group"), (c) => c.size >= 65, 30_000, 250);
  expect([...counts.values()].every((n) => n === 1)).toBe(true);
}, 60_000);

test("calls one by one cost about one synchronous write each: a call's outcome rides with the next call's intent", async () => {
  const { gateway, url } = await startGateway();
  await worker();
  const syncs = async () => (await gateway.services.metrics.auditFsyncSeconds.get()).values.find((v) => v.metricName?.endsWith("_count"))?.value ?? 0;
  expect((await callSql(url, link.key, "SELECT 0 AS n /* one-by-one */")).ok).toBe(true);
  await new Promise((r) => setTimeout(r, 100));
  const before = await syncs();
  for (let i = 1; i <= 30; i++) expect((await callSql(url, link.key, `SELECT ${i} AS n /* one-by-one */`)).ok).toBe(true);
  await new Promise((r) => setTimeout(r, 100));
  const writes = (await syncs()) - before;
  console.log(`30 calls one by one: ${writes} synchronous writes`);
  // An intent and an outcome per call: 60 writes if each went alone.
  expect(writes).toBeLessThanOrEqual(45);
  const counts = await waitFor(() => rowsPerCall(world, "one-by-one"), (c) => c.size === 31, 30_000, 250);
  expect([...counts.values()].every((n) => n === 1)).toBe(true);
}, 60_000);

test("SIGTERM drains in-flight calls and exits; a second SIGTERM exits at once; no answered call goes unaudited", async () => {
  const env = world.env({ REDIS_URL: redis.url, GATEWAY_SHUTDOWN_GRACE_MS: "5000" });
  const answered: number[] = [];
  const exitOf = (child: Awaited<ReturnType<typeof spawnGateway>>) => new Promise<number | null>((r) => child.child.once("exit", (code) => r(code)));

  // One signal: the slow call in flight is finished and answered, then the process exits cleanly.
  let child = await spawnGateway(env);
  let url = `${child.url}/mcp/${link.linkId}`;
  let traffic = load(url, "sigterm", 4, 0);
  await waitFor(async () => traffic.answered.length, (n) => n >= 50, 30_000);
  let release = await lockTable("media_type");
  const slow = callSql(url, link.key, "SELECT 900001 AS n FROM media_type LIMIT 1 /* sigterm */");
  await new Promise((r) => setTimeout(r, 200));
  let exited = exitOf(child);
  let started = Date.now();
  child.child.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 1_000));
  await release();
  expect((await slow).ok).toBe(true);
  answered.push(900001);
  expect(await exited).toBe(0);
  expect(Date.now() - started).toBeGreaterThan(700);
  expect(Date.now() - started).toBeLessThan(5_000);
  await traffic.stop();
  answered.push(...traffic.answered);

  // Two signals: the second ends the drain at once, whatever is still running.
  child = await spawnGateway(env);
  url = `${child.url}/mcp/${link.linkId}`;
  traffic = load(url, "sigterm", 4, 100_000);
  await waitFor(async () => traffic.answered.length, (n) => n >= 50, 30_000);
  release = await lockTable("media_type");
  // Settled at once: its connection is cut by the exit, and the rejection must not go unhandled meanwhile.
  const cut = callSql(url, link.key, "SELECT 900002 AS n FROM media_type LIMIT 1 /* sigterm */").catch(() => ({ ok: false }));
  await new Promise((r) => setTimeout(r, 200));
  exited = exitOf(child);
  started = Date.now();
  child.child.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  child.child.kill("SIGTERM");
  expect(await exited).toBe(1);
  expect(Date.now() - started).toBeLessThan(2_000);
  expect((await cut).ok).toBe(false);
  await release();
  await traffic.stop();
  answered.push(...traffic.answered);

  // Whatever was answered before either exit is stored once, by the instance that adopts the journals.
  await startGateway();
  await worker();
  await expectOneRowEach("sigterm", answered);
  await expectChainVerifies();
}, 120_000);

test("a call still running when the shutdown grace ends is cancelled and recorded with its real outcome, not as an unrecorded one", async () => {
  const env = world.env({ REDIS_URL: redis.url, GATEWAY_SHUTDOWN_GRACE_MS: "1000" });
  const child = await spawnGateway(env);
  const url = `${child.url}/mcp/${link.linkId}`;
  expect((await callSql(url, link.key, "SELECT 0 AS n FROM media_type LIMIT 1 /* past-grace */")).ok).toBe(true);
  const release = await lockTable("media_type");
  const held = callSql(url, link.key, "SELECT 1 AS n FROM media_type LIMIT 1 /* past-grace */").catch(() => ({ ok: false }));
  await new Promise((r) => setTimeout(r, 300));
  const exited = new Promise<number | null>((r) => child.child.once("exit", (code) => r(code)));
  child.child.kill("SIGTERM");
  // Held well past the grace: the gateway cancels it when it closes the call's connection.
  await new Promise((r) => setTimeout(r, 2_500));
  await release();
  expect(await exited).toBe(0);
  expect((await held).ok).toBe(false);
  await startGateway();
  await worker();
  const stored = () =>
    withClient(world.meta.url, async (c) => (await c.query(`SELECT sql, error FROM audit_events WHERE sql LIKE '%past-grace%' ORDER BY sql`)).rows as { sql: string; error: string | null }[]);
  const rows = await waitFor(stored, (r) => r.length >= 2, 30_000, 250);
  expect(rows).toHaveLength(2);
  expect(rows[1]!.error).toBeTruthy();
  expect(rows[1]!.error).not.toBe(OUTCOME_NOT_RECORDED);
}, 90_000);

/** An event as a journal line holds it, for spool files a test writes by hand. */
const spooledEvent = (marker: string, n: number) => ({
  id: randomUUID(),
  time: new Date().toISOString(),
  teamId: world.teamId,
  kind: "tool_call",
  linkId: link.linkId,
  tool: "execute_sql",
  sql: `SELECT ${n} AS n /* ${marker} */`,
  verdict: "allowed",
  durationMs: 1,
});

test("spool files of the previous format are imported once; a torn last line (never acknowledged) is skipped", async () => {
  const event = (n: number) => spooledEvent("legacy-spool", n);
  const lines = [event(1), event(2), event(3)].map((e) => JSON.stringify(e)).join("\n") + "\n" + JSON.stringify(event(4)).slice(0, 40);
  await writeFile(path.join(world.spoolDir, `audit-12345-abcd-${Date.now()}-0.jsonl`), lines);
  const { gateway } = await startGateway();
  expect((await readdir(world.spoolDir)).filter((f) => f.startsWith("audit-"))).toEqual([]);
  await worker();
  const counts = await waitFor(() => rowsPerCall(world, "legacy-spool"), (c) => c.size === 3, 30_000, 250);
  expect(Object.fromEntries(counts)).toEqual({ 1: 1, 2: 1, 3: 1 });
  await waitFor(() => Promise.resolve(gateway.services.audit.backlog().pending), (n) => n === 0, 20_000, 250);
}, 60_000);

test("a dead instance's intents: one whose event it journalled is stored once, complete; one whose event never came is stored saying its outcome was not recorded", async () => {
  const event = (n: number) => spooledEvent("dead-intents", n);
  const [answered, lost, split] = [event(1), event(2), event(3)];
  // As a journal leaves them: intent, then (for some) the event under the same id, maybe in a later segment.
  const dead = `424242-${randomBytes(4).toString("hex")}`;
  const dir = path.join(world.spoolDir, dead);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "owner.json"), JSON.stringify({ instanceId: dead, pid: 424242, hostname: "elsewhere", startedAt: new Date().toISOString(), released: true }));
  const line = (record: unknown) => JSON.stringify(record) + "\n";
  await writeFile(
    path.join(dir, "seg-00000000000001-000000.jsonl"),
    line({ intent: answered }) + line({ intent: lost }) + line({ ...answered, rows: 1, durationMs: 3 }) + line({ intent: split }),
  );
  await writeFile(path.join(dir, "seg-00000000000002-000001.jsonl"), line({ ...split, rows: 1, durationMs: 4 }));
  const { gateway } = await startGateway();
  await worker();
  const rows = () =>
    withClient(world.meta.url, async (c) => (await c.query(`SELECT sql, rows, error FROM audit_events WHERE sql LIKE '%dead-intents%' ORDER BY sql`)).rows);
  await waitFor(rows, (r) => r.length >= 3, 30_000, 250);
  await waitFor(() => Promise.resolve(gateway.services.audit.backlog().pending), (n) => n === 0, 20_000, 250);
  expect(await rows()).toEqual([
    { sql: answered.sql, rows: 1, error: null },
    { sql: lost.sql, rows: null, error: OUTCOME_NOT_RECORDED },
    { sql: split.sql, rows: 1, error: null },
  ]);
}, 60_000);

