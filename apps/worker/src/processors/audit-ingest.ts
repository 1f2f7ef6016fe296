import { ingestAuditBatch, type AuditEventInput } from "@portcullis/db/audit";
import { QUEUES, auditEventSchema } from "@portcullis/jobs";
import { UnrecoverableError, Worker, type ConnectionOptions, type Job } from "bullmq";
import type pg from "pg";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { backoffDelay, isTransientDbError, sleep } from "../retry.js";

interface Pending {
  event: AuditEventInput;
  resolve: () => void;
  reject: (error: Error) => void;
}

export interface AuditBatcherOptions {
  pool: pg.Pool;
  batchSize: number;
  batchWaitMs: number;
  /** Batches written concurrently (each holds one pooled connection); teams are sharded across them. */
  writers: number;
  /** In-process retries of a batch on transient database errors, before the jobs themselves fail. */
  transientRetries?: number;
  metrics?: Metrics;
  logger?: Logger;
}

/** One writer's share of the teams: its own pending events, timer, and at most one batch in flight. */
interface Shard {
  pending: Pending[];
  timer: NodeJS.Timeout | undefined;
  writing: boolean;
}

/**
 * Gathers events from many concurrently active BullMQ jobs into one database write. Each job's
 * promise settles when the batch holding its event commits (or finally fails), so BullMQ marks a
 * job completed only once its event is durable: a crash at any point leaves the job active, the
 * stalled-job check returns it to the queue, and the id-idempotent write skips what was stored.
 *
 * Events are sharded by team across the writers: a batch locks the chain heads of its teams until
 * it commits, so two writers holding batches of the same teams would simply take turns. With each
 * team always on the same writer, writers run in parallel whenever there is more than one team.
 */
export class AuditBatcher {
  private readonly shards: Shard[];
  private readonly idle = new Set<() => void>();
  private readonly stop = new AbortController();

  constructor(private readonly opts: AuditBatcherOptions) {
    this.shards = Array.from({ length: Math.max(1, opts.writers) }, () => ({ pending: [], timer: undefined, writing: false }));
  }

  private shardOf(teamId: string): Shard {
    // The first 8 hex digits of a UUID are as good as any hash for spreading teams.
    const n = Number.parseInt(teamId.slice(0, 8), 16);
    return this.shards[(Number.isNaN(n) ? 0 : n) % this.shards.length]!;
  }

  add(event: AuditEventInput): Promise<void> {
    return new Promise((resolve, reject) => {
      const shard = this.shardOf(event.teamId);
      shard.pending.push({ event, resolve, reject });
      if (shard.pending.length >= this.opts.batchSize) this.pump(shard);
      else shard.timer ??= setTimeout(() => this.pump(shard, true), this.opts.batchWaitMs);
    });
  }

  /** Writes a full batch if the shard's writer is free; `force` also writes a partial one. */
  private pump(shard: Shard, force = false): void {
    if (force) {
      clearTimeout(shard.timer);
      shard.timer = undefined;
    }
    if (shard.writing) return;
    if (shard.pending.length >= this.opts.batchSize || (force && shard.pending.length > 0)) {
      const batch = shard.pending.splice(0, this.opts.batchSize);
      shard.writing = true;
      void this.write(batch).finally(() => {
        shard.writing = false;
        // Events that arrived while the writer was busy go out now, full batch or not.
        this.pump(shard, shard.pending.length > 0);
        if (this.shards.every((s) => !s.writing && s.pending.length === 0)) for (const done of this.idle) done();
      });
    }
    if (shard.pending.length > 0 && !shard.timer && !shard.writing) {
      shard.timer = setTimeout(() => this.pump(shard, true), this.opts.batchWaitMs);
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    const retries = this.opts.transientRetries ?? 5;
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      try {
        const result = await ingestAuditBatch(
          this.opts.pool,
          batch.map((p) => p.event),
        );
        const m = this.opts.metrics;
        if (m) {
          m.auditBatchSeconds.observe((performance.now() - started) / 1000);
          m.auditBatches.inc();
          m.auditIngested.inc(result.inserted);
          m.auditDuplicates.inc(result.duplicates);
          if (result.unknownTeam.length) m.auditSkipped.inc({ reason: "unknown_team" }, result.unknownTeam.length);
          const now = Date.now();
          for (const p of batch) m.auditDelaySeconds.observe(Math.max(0, now - Date.parse(p.event.time)) / 1000);
        }
        if (result.unknownTeam.length) {
          this.opts.logger?.warn({ count: result.unknownTeam.length }, "audit events for a team that no longer exists were dropped");
        }
        for (const p of batch) p.resolve();
        return;
      } catch (error) {
        this.opts.metrics?.auditBatchFailures.inc();
        const transient = isTransientDbError(error);
        this.opts.logger?.warn({ err: error, size: batch.length, attempt, transient }, "audit batch write failed");
        if (transient && attempt < retries && !this.stop.signal.aborted) {
          await sleep(backoffDelay(attempt, 200, 5000), this.stop.signal);
          continue;
        }
        if (!transient && batch.length > 1) {
          // One malformed event must not hold back the others: write them one by one so only the
          // culprit fails (and, after its retries, lands in the dead-letter queue).
          await Promise.all(batch.map((p) => this.write([p])));
          return;
        }
        const reason = error instanceof Error ? error : new Error(String(error));
        for (const p of batch) p.reject(reason);
        return;
      }
    }
  }

  /** Writes what is pending and waits for in-flight batches (graceful shutdown). */
  async drain(): Promise<void> {
    const busy = () => this.shards.some((s) => s.writing || s.pending.length > 0);
    for (const shard of this.shards) this.pump(shard, true);
    if (!busy()) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        if (busy()) return;
        this.idle.delete(done);
        resolve();
      };
      this.idle.add(done);
    });
  }

  /** Stops in-process retry waits (shutdown): the affected jobs fail and BullMQ retries them. */
  abortRetries(): void {
    this.stop.abort();
  }
}

export interface AuditWorkerOptions extends AuditBatcherOptions {
  connection: ConnectionOptions;
  prefix: string;
  /** Lock on an active job; a killed worker's jobs return to the queue after about this long. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Called when a job has failed for good (the dead-letter sweep). */
  onFinalFailure?: () => void;
}

/** The BullMQ consumer of QUEUES.audit: validate, batch, write; invalid events fail for good. */
export function createAuditWorker(opts: AuditWorkerOptions): { worker: Worker; batcher: AuditBatcher } {
  const batcher = new AuditBatcher(opts);
  const worker = new Worker(
    QUEUES.audit,
    async (job: Job) => {
      const parsed = auditEventSchema.safeParse(job.data);
      if (!parsed.success) {
        // Retrying cannot fix a malformed event: straight to the dead-letter queue, with the reason.
        const problems = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
        throw new UnrecoverableError(`invalid audit event: ${problems.join("; ")}`);
      }
      await batcher.add(parsed.data);
    },
    {
      connection: opts.connection,
      prefix: opts.prefix,
      // Enough jobs in flight to fill every writer's batch plus the next one.
      concurrency: opts.batchSize * (opts.writers + 1),
      lockDuration: opts.lockDurationMs ?? 30_000,
      stalledInterval: opts.stalledIntervalMs ?? 30_000,
      // A crash mid-batch stalls every job of it; that must not count against the events.
      maxStalledCount: 10,
      // Completed audit jobs are only a receipt: the row in PostgreSQL is the record.
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 100_000 },
      name: "audit-ingest",
    },
  );
  worker.on("completed", () => opts.metrics?.jobsCompleted.inc({ queue: QUEUES.audit }));
  worker.on("failed", (job, error) => {
    opts.metrics?.jobsFailed.inc({ queue: QUEUES.audit });
    const attempts = job?.opts.attempts ?? 1;
    if (!job || error instanceof UnrecoverableError || job.attemptsMade >= attempts) opts.onFinalFailure?.();
  });
  worker.on("error", (error) => opts.logger?.error({ err: error }, "audit worker error"));
  return { worker, batcher };
}
