import type { Queue } from "bullmq";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";

/** What a dead-lettered audit job holds: the event as produced, and why it could not be stored. */
export interface DeadLetter {
  event: unknown;
  failedReason: string;
  attemptsMade: number;
  failedAt: string;
  sourceQueue: string;
}

/**
 * Moves audit jobs that failed for good from the audit queue's failed set to QUEUES.auditDeadLetter
 * (job id = event id, so a second sweep of the same job adds nothing). The failed set itself is the
 * source of truth, so an event whose final failure happened while this process died is still moved
 * by the next sweep. Dead letters have no consumer: the dashboard lists them and an operator replays
 * them (`replayDeadLetters` in ../enqueue.ts) once the cause is fixed.
 */
export async function sweepFailedAuditJobs(audit: Queue, deadLetter: Queue, metrics?: Metrics, logger?: Logger): Promise<number> {
  let moved = 0;
  for (;;) {
    const failed = (await audit.getFailed(0, 199)).filter(Boolean);
    if (failed.length === 0) return moved;
    for (const job of failed) {
      if (!job.id) continue;
      const letter: DeadLetter = {
        event: job.data,
        failedReason: job.failedReason ?? "unknown",
        attemptsMade: job.attemptsMade,
        failedAt: new Date(job.finishedOn ?? Date.now()).toISOString(),
        sourceQueue: audit.name,
      };
      await deadLetter.add("dead-letter", letter, { jobId: job.id, removeOnComplete: false, removeOnFail: false });
      await job.remove();
      moved++;
      metrics?.auditDeadLettered.inc();
    }
    logger?.warn({ count: failed.length }, "audit events moved to the dead-letter queue");
  }
}
