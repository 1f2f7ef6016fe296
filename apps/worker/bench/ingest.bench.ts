/**
 * `pnpm bench` (scripts/bench.sh starts the test PostgreSQL and Redis): audit ingestion throughput.
 *
 *  1. write path — events/s into PostgreSQL through the worker's `AuditBatcher` (batches, teams
 *     spread across writers, COPY, per-team hash chain, duplicate check, every index and trigger of
 *     audit_events), with the worker's default settings, and the CPU each event costs;
 *  2. end to end — events/s from a BullMQ backlog (batch jobs of 200 events, as the gateway enqueues
 *     them under load) to committed rows, through the real worker (`startWorker`).
 *
 * Each is run BENCH_RUNS times (default 5) on a fresh database; the median is reported.
 * Events have realistic cardinalities (3 teams, a few links/keys/users, 300 distinct statements).
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { AuditEventInput } from "@portcullis/jobs";
import { testRedisUrl } from "@portcullis/db/testing";
import pg from "pg";
import { startWorker } from "../src/app.js";
import { workerEnvSchema } from "../src/env.js";
import { AuditBatcher, auditJobConcurrency } from "../src/processors/audit-ingest.js";
import { auditQueue, countEvents, createTeamRow, createWorkerFixture, enqueueEvents, makeEvent, waitFor } from "../test/support.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const WRITE_EVENTS = Number(process.env.BENCH_WRITE_EVENTS ?? 200_000);
const E2E_EVENTS = Number(process.env.BENCH_E2E_EVENTS ?? 100_000);
// The worker's defaults (AUDIT_BATCH_SIZE, AUDIT_BATCH_WAIT_MS, AUDIT_WRITERS), or these variables if set.
const AUDIT_VARS = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("AUDIT_")));
const DEFAULTS = workerEnvSchema.parse({ DATABASE_URL: "postgresql://x/y", REDIS_URL: "redis://x", PORTCULLIS_SECRET_KEYS: "x", ...AUDIT_VARS });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function eventIds(): { links: string[]; keys: string[] } {
  return { links: Array.from({ length: 6 }, randomUUID), keys: Array.from({ length: 12 }, randomUUID) };
}

function events(teams: string[], n: number): AuditEventInput[] {
  const ids = eventIds();
  return Array.from({ length: n }, (_, i) => makeEvent(teams[i % teams.length]!, i, ids));
}

/** Busy time of the whole machine in ms (/proc/stat: all but idle and iowait), to report CPU per event. */
function machineBusyMs(): number {
  const ticks = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (ticks.slice(0, 8).reduce((a, b) => a + b, 0) - ticks[3]! - ticks[4]!) * 10;
}

interface WriteRun {
  eventsPerSecond: number;
  /** CPU per event (µs): this process (the batcher and the encoding), and the whole machine (PostgreSQL included). */
  nodeCpuUs: number;
  machineCpuUs: number;
}

async function writePath(): Promise<WriteRun> {
  const fixture = await createWorkerFixture();
  const pool = new pg.Pool({ connectionString: fixture.db.url, max: DEFAULTS.AUDIT_WRITERS * 2 });
  try {
    const teams = [await createTeamRow(fixture.pool), await createTeamRow(fixture.pool), await createTeamRow(fixture.pool)];
    // Made as they are fed, like jobs arriving from Redis: holding 200,000 events in memory at once
    // would make the benchmark measure V8's old-generation GC rather than the write path.
    const ids = eventIds();
    const event = (i: number) => makeEvent(teams[i % teams.length]!, i, ids) as Parameters<AuditBatcher["add"]>[0];
    const batcher = new AuditBatcher({
      pool,
      batchSize: DEFAULTS.AUDIT_BATCH_SIZE,
      batchWaitMs: DEFAULTS.AUDIT_BATCH_WAIT_MS,
      writers: DEFAULTS.AUDIT_WRITERS,
    });
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const busyBefore = machineBusyMs();
    // Fed as BullMQ would: a bounded number of events in flight (the worker's job concurrency).
    const inFlight = auditJobConcurrency(DEFAULTS.AUDIT_BATCH_SIZE, DEFAULTS.AUDIT_WRITERS);
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < WRITE_EVENTS) await batcher.add(event(next++));
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const machineCpuUs = ((machineBusyMs() - busyBefore) * 1000) / WRITE_EVENTS;
    if ((await countEvents(fixture.pool)) !== WRITE_EVENTS) throw new Error("write path lost events");
    return { eventsPerSecond: WRITE_EVENTS / seconds, nodeCpuUs: (cpu.user + cpu.system) / WRITE_EVENTS, machineCpuUs };
  } finally {
    await pool.end();
    await fixture.close();
  }
}

async function endToEnd(): Promise<number> {
  const fixture = await createWorkerFixture({ LOG_LEVEL: "silent", ...(AUDIT_VARS as Record<string, string>) });
  const queue = auditQueue(testRedisUrl(), fixture.prefix);
  try {
    const teams = [await createTeamRow(fixture.pool), await createTeamRow(fixture.pool), await createTeamRow(fixture.pool)];
    await enqueueEvents(queue, events(teams, E2E_EVENTS));
    const started = performance.now();
    const worker = await startWorker(fixture.env, { schedules: false, metricsServer: false });
    await waitFor(async () => (await countEvents(fixture.pool)) === E2E_EVENTS, 600_000, "the backlog", 50);
    const seconds = (performance.now() - started) / 1000;
    await worker.close();
    return E2E_EVENTS / seconds;
  } finally {
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    await fixture.close();
  }
}

const write: WriteRun[] = [];
const e2e: number[] = [];
for (let run = 1; run <= (process.env.BENCH_SKIP_WRITE ? 0 : RUNS); run++) {
  const r = await writePath();
  write.push(r);
  console.log(
    `run ${run}: write path ${Math.round(r.eventsPerSecond)} events/s  (CPU per event: worker ${r.nodeCpuUs.toFixed(1)} µs, whole machine ${r.machineCpuUs.toFixed(1)} µs)`,
  );
}
for (let run = 1; run <= (process.env.BENCH_SKIP_E2E ? 0 : RUNS); run++) {
  e2e.push(await endToEnd());
  console.log(`run ${run}: end to end ${Math.round(e2e.at(-1)!)} events/s`);
}
const result = {
  writePathEventsPerSecond: write.length ? Math.round(median(write.map((r) => r.eventsPerSecond))) : null,
  writePathWorkerCpuUsPerEvent: write.length ? Number(median(write.map((r) => r.nodeCpuUs)).toFixed(1)) : null,
  writePathMachineCpuUsPerEvent: write.length ? Number(median(write.map((r) => r.machineCpuUs)).toFixed(1)) : null,
  endToEndEventsPerSecond: e2e.length ? Math.round(median(e2e)) : null,
  runs: RUNS,
  writeEvents: WRITE_EVENTS,
  e2eEvents: E2E_EVENTS,
};
console.log(
  `audit ingestion (median of ${RUNS}): ${result.writePathEventsPerSecond} events/s into PostgreSQL (write path), ` +
    `${result.endToEndEventsPerSecond ?? "-"} events/s from the BullMQ backlog (end to end)`,
);
console.log(JSON.stringify(result));
process.exit(0);
