import { randomBytes, randomUUID } from "node:crypto";
import { Queue, type Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  AUDIT_EVENT_JOB,
  AUDIT_JOB_OPTIONS,
  DESCRIPTIONS_JOB,
  INTROSPECTION_JOB,
  JOB_DEFINITIONS,
  JobContractError,
  NOTIFICATION_JOB,
  QUEUES,
  auditBatchJobs,
  enqueue,
  enqueueBulk,
  enqueueDescriptions,
  enqueueIntrospection,
  notificationJobOptions,
  parseJob,
  replayDeadLetters,
  scheduledIntrospectionJobId,
} from "../src/index.js";

/**
 * The contract judged in real Redis: what a producer adds carries its kind's options and id, and a
 * payload that does not parse never reaches the queue (so a worker never meets it).
 */
const url = process.env.TEST_REDIS_URL;
if (!url) throw new Error("TEST_REDIS_URL is not set: run through vitest's integration project or source scripts/test-services.sh");
const prefix = `jobs${randomBytes(4).toString("hex")}`;
const queues = new Map<string, Queue>();
const q = (name: string) => {
  let queue = queues.get(name);
  if (!queue) queues.set(name, (queue = new Queue(name, { prefix, connection: { url } })));
  return queue;
};
const stored = async (queue: Queue, id: string): Promise<Job> => {
  const job = await queue.getJob(id);
  if (!job) throw new Error(`job ${id} is not in ${queue.name}`);
  return job;
};
const count = async (queue: Queue) => Object.values(await queue.getJobCounts()).reduce((a, b) => a + b, 0);

function auditEvent(id = randomUUID()) {
  return { id, time: new Date().toISOString(), teamId: randomUUID(), kind: "oauth_grant" as const, verdict: "allowed" as const, tables: [], durationMs: 0 };
}

beforeAll(async () => {
  await Promise.all(Object.values(QUEUES).map((name) => q(name).waitUntilReady()));
});
afterAll(async () => {
  await Promise.all([...queues.values()].map(async (queue) => (await queue.obliterate({ force: true }), await queue.close())));
});

describe("job contracts in Redis", () => {
  test("the dashboard's introspection and descriptions jobs carry their kind's options; bad payloads are refused, nothing added", async () => {
    const connectionId = randomUUID();
    const introspection = await stored(q(QUEUES.introspection), await enqueueIntrospection(q(QUEUES.introspection), { connectionId, reason: "on_demand" }));
    expect(introspection.name).toBe("introspect");
    expect(introspection.data).toEqual({ connectionId, reason: "on_demand" });
    expect(introspection.opts).toMatchObject({ attempts: 3, backoff: { type: "exponential", delay: 10_000 }, removeOnComplete: { count: 500 }, removeOnFail: { count: 500 } });

    const describe = await stored(q(QUEUES.descriptions), await enqueueDescriptions(q(QUEUES.descriptions), { connectionId, tables: ["public.track"] }));
    expect(describe.opts).toMatchObject({ attempts: 3, backoff: { type: "exponential", delay: 30_000 }, removeOnComplete: { count: 200 }, removeOnFail: { count: 500 } });

    const before = await count(q(QUEUES.introspection));
    await expect(enqueueIntrospection(q(QUEUES.introspection), { connectionId: "not-a-uuid", reason: "on_demand" })).rejects.toThrow(JobContractError);
    // A reason no consumer knows, smuggled past the type checker.
    await expect(enqueueIntrospection(q(QUEUES.introspection), { connectionId, reason: "drop_everything" as "on_demand" })).rejects.toThrow(/reason/);
    await expect(enqueueDescriptions(q(QUEUES.descriptions), { connectionId, tables: "public.track" as unknown as string[] })).rejects.toThrow(/tables/);
    expect(await count(q(QUEUES.introspection))).toBe(before);
  });

  test("a job is refused on a queue its kind does not belong to", async () => {
    const before = await count(q(QUEUES.audit));
    await expect(enqueue(q(QUEUES.audit), INTROSPECTION_JOB, { connectionId: randomUUID(), reason: "created" })).rejects.toThrow(/belong on schema-introspection/);
    await expect(enqueueDescriptions(q(QUEUES.introspection), { connectionId: randomUUID() })).rejects.toThrow(JobContractError);
    expect(await count(q(QUEUES.audit))).toBe(before);
  });

  test("the worker's scheduled fan-out adds one job per connection per hour, with the introspection options", async () => {
    const ids = [randomUUID(), randomUUID()];
    const at = new Date("2026-12-07T10:15:00Z");
    const items = ids.map((connectionId) => ({ data: { connectionId, reason: "scheduled" as const }, extras: { jobId: scheduledIntrospectionJobId(connectionId, at) } }));
    const first = await enqueueBulk(q(QUEUES.introspection), INTROSPECTION_JOB, items);
    const again = await enqueueBulk(q(QUEUES.introspection), INTROSPECTION_JOB, items);
    expect(first).toEqual(ids.map((id) => `scheduled-${id}-2026-12-07T10`));
    expect(again).toEqual(first);
    const job = await stored(q(QUEUES.introspection), first[0]!);
    expect(job.opts).toMatchObject({ attempts: 3, backoff: { delay: 10_000 } });
    // One bad payload in a bulk refuses the bulk before anything is added.
    const bad = [{ data: { connectionId: randomUUID(), reason: "scheduled" as const } }, { data: { connectionId: "x", reason: "scheduled" as const } }];
    const before = await count(q(QUEUES.introspection));
    await expect(enqueueBulk(q(QUEUES.introspection), INTROSPECTION_JOB, bad)).rejects.toThrow(JobContractError);
    expect(await count(q(QUEUES.introspection))).toBe(before);
  });

  test("audit jobs from every producer carry the same never-dropped options and their id rule", async () => {
    const audit = q(QUEUES.audit);
    // The gateway's flush.
    const events = [auditEvent(), auditEvent(), auditEvent()];
    await audit.addBulk(auditBatchJobs(events, 2));
    const batch = await stored(audit, `batch-${events[0]!.id}`);
    expect(batch.data.events).toHaveLength(2);
    expect(batch.opts).toMatchObject({ attempts: 10, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: true, removeOnFail: false });
    expect((await stored(audit, `batch-${events[2]!.id}`)).opts.attempts).toBe(10);
    // A chunk over the batch limit is refused before it reaches Redis (the worker would refuse it whole).
    expect(() => auditBatchJobs(Array.from({ length: 501 }, () => auditEvent()), 501)).toThrow();

    // The OAuth server's single event: job id = event id, a repeat adds nothing.
    const event = auditEvent();
    expect(await enqueue(audit, AUDIT_EVENT_JOB, event)).toBe(event.id);
    expect(await enqueue(audit, AUDIT_EVENT_JOB, event)).toBe(event.id);
    expect((await stored(audit, event.id)).opts).toMatchObject(AUDIT_JOB_OPTIONS);
    const before = await count(audit);
    await expect(enqueue(audit, AUDIT_EVENT_JOB, { ...auditEvent(), kind: "not_a_kind" as "oauth_grant" })).rejects.toThrow(JobContractError);
    await expect(enqueue(audit, AUDIT_EVENT_JOB, { ...auditEvent(), id: "not-a-uuid" })).rejects.toThrow(JobContractError);
    expect(await count(audit)).toBe(before);
  });

  test("a dead-letter replay goes back with the audit options; a letter that cannot be a job stays a letter", async () => {
    const letters = q(QUEUES.auditDeadLetter);
    const good = auditEvent();
    const letter = (event: unknown) => ({ event, failedReason: "relation audit_events does not exist", attemptsMade: 10, failedAt: new Date().toISOString(), sourceQueue: QUEUES.audit });
    await letters.add("dead-letter", letter(good), { jobId: good.id });
    await letters.add("dead-letter", letter("just a string"), { jobId: "odd-0" });
    expect(await replayDeadLetters(letters, q(QUEUES.audit), [good.id, "odd-0"])).toBe(1);
    const replayed = await stored(q(QUEUES.audit), good.id);
    expect(replayed.name).toBe("audit-event");
    expect(replayed.data).toEqual(good);
    expect(replayed.opts).toMatchObject(AUDIT_JOB_OPTIONS);
    expect(await letters.getJob(good.id)).toBeUndefined();
    expect((await letters.getJob("odd-0"))?.data.event).toBe("just a string");
    await expect(replayDeadLetters(letters, q(QUEUES.introspection))).rejects.toThrow(JobContractError);
  });

  test("a notification delivery is one job per delivery id, with the worker's backoff base", async () => {
    const data = { deliveryId: randomUUID(), teamId: randomUUID() };
    const id = await enqueue(q(QUEUES.notifications), NOTIFICATION_JOB, data, { backoff: { type: "exponential", delay: 50 } });
    expect(id).toBe(data.deliveryId);
    await q(QUEUES.notifications).addBulk([{ name: NOTIFICATION_JOB.name, data, opts: notificationJobOptions(data.deliveryId, 50) }]);
    expect(await count(q(QUEUES.notifications))).toBe(1);
    expect((await stored(q(QUEUES.notifications), id)).opts).toMatchObject({ attempts: 6, backoff: { type: "exponential", delay: 50 }, removeOnFail: { age: 604_800 } });
  });

  test("consumers parse with the producer's schema", () => {
    expect(parseJob(DESCRIPTIONS_JOB, { data: { connectionId: randomUUID() } }).success).toBe(true);
    expect(parseJob(DESCRIPTIONS_JOB, { data: { connectionId: randomUUID(), tables: [1] } }).success).toBe(false);
    expect(parseJob(INTROSPECTION_JOB, { data: {} }).success).toBe(false);
  });

  test("every retried kind backs off, and no audit kind is removed when it fails", () => {
    for (const def of JOB_DEFINITIONS) {
      if ((def.options.attempts ?? 1) > 1) expect(def.options.backoff, def.name).toBeDefined();
      if (def.queue === QUEUES.audit || def.queue === QUEUES.auditDeadLetter) expect(def.options.removeOnFail, def.name).toBe(false);
    }
  });
});
