import { randomUUID } from "node:crypto";
import { verifyAuditChain } from "@portcullis/db/audit";
import { testRedisUrl } from "@portcullis/db/testing";
import type { Queue } from "bullmq";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type RunningWorker, startWorker } from "../src/app.js";
import { auditQueue, countEvents, createTeamRow, createWorkerFixture, enqueueEvents, makeEvent, waitFor } from "./support.js";

let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let worker: RunningWorker;
let queue: Queue;

beforeAll(async () => {
  fixture = await createWorkerFixture();
  queue = auditQueue(testRedisUrl(), fixture.prefix);
  worker = await startWorker(fixture.env, { schedules: false, metricsServer: true, sweepEveryMs: 500 });
});

afterAll(async () => {
  await worker?.close();
  await queue?.obliterate({ force: true }).catch(() => {});
  await queue?.close();
  await fixture?.close();
});

test("a burst of 100,000 events is stored exactly once, each team's chain intact", async () => {
  const teams = [await createTeamRow(fixture.pool), await createTeamRow(fixture.pool), await createTeamRow(fixture.pool)];
  const ids = { links: [randomUUID(), randomUUID()], keys: [randomUUID(), randomUUID(), randomUUID()] };
  const events = Array.from({ length: 100_000 }, (_, i) => makeEvent(teams[i % 3]!, i, ids));
  // Replays: the same events again (as a gateway spool replay or a producer retry would send them).
  const replays = events.slice(0, 2000);
  const started = Date.now();
  await enqueueEvents(queue, events);
  await waitFor(async () => (await countEvents(fixture.pool)) >= 50_000, 120_000, "half of the burst");
  await enqueueEvents(queue, replays);
  await waitFor(
    async () => {
      const counts = await queue.getJobCounts("waiting", "active", "delayed", "failed");
      return (await countEvents(fixture.pool)) === 100_000 && counts.waiting === 0 && counts.active === 0 && counts.delayed === 0;
    },
    180_000,
    "all events stored and the queue drained",
    250,
  );
  const seconds = (Date.now() - started) / 1000;
  const { rows } = await fixture.pool.query(`SELECT count(DISTINCT id)::int AS n FROM audit_events`);
  expect(rows[0].n).toBe(100_000);
  for (const team of teams) {
    const result = await verifyAuditChain(fixture.pool, team);
    expect(result).toMatchObject({ ok: true });
    expect(result.checked).toBe(await countEvents(fixture.pool, team));
  }
  expect((await queue.getJobCounts("failed")).failed).toBe(0);

  // Metrics reflect it: ingested counter, duplicates, and the health endpoints answer.
  const port = (worker.server!.address() as { port: number }).port;
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  expect(metrics).toMatch(/portcullis_audit_events_ingested_total 100000/);
  expect(metrics).toMatch(/portcullis_audit_events_duplicate_total \d+/);
  expect(metrics).toMatch(/portcullis_queue_oldest_waiting_seconds/);
  expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
  expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  console.info(`100,000 events through BullMQ into PostgreSQL in ${seconds.toFixed(1)} s (${Math.round(100_000 / seconds)}/s, enqueue included)`);
}, 240_000);

test("an invalid event goes to the dead-letter queue with its reason; valid neighbours are stored", async () => {
  const team = await createTeamRow(fixture.pool);
  const good = makeEvent(team, 1);
  const badId = randomUUID();
  await queue.add("audit", { id: badId, teamId: team, time: "yesterday", verdict: "maybe" }, { jobId: badId, attempts: 3 });
  await enqueueEvents(queue, [good]);
  const { QUEUES } = await import("@portcullis/jobs");
  const { Queue } = await import("bullmq");
  const dlq = new Queue(QUEUES.auditDeadLetter, { connection: { url: testRedisUrl() }, prefix: fixture.prefix });
  try {
    const letter = await waitFor(async () => dlq.getJob(badId), 20_000, "the dead letter");
    expect(letter.data.failedReason).toMatch(/invalid audit event/);
    expect(letter.data.event.id).toBe(badId);
    await waitFor(async () => (await countEvents(fixture.pool, team)) === 1, 10_000, "the good event");
    expect((await queue.getJobCounts("failed")).failed).toBe(0);
  } finally {
    await dlq.close();
  }
});
