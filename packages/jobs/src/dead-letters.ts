import type { Job, Queue } from "bullmq";
import { AUDIT_REPLAY_JOB, type DeadLetter } from "./definitions.js";
import { JobContractError, enqueueBulk } from "./enqueue.js";

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
  if (auditQueue.name !== AUDIT_REPLAY_JOB.queue) throw new JobContractError(`replayDeadLetters needs the ${AUDIT_REPLAY_JOB.queue} queue`);
  const jobs = ids
    ? ((await Promise.all(ids.map((id) => deadLetterQueue.getJob(id)))).filter(Boolean) as Job<DeadLetter>[])
    : ((await deadLetterQueue.getJobs(["waiting", "delayed"], 0, 999, true)).filter(Boolean) as Job<DeadLetter>[]);
  // In chunks, each one round trip to add and one to remove: a team's dead-letter queue can hold
  // thousands of events after an outage, and the dashboard waits for this. A letter whose event is not
  // even an object cannot become an audit job: it stays a dead letter rather than blocking the rest.
  let replayed = 0;
  for (let i = 0; i < jobs.length; i += 500) {
    const chunk = jobs.slice(i, i + 500).filter((job) => AUDIT_REPLAY_JOB.schema.safeParse(job.data.event).success);
    await enqueueBulk(
      auditQueue,
      AUDIT_REPLAY_JOB,
      chunk.map((job) => ({ data: job.data.event as Record<string, unknown>, extras: { jobId: job.id } })),
    );
    await Promise.all(chunk.map((job) => job.remove()));
    replayed += chunk.length;
  }
  return replayed;
}
