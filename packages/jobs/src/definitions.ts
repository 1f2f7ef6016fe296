import type { JobsOptions } from "bullmq";
import { z } from "zod";
import { auditEventSchema } from "./audit-event.js";
import {
  AUDIT_BATCH_MAX_EVENTS,
  AUDIT_JOBS,
  QUEUES,
  auditBatchJobSchema,
  descriptionsJobSchema,
  housekeepingJobSchema,
  introspectionJobSchema,
  notificationJobSchema,
} from "./queues.js";

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** The options a definition fixes; the job id comes from its rule (or the caller, where the rule says so). */
export type JobOptions = Omit<JobsOptions, "jobId">;

/**
 * One job kind's contract, apart from its handler: where it goes, what it is called, what it carries,
 * how it is retried and kept, and how its id is chosen. Producers enqueue through it (`enqueue`, which
 * parses the payload first) and the worker's processor parses with the same `schema`.
 */
export interface JobDefinition<S extends z.ZodType = z.ZodType, N extends string = string> {
  queue: QueueName;
  name: N;
  schema: S;
  options: Readonly<JobOptions>;
  /** The job id for a payload; absent: BullMQ numbers the job (or the caller passes one, see each kind). */
  jobId?: (data: z.output<S>) => string;
}

function defineJob<S extends z.ZodType, N extends string>(def: JobDefinition<S, N>): JobDefinition<S, N> {
  return Object.freeze(def);
}

/**
 * Every audit job, from every producer (gateway batches, the OAuth server's events, dead-letter
 * replays). An audit event must never be dropped: many attempts (10, exponential from 1 s, so the
 * last is about 8.5 minutes after the first — a PostgreSQL restart or failover fits inside), and a
 * job that fails them all is kept (removeOnFail: false) so the worker's sweep moves it to the dead
 * letters instead of it vanishing. Done jobs are removed at once: the table, not Redis, is the record.
 * The gateway, the OAuth sink and the replay used to write these out separately; they agreed, now
 * they cannot drift.
 */
export const AUDIT_JOB_OPTIONS: Readonly<JobOptions> = Object.freeze({
  attempts: 10,
  backoff: { type: "exponential", delay: 1000 },
  removeOnComplete: true,
  removeOnFail: false,
});

function auditBatchJobId(data: { events: unknown[] }): string {
  return `batch-${(data.events[0] as { id: string }).id}`;
}

/** The gateway's flush: job id from the first event's id, so resending a chunk still queued adds nothing. */
export const AUDIT_BATCH_JOB = defineJob({
  queue: QUEUES.audit,
  name: AUDIT_JOBS.batch,
  schema: auditBatchJobSchema,
  options: AUDIT_JOB_OPTIONS,
  jobId: auditBatchJobId,
});

/** One event (the OAuth server's, a handful per sign-in): job id = event id, so a retried add is a no-op. */
export const AUDIT_EVENT_JOB = defineJob({
  queue: QUEUES.audit,
  name: AUDIT_JOBS.event,
  schema: auditEventSchema,
  options: AUDIT_JOB_OPTIONS,
  jobId: (data) => data.id,
});

/**
 * A dead letter sent back to the audit queue. Its data is whatever was dead-lettered — possibly an
 * event the schema refused, or an older worker's whole batch — so only "an object" is checked here:
 * the consumer validates it as it validates any audit job and dead-letters it again if still refused.
 * The job id is the letter's id (the caller passes it).
 */
export const AUDIT_REPLAY_JOB = defineJob({
  queue: QUEUES.audit,
  name: AUDIT_JOBS.event,
  schema: z.record(z.string(), z.unknown()),
  options: AUDIT_JOB_OPTIONS,
});

/** What a dead-lettered audit job holds: the event as produced, and why it could not be stored. */
export const deadLetterSchema = z.object({
  event: z.unknown(),
  failedReason: z.string(),
  attemptsMade: z.number().int().min(0),
  failedAt: z.string(),
  sourceQueue: z.string(),
});
export type DeadLetter = z.infer<typeof deadLetterSchema> & { event: unknown };

/**
 * Dead letters have no consumer: they wait, never removed by BullMQ, for the dashboard to list and an
 * operator to replay. Job id: the event id when usable, else source job id and position (caller's).
 */
export const DEAD_LETTER_JOB = defineJob({
  queue: QUEUES.auditDeadLetter,
  name: "dead-letter",
  schema: deadLetterSchema,
  options: Object.freeze({ removeOnComplete: false, removeOnFail: false }),
});

/**
 * A schema snapshot, from the dashboard (created, on demand) or the worker's hourly fan-out
 * (scheduled; job id from `scheduledIntrospectionJobId`). A few attempts: a snapshot that fails three
 * times 10 s / 20 s apart is a wrong password or an unreachable host, which a retry storm won't fix and
 * the next hour's run retries anyway. The two producers already agreed on this.
 */
export const INTROSPECTION_JOB = defineJob({
  queue: QUEUES.introspection,
  name: "introspect",
  schema: introspectionJobSchema,
  options: Object.freeze({
    attempts: 3,
    backoff: { type: "exponential", delay: 10_000 },
    removeOnComplete: { count: 500 },
    removeOnFail: { count: 500 },
  }),
});

/** One scheduled run per connection per hour, however many workers fire the fan-out. */
export function scheduledIntrospectionJobId(connectionId: string, at: Date): string {
  return `scheduled-${connectionId}-${at.toISOString().slice(0, 13)}`;
}

/** The repeatable job that fans out one `INTROSPECTION_JOB` per connection (no payload). */
export const INTROSPECT_ALL_JOB = defineJob({
  queue: QUEUES.introspection,
  name: "introspect-all",
  schema: z.object({}),
  options: Object.freeze({}),
});

/**
 * AI descriptions of a connection's tables. The dashboard used 3 attempts 30 s apart, the worker's
 * own enqueue after a snapshot 5 attempts 5 s apart. 3 × 30 s is right: every table already gets 3
 * tries with backoff inside the job, so a job-level failure is a provider that stayed down or rate-
 * limited through those — 5 s later it still is, and each attempt spends tokens on the tables the
 * previous one did not finish.
 */
export const DESCRIPTIONS_JOB = defineJob({
  queue: QUEUES.descriptions,
  name: "describe",
  schema: descriptionsJobSchema,
  options: Object.freeze({
    attempts: 3,
    backoff: { type: "exponential", delay: 30_000 },
    removeOnComplete: { count: 200 },
    removeOnFail: { count: 500 },
  }),
});

/**
 * Housekeeping tasks, only ever from the worker's own schedulers, which name each job after its task
 * (the processor dispatches on the payload, so `name` here is only the default). Not retried: the next
 * tick runs the same task; bounded history, as the worker's own options kept it.
 */
export const HOUSEKEEPING_JOB = defineJob({
  queue: QUEUES.housekeeping,
  name: "housekeeping",
  schema: housekeepingJobSchema,
  options: Object.freeze({ removeOnComplete: { count: 50 }, removeOnFail: { count: 200 } }),
});

/** Attempts per delivery: with a 2 s base the last retry comes about a minute after the first try. */
export const NOTIFICATION_ATTEMPTS = 6;

/**
 * A notification delivery. The job id is the delivery id, so enqueueing the same delivery twice (the
 * fan-out and the re-enqueue pass racing, two workers) adds one job while the first is kept. The
 * backoff base is the worker's NOTIFY_RETRY_BASE_MS (default 2 s), passed by the caller.
 */
export const NOTIFICATION_JOB = defineJob({
  queue: QUEUES.notifications,
  name: "deliver",
  schema: notificationJobSchema,
  options: Object.freeze({
    attempts: NOTIFICATION_ATTEMPTS,
    backoff: { type: "exponential", delay: 2000 },
    // Kept for a day after completion so a late re-enqueue of the same id is still a no-op.
    removeOnComplete: { age: 86_400, count: 10_000 },
    removeOnFail: { age: 7 * 86_400 },
  }),
  jobId: (data) => data.deliveryId,
});

/**
 * The audit sinks' tick (no payload): every AUDIT_EXPORT_POLL_MS the worker's scheduler adds one, and
 * whichever worker takes it delivers the due sinks it can lease. Not retried and kept briefly: the next
 * tick is the retry, and each sink's own backoff lives in its row, not in Redis.
 */
export const AUDIT_EXPORT_TICK_JOB = defineJob({
  queue: QUEUES.auditExport,
  name: "audit-export-tick",
  schema: z.object({}),
  options: Object.freeze({ removeOnComplete: { count: 20 }, removeOnFail: { count: 100 } }),
});

export const JOB_DEFINITIONS = [
  AUDIT_BATCH_JOB,
  AUDIT_EVENT_JOB,
  AUDIT_REPLAY_JOB,
  DEAD_LETTER_JOB,
  INTROSPECTION_JOB,
  INTROSPECT_ALL_JOB,
  DESCRIPTIONS_JOB,
  HOUSEKEEPING_JOB,
  NOTIFICATION_JOB,
  AUDIT_EXPORT_TICK_JOB,
] as const;

/** The options of a delivery's job, with the worker's configured backoff base. */
export function notificationJobOptions(deliveryId: string, backoffBaseMs: number): JobsOptions {
  return { ...NOTIFICATION_JOB.options, backoff: { type: "exponential", delay: backoffBaseMs }, jobId: deliveryId };
}

/**
 * Audit events as `AUDIT_BATCH_JOB` jobs of at most `perJob` events, each with the audit options and
 * its id rule (for `Queue.addBulk`). Any repeat beyond a chunk still queued is dropped by the worker,
 * which stores each event id once.
 */
export function auditBatchJobs<E extends { id: string }>(events: E[], perJob = AUDIT_BATCH_MAX_EVENTS): { name: string; data: { events: E[] }; opts: JobsOptions & { jobId: string } }[] {
  const jobs = [];
  for (let i = 0; i < events.length; i += perJob) {
    const data = { events: events.slice(i, i + perJob) };
    // The shape check only (1..500 events); each event is validated by the worker, where a bad one is
    // dead-lettered on its own instead of failing its whole batch here.
    AUDIT_BATCH_JOB.schema.parse(data);
    jobs.push({ name: AUDIT_BATCH_JOB.name, data, opts: { ...AUDIT_BATCH_JOB.options, jobId: auditBatchJobId(data) } });
  }
  return jobs;
}
