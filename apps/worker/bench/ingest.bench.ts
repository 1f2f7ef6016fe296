/**
 * `pnpm bench` (scripts/bench.sh starts the test PostgreSQL and Redis): audit ingestion throughput.
 *
 *  1. write path — events/s into PostgreSQL through `ingestAuditBatch` (COPY, per-team hash chain,
 *     duplicate check, every index of audit_events including the trigram one), 2 concurrent writers
 *     of 1,000-event batches, as the worker runs them;
 *  2. end to end — events/s from a BullMQ backlog (one job per event, as the gateway enqueues) to
 *     committed rows, through the real worker (`startWorker`).
 *
 * Each is run BENCH_RUNS times (default 3) on a fresh database; the median is reported.
 * Events have realistic cardinalities (3 teams, a few links/keys/users, 300 distinct statements).
 */
import { randomUUID } from "node:crypto";
import { ingestAuditBatch } from "@portcullis/db/audit";
import type { AuditEventInput } from "@portcullis/jobs";
import { testRedisUrl } from "@portcullis/db/testing";
import pg from "pg";
import { startWorker } from "../src/app.js";
import { auditQueue, countEvents, createTeamRow, createWorkerFixture, enqueueEvents, makeEvent, waitFor } from "../test/support.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WRITE_EVENTS = Number(process.env.BENCH_WRITE_EVENTS ?? 200_000);
const E2E_EVENTS = Number(process.env.BENCH_E2E_EVENTS ?? 50_000);
const BATCH = 1000;
const WRITERS = 2;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function events(teams: string[], n: number): AuditEventInput[] {
  const ids = { links: Array.from({ length: 6 }, randomUUID), keys: Array.from({ length: 12 }, randomUUID) };
  return Array.from({ length: n }, (_, i) => makeEvent(teams[i % teams.length]!, i, ids));
}

async function writePath(): Promise<number> {
  const fixture = await createWorkerFixture();
  const pool = new pg.Pool({ connectionString: fixture.db.url, max: WRITERS });
  try {
    const teams = [await createTeamRow(fixture.pool), await createTeamRow(fixture.pool), await createTeamRow(fixture.pool)];
    const all = events(teams, WRITE_EVENTS);
    const batches: AuditEventInput[][] = [];
    for (let i = 0; i < all.length; i += BATCH) batches.push(all.slice(i, i + BATCH));
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (next < batches.length) await ingestAuditBatch(pool, batches[next++]! as Parameters<typeof ingestAuditBatch>[1]);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    if ((await countEvents(fixture.pool)) !== WRITE_EVENTS) throw new Error("write path lost events");
    return WRITE_EVENTS / seconds;
  } finally {
    await pool.end();
    await fixture.close();
  }
}

async function endToEnd(): Promise<number> {
  const fixture = await createWorkerFixture({ LOG_LEVEL: "silent" });
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

const write: number[] = [];
const e2e: number[] = [];
for (let run = 1; run <= RUNS; run++) {
  write.push(await writePath());
  console.log(`run ${run}: write path ${Math.round(write.at(-1)!)} events/s`);
}
for (let run = 1; run <= RUNS; run++) {
  e2e.push(await endToEnd());
  console.log(`run ${run}: end to end ${Math.round(e2e.at(-1)!)} events/s`);
}
const result = {
  writePathEventsPerSecond: Math.round(median(write)),
  endToEndEventsPerSecond: Math.round(median(e2e)),
  runs: RUNS,
  writeEvents: WRITE_EVENTS,
  e2eEvents: E2E_EVENTS,
};
console.log(`audit ingestion (median of ${RUNS}): ${result.writePathEventsPerSecond} events/s into PostgreSQL (write path); ${result.endToEndEventsPerSecond} events/s from the BullMQ backlog (end to end)`);
console.log(JSON.stringify(result));
process.exit(0);
