/**
 * Helpers for producers of the worker's jobs (the dashboard's server actions, the CLI), importable
 * as `@portcullis/worker/enqueue`. They carry the job options the worker expects — retries with
 * backoff, bounded history — so callers need not know them. Each takes the caller's BullMQ Queue
 * (one per process, created with the same `prefix` as the worker's QUEUE_PREFIX).
 */
import { AUDIT_JOBS, type DescriptionsJob, type IntrospectionJob, QUEUES, descriptionsJobSchema, introspectionJobSchema } from "@portcullis/jobs";
import type { Job, Queue } from "bullmq";
import type { DeadLetter } from "./processors/dead-letter.js";
import type { DescriptionsProgress } from "./processors/descriptions.js";

export type { DeadLetter, DescriptionsProgress };

/** Queues a schema snapshot (reason "created" on connection creation, "on_demand" from the dashboard). */
export async function enqueueIntrospection(queue: Queue, job: IntrospectionJob): Promise<string> {
  const data = introspectionJobSchema.parse(job);
  const added = await queue.add("introspect", data, {
    attempts: 3,
    backoff: { type: "exponential", delay: 10_000 },
    removeOnComplete: { count: 500 },
    removeOnFail: { count: 500 },
  });
  return added.id!;
}

/**
 * Queues AI (or offline) descriptions for a connection, all tables or some. Returns the job id, to
 * poll with `getDescriptionsStatus` for the progress bar.
 */
export async function enqueueDescriptions(queue: Queue, job: DescriptionsJob): Promise<string> {
  const data = descriptionsJobSchema.parse(job);
  const added = await queue.add("describe", data, {
    attempts: 3,
    backoff: { type: "exponential", delay: 30_000 },
    removeOnComplete: { count: 200 },
    removeOnFail: { count: 500 },
  });
  return added.id!;
}

export interface DescriptionsStatus {
  state: "waiting" | "active" | "completed" | "failed" | "delayed" | "unknown";
  progress: DescriptionsProgress | null;
  /** Why the last attempt failed (e.g. "describing public.track failed after 3 attempt(s): AI provider rate limit (HTTP 429)…"). */
  failedReason: string | null;
  attemptsMade: number;
}

export async function getDescriptionsStatus(queue: Queue, jobId: string): Promise<DescriptionsStatus | null> {
  const job = await queue.getJob(jobId);
  if (!job) return null;
  const state = await job.getState();
  const known = ["waiting", "active", "completed", "failed", "delayed"] as const;
  return {
    state: (known as readonly string[]).includes(state) ? (state as DescriptionsStatus["state"]) : state === "prioritized" ? "waiting" : "unknown",
    progress: typeof job.progress === "object" ? (job.progress as unknown as DescriptionsProgress) : null,
    failedReason: job.failedReason || null,
    attemptsMade: job.attemptsMade,
  };
}

/** Dead-lettered audit events, newest first, for the dashboard (queue = QUEUES.auditDeadLetter). */
export async function listDeadLetters(deadLetterQueue: Queue, start = 0, end = 49): Promise<{ id: string; letter: DeadLetter }[]> {
  const jobs = (await deadLetterQueue.getJobs(["waiting", "delayed"], start, end, false)).filter(Boolean) as Job<DeadLetter>[];
  return jobs.map((job) => ({ id: job.id!, letter: job.data }));
}

export async function countDeadLetters(deadLetterQueue: Queue): Promise<number> {
  const counts = await deadLetterQueue.getJobCounts("waiting", "delayed");
  return (counts.waiting ?? 0) + (counts.delayed ?? 0);
}

/**
 * Sends dead-lettered events back to the audit queue (after the cause is fixed). Safe to repeat:
 * ingestion is idempotent on event id. Returns how many were replayed.
 */
export async function replayDeadLetters(deadLetterQueue: Queue, auditQueue: Queue, ids?: string[]): Promise<number> {
  if (auditQueue.name !== QUEUES.audit) throw new Error(`replayDeadLetters needs the ${QUEUES.audit} queue`);
  const jobs = ids
    ? ((await Promise.all(ids.map((id) => deadLetterQueue.getJob(id)))).filter(Boolean) as Job<DeadLetter>[])
    : ((await deadLetterQueue.getJobs(["waiting", "delayed"], 0, 999, true)).filter(Boolean) as Job<DeadLetter>[]);
  // In chunks, each one round trip to add and one to remove: a team's dead-letter queue can hold
  // thousands of events after an outage, and the dashboard waits for this.
  for (let i = 0; i < jobs.length; i += 500) {
    const chunk = jobs.slice(i, i + 500);
    await auditQueue.addBulk(
      chunk.map((job) => ({
        name: AUDIT_JOBS.event,
        data: job.data.event,
        opts: { jobId: job.id, attempts: 10, backoff: { type: "exponential" as const, delay: 1000 }, removeOnComplete: true, removeOnFail: false },
      })),
    );
    await Promise.all(chunk.map((job) => job.remove()));
  }
  return jobs.length;
}
