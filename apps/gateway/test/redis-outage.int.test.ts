import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { freePort } from "@portcullis/db/testing";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { journalSegments, rowsPerCall, startAuditWorker } from "./durability-support.js";
import { GatewayWorld, auditEvents, connectClient, toolText, waitFor } from "./fixtures.js";

/**
 * Redis stopped mid-run: calls keep working, audit events wait in the journal and are sent when
 * Redis is back, both by the running instance and by a new instance after a shutdown during the
 * outage. Every call's event arrives exactly once, and the journal is emptied once the worker has
 * stored them. Uses a Redis of its own (append-only, fsync always) so stopping it disturbs no other suite.
 */
let world: GatewayWorld;
let redisDir: string;
let port: number;
let redis: ChildProcess | undefined;


async function startRedis(): Promise<void> {
  redis = spawn("redis-server", ["--bind", "127.0.0.1", "--port", String(port), "--dir", redisDir, "--appendonly", "yes", "--appendfsync", "always", "--save", ""], {
    stdio: "ignore",
  });
  await waitFor(
    () => fetch(`http://127.0.0.1:${port}`).then(() => true, (e: Error) => !String(e.cause).includes("ECONNREFUSED")),
    (up) => up,
  );
}

async function stopRedis(): Promise<void> {
  const child = redis!;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
  redis = undefined;
}

beforeAll(async () => {
  port = await freePort();
  redisDir = await mkdtemp(path.join(tmpdir(), "gw-redis-"));
  await startRedis();
  world = await GatewayWorld.create();
});
afterAll(async () => {
  await world?.close();
  if (redis) await stopRedis();
  await rm(redisDir, { recursive: true, force: true });
});

/** The outage test's events in the queue: distinct calls seen, and how many distinct ids each call's events carry. */
async function outageSummary(world: GatewayWorld, redisUrl: string) {
  const ids = new Map<number, Set<string>>();
  let events = 0;
  for (const e of await auditEvents(world, redisUrl)) {
    if (!e.sql?.includes("outage-test")) continue;
    events++;
    const n = Number(/SELECT (\d+)/.exec(e.sql)![1]);
    if (!ids.has(n)) ids.set(n, new Set());
    ids.get(n)!.add(e.id);
  }
  return { numbers: ids.size, events, idsPerCall: [...new Set([...ids.values()].map((s) => s.size))] };
}

test("no audit event lost or duplicated across a Redis outage and a restart of the gateway", async () => {
  const redisUrl = `redis://127.0.0.1:${port}`;
  const env = { REDIS_URL: redisUrl };
  const link = await world.addLink({ access: "read" });
  const first = await world.startGateway(env);
  const client = await connectClient(`${first.url}/mcp/${link.linkId}`, link.key);
  const run = async (i: number) => {
    const r = await client.callTool({ name: "execute_sql", arguments: { sql: `SELECT ${i} AS n /* outage-test */` } });
    expect(toolText(r)).toContain(`[[${i}]]`);
  };
  let i = 0;
  for (; i < 20; i++) await run(i);

  await stopRedis();
  // Calls keep being served while Redis is down; their events go to the spool.
  for (; i < 40; i++) await run(i);
  const segments = async () => [...(await journalSegments(world.spoolDir)).values()].flat().length;
  expect(await segments()).toBeGreaterThan(0);

  await startRedis();
  // The running instance replays its spool once Redis answers again.
  await waitFor(() => outageSummary(world, redisUrl), (s) => s.numbers === 40, 20_000, 200);

  // Second outage, and the instance shuts down during it: its journal keeps the events...
  await stopRedis();
  for (; i < 50; i++) await run(i);
  await client.close();
  await first.gateway.stop();
  expect(await segments()).toBeGreaterThan(0);
  // ...and a new instance adopts it (released by the shutdown) and sends them when Redis is back.
  await startRedis();
  await world.startGateway(env);
  const summary = await waitFor(() => outageSummary(world, redisUrl), (s) => s.numbers === 50, 20_000, 200);
  // Every call has its event, under one id: a chunk the spool resent (its first send half-accepted when
  // Redis went away) may sit in the queue twice, and the worker stores each id once.
  expect(summary).toMatchObject({ numbers: 50, idsPerCall: [1] });
  const mine = (await auditEvents(world, redisUrl)).filter((e) => e.sql?.includes("outage-test"));
  // Replayed from the spool as batch jobs; the worker stores each event id once.
  for (const e of mine) expect(e.jobId).toMatch(/^batch-[0-9a-f-]{36}$/);
  // Journalled events stay until the database holds them: the worker stores each once, then the
  // segments are deleted.
  expect(await segments()).toBeGreaterThan(0);
  const worker = await startAuditWorker(world, redisUrl);
  try {
    const rows = await waitFor(() => rowsPerCall(world, "outage-test"), (c) => c.size === 50, 30_000, 250);
    expect([...rows.values()].every((n) => n === 1)).toBe(true);
    await waitFor(segments, (n) => n === 0, 30_000, 250);
  } finally {
    await worker.close();
  }
}, 120_000);
