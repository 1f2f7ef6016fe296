import { randomUUID } from "node:crypto";
import { verifyAuditChain } from "@portcullis/db/audit";
import { testRedisUrl } from "@portcullis/db/testing";
import { AUDIT_JOBS, QUEUES } from "@portcullis/jobs";
import { Queue } from "bullmq";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type RunningWorker, startWorker } from "../src/app.js";
import { replayDeadLetters } from "../src/enqueue.js";
import { auditQueue, countEvents, createTeamRow, createWorkerFixture, enqueueEvents, enqueueSingleEvents, makeEvent, waitFor } from "./support.js";

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
  // …and as single-event jobs, as dead-letter replays send them.
  await enqueueSingleEvents(queue, events.slice(1000, 3000));
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

test("a batch job with invalid events: they are dead-lettered one by one with their reasons, the rest stored", async () => {
  const [teamA, teamB] = [await createTeamRow(fixture.pool), await createTeamRow(fixture.pool)];
  const good = [makeEvent(teamA, 1), makeEvent(teamB, 2), makeEvent(teamA, 3)];
  const badId = randomUUID();
  const bad = { ...makeEvent(teamB, 4), id: badId, verdict: "maybe" };
  const noId = { teamId: teamA, time: "yesterday" };
  await queue.add(AUDIT_JOBS.batch, { events: [good[0], bad, good[1], noId, good[2]] }, { jobId: `batch-${randomUUID()}`, attempts: 3 });
  const dlq = new Queue(QUEUES.auditDeadLetter, { connection: { url: testRedisUrl() }, prefix: fixture.prefix });
  try {
    await waitFor(async () => (await countEvents(fixture.pool, teamA)) === 2 && (await countEvents(fixture.pool, teamB)) === 1, 20_000, "the valid events");
    const letter = await waitFor(async () => dlq.getJob(badId), 20_000, "the invalid event's letter");
    expect(letter.data.failedReason).toMatch(/invalid audit event: verdict/);
    expect(letter.data.event).toMatchObject({ id: badId, teamId: teamB });
    // An event without a usable id is still kept, under the job's id and its position.
    const letters = await dlq.getJobs(["waiting"], 0, -1);
    const anonymous = letters.find((l) => (l.data.event as { time?: string }).time === "yesterday" && l.data.event.teamId === teamA);
    expect(anonymous?.data.failedReason).toMatch(/invalid audit event: id/);
    expect(anonymous?.id).toMatch(/^batch-.*-3$/);
    // The job itself completed: nothing waits for a retry that cannot help.
    expect((await queue.getJobCounts("failed")).failed).toBe(0);
  } finally {
    await dlq.close();
  }
});

test("a batch dead-lettered whole (as workers older than batch jobs did) is split per event, and each replays", async () => {
  const [teamA, teamB] = [await createTeamRow(fixture.pool), await createTeamRow(fixture.pool)];
  const events = [makeEvent(teamA, 1), makeEvent(teamB, 2), makeEvent(teamA, 3)];
  const dlq = new Queue(QUEUES.auditDeadLetter, { connection: { url: testRedisUrl() }, prefix: fixture.prefix });
  try {
    const batchLetter = `batch-${events[0]!.id}`;
    const failedAt = "2026-11-24T08:00:00.000Z";
    await dlq.add(
      "dead-letter",
      { event: { events }, failedReason: "invalid audit event: id: Required", attemptsMade: 1, failedAt, sourceQueue: QUEUES.audit },
      { jobId: batchLetter },
    );
    // The worker's sweep (every 500 ms here) splits it: one letter per event, same reason and time.
    const letters = await waitFor(async () => {
      const found = await Promise.all(events.map((e) => dlq.getJob(e.id)));
      return found.every(Boolean) && !(await dlq.getJob(batchLetter)) ? found : undefined;
    }, 20_000, "the split letters");
    for (const [i, letter] of letters.entries()) expect(letter!.data).toMatchObject({ event: events[i], failedReason: "invalid audit event: id: Required", failedAt });
    // Each team replays its own.
    expect(await replayDeadLetters(dlq, queue, [events[0]!.id, events[2]!.id])).toBe(2);
    expect(await replayDeadLetters(dlq, queue, [events[1]!.id])).toBe(1);
    await waitFor(async () => (await countEvents(fixture.pool, teamA)) === 2 && (await countEvents(fixture.pool, teamB)) === 1, 20_000, "the replayed events");
    expect(await verifyAuditChain(fixture.pool, teamA)).toMatchObject({ ok: true, checked: 2 });
  } finally {
    await dlq.close();
  }
});

test("an event job whose data is a batch (replayed whole from an older dead-letter queue) is stored as a batch", async () => {
  const team = await createTeamRow(fixture.pool);
  const events = [makeEvent(team, 1), makeEvent(team, 2)];
  await queue.add(AUDIT_JOBS.event, { events }, { jobId: `replay-${randomUUID()}` });
  await waitFor(async () => (await countEvents(fixture.pool, team)) === 2, 20_000, "the batch");
  expect((await queue.getJobCounts("failed")).failed).toBe(0);
});

test("an event PostgreSQL refuses on its own is dead-lettered with the database's reason; its neighbours are stored", async () => {
  const team = await createTeamRow(fixture.pool);
  // Stand-in for any per-row refusal: a constraint only this event breaks.
  await fixture.pool.query(`ALTER TABLE audit_events ADD CONSTRAINT test_refused_tool CHECK (tool IS DISTINCT FROM 'refuse-me')`);
  const dlq = new Queue(QUEUES.auditDeadLetter, { connection: { url: testRedisUrl() }, prefix: fixture.prefix });
  try {
    const good = [makeEvent(team, 1), makeEvent(team, 2)];
    const refused = { ...makeEvent(team, 3), tool: "refuse-me" };
    await queue.add(AUDIT_JOBS.batch, { events: [good[0], refused, good[1]] }, { jobId: `batch-${randomUUID()}`, attempts: 3 });
    await waitFor(async () => (await countEvents(fixture.pool, team)) === 2, 20_000, "the stored neighbours");
    const letter = await waitFor(async () => dlq.getJob(refused.id), 20_000, "the refused event's letter");
    expect(letter.data.failedReason).toMatch(/could not be stored: .*test_refused_tool/);
    expect((await queue.getJobCounts("failed")).failed).toBe(0);

    // When nothing of a batch can be stored the cause is not one event: the job is retried, not dead-lettered.
    const allRefused = [{ ...makeEvent(team, 4), tool: "refuse-me" }, { ...makeEvent(team, 5), tool: "refuse-me" }];
    const jobId = `batch-${randomUUID()}`;
    await queue.add(AUDIT_JOBS.batch, { events: allRefused }, { jobId, attempts: 5, backoff: { type: "fixed", delay: 60_000 } });
    await waitFor(async () => ((await queue.getJob(jobId))?.attemptsMade ?? 0) >= 1, 20_000, "a failed attempt");
    expect(await dlq.getJob(allRefused[0]!.id)).toBeUndefined();
    expect(await queue.getJobState(jobId)).toBe("delayed");
  } finally {
    await fixture.pool.query(`ALTER TABLE audit_events DROP CONSTRAINT test_refused_tool`);
    await dlq.close();
  }
});
