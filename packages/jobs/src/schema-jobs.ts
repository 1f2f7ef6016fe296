import type { Queue } from "bullmq";
import { DESCRIPTIONS_JOB, INTROSPECTION_JOB } from "./definitions.js";
import { enqueue } from "./enqueue.js";
import type { DescriptionsJob, IntrospectionJob } from "./queues.js";

/** Queues a schema snapshot (reason "created" on connection creation, "on_demand" from the dashboard). */
export async function enqueueIntrospection(queue: Queue, job: IntrospectionJob): Promise<string> {
  return enqueue(queue, INTROSPECTION_JOB, job);
}

/**
 * Queues AI (or offline) descriptions for a connection, all tables or some. Returns the job id, to
 * poll with `getDescriptionsStatus` for the progress bar.
 */
export async function enqueueDescriptions(queue: Queue, job: DescriptionsJob): Promise<string> {
  return enqueue(queue, DESCRIPTIONS_JOB, job);
}

/** What a descriptions job reports as its progress (the worker writes it, the Schema page reads it). */
export interface DescriptionsProgress {
  total: number;
  done: number;
  /** "schema.table" being described now. */
  current: string | null;
  /** Tables finished by this job, kept across retries so a retry resumes where it failed. */
  completed: string[];
  source: "ai" | "heuristic";
  model: string | null;
  /** The last failed attempt on the current table while it is being retried. */
  lastError?: string;
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
