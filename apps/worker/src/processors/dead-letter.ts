import type { Job, Queue } from "bullmq";
import { DEAD_LETTER_JOB, isAuditBatchJob, type DeadLetter } from "@portcullis/jobs";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";

/** What a dead-lettered audit job holds: the contract is in @portcullis/jobs (the dashboard lists and replays them). */
export type { DeadLetter };

/**
 * Dead-letters events of one audit job, one letter each: the dashboard shows letters per team, and a
 * batch job holds events of many teams. A letter's id is its event's id when the event has a usable
 * one (so sweeping or validating twice adds nothing), else the job id and the event's position.
 */
export async function deadLetterEvents(
  deadLetter: Queue,
  sourceQueue: string,
  origin: { jobId: string | undefined; attemptsMade: number; failedAt: string },
  events: { event: unknown; index: number; reason: string }[],
): Promise<void> {
  await deadLetter.addBulk(
    events.map(({ event, index, reason }) => {
      const id = (event as { id?: unknown } | null)?.id;
      const letter: DeadLetter = { event, failedReason: reason, attemptsMade: origin.attemptsMade, failedAt: origin.failedAt, sourceQueue };
      const jobId = typeof id === "string" && /^[0-9a-f-]{36}$/i.test(id) ? id.toLowerCase() : `${origin.jobId}-${index}`;
      return { name: DEAD_LETTER_JOB.name, data: letter, opts: { ...DEAD_LETTER_JOB.options, jobId } };
    }),
  );
}

/** Where a failed job's letters come from: its id, attempts and when it finally failed. */
export function failedJob(job: Job): { jobId: string | undefined; attemptsMade: number; failedAt: string } {
  return { jobId: job.id, attemptsMade: job.attemptsMade, failedAt: new Date(job.finishedOn ?? Date.now()).toISOString() };
}

/** The events a failed audit job carried: a batch job's events, or the single event job's data. */
function eventsOf(job: Job): unknown[] {
  const events = (job.data as { events?: unknown } | null)?.events;
  return isAuditBatchJob(job.name, job.data) && Array.isArray(events) ? events : [job.data];
}

/**
 * Moves audit jobs that failed for good from the audit queue's failed set to QUEUES.auditDeadLetter
 * (one letter per event, see `deadLetterEvents`, so a second sweep of the same job adds nothing).
 * The failed set itself is the source of truth, so an event whose final failure happened while this process died is still moved
 * by the next sweep. Dead letters have no consumer: the dashboard lists them and an operator replays
 * them (`replayDeadLetters` in @portcullis/jobs) once the cause is fixed.
 */
export async function sweepFailedAuditJobs(audit: Queue, deadLetter: Queue, metrics?: Metrics, logger?: Logger): Promise<number> {
  let moved = 0;
  await splitBatchLetters(deadLetter, logger);
  for (;;) {
    const failed = (await audit.getFailed(0, 199)).filter(Boolean);
    if (failed.length === 0) return moved;
    for (const job of failed) {
      if (!job.id) continue;
      const reason = job.failedReason || "unknown";
      const events = eventsOf(job);
      await deadLetterEvents(deadLetter, audit.name, failedJob(job), events.map((event, index) => ({ event, index, reason })));
      await job.remove();
      moved += events.length;
      metrics?.auditDeadLettered.inc(events.length);
    }
    logger?.warn({ count: failed.length }, "audit events moved to the dead-letter queue");
  }
}

/** The id an older worker gave a batch it dead-lettered whole: the batch job's own id. */
const WHOLE_BATCH_LETTER = /^batch-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Workers older than batch jobs dead-lettered a whole batch as one letter, which no team's dashboard
 * lists (the events of a batch belong to many teams). Such letters are split into one letter per
 * event, keeping their reason, so each team sees and replays its own. Only ids are scanned (every
 * sweep, so letters from older workers still running during an upgrade are caught too).
 */
async function splitBatchLetters(deadLetter: Queue, logger?: Logger): Promise<void> {
  const ids = (await deadLetter.getRanges(["waiting", "delayed"], 0, -1)).filter((id) => WHOLE_BATCH_LETTER.test(id));
  let split = 0;
  for (const id of ids) {
    const letter = (await deadLetter.getJob(id)) as Job<DeadLetter> | undefined;
    const events = (letter?.data.event as { events?: unknown } | null | undefined)?.events;
    if (!letter || !isAuditBatchJob("", letter.data.event) || !Array.isArray(events)) continue;
    const origin = { jobId: letter.id, attemptsMade: letter.data.attemptsMade, failedAt: letter.data.failedAt };
    await deadLetterEvents(deadLetter, letter.data.sourceQueue, origin, events.map((event, index) => ({ event, index, reason: letter.data.failedReason })));
    await letter.remove();
    split++;
  }
  if (split) logger?.warn({ letters: split }, "batch dead letters split into one letter per event");
}
