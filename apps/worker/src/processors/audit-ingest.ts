import {
  type AuditEventInput,
  type ChainBreak,
  type ChainKey,
  type CheckpointRedis,
  checkpointHoldsIn,
  deleteConfigOutbox,
  loadAuditChainKey,
  outboxRecordAuthentic,
  prepareAuditBatch,
  readConfigOutbox,
  writeCheckpoints,
  writePreparedBatch,
} from "@portcullis/db/audit";
import { QUEUES, auditBatchJobSchema, auditEventSchema, isAuditBatchJob } from "@portcullis/jobs";
import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions, type Job, type Queue } from "bullmq";
import type pg from "pg";
import { Counter } from "prom-client";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { backoffDelay, isTransientDbError, sleep, withTimeout } from "../retry.js";
import { deadLetterEvents, failedJob } from "./dead-letter.js";

interface Pending {
  event: AuditEventInput;
  resolve: () => void;
  reject: (error: Error) => void;
}

export interface AuditBatcherOptions {
  pool: pg.Pool;
  batchSize: number;
  batchWaitMs: number;
  /**
   * Writers running in parallel; teams are spread across them. Each writer keeps up to two batches in
   * flight (so it holds up to two pooled connections): the next one is encoded while the current one
   * is in PostgreSQL.
   */
  writers: number;
  /** In-process retries of a batch on transient database errors, before the jobs themselves fail. */
  transientRetries?: number;
  metrics?: Metrics;
  logger?: Logger;
  /**
   * The chain key (AUDIT_CHAIN_KEY): events are HMAC-linked with it and each batch's heads are
   * checkpointed, signed, outside the database. undefined: read from the environment; null: none.
   */
  chainKey?: ChainKey | null;
  /** Where checkpoints go (Redis); without it (or without a key) none are written. */
  checkpoints?: CheckpointStore;
}

type CheckpointStore = CheckpointRedis & { lpush(key: string, ...values: string[]): Promise<number> };

const CHECKPOINT_TIMEOUT_MS = 2000;

/** Batches one writer may have in flight: one in PostgreSQL, one being encoded or waiting for the chain lock. */
const WRITER_DEPTH = 2;

/** Audit jobs the worker keeps active: enough to fill every writer's batches plus the next one. */
export function auditJobConcurrency(batchSize: number, writers: number): number {
  return batchSize * (writers * WRITER_DEPTH + 1);
}

/** One writer's share of the teams: its own pending events, timer, and batches in flight. */
interface Shard {
  pending: Pending[];
  timer: NodeJS.Timeout | undefined;
  inFlight: number;
}

/**
 * Gathers events from many concurrently active BullMQ jobs into one database write. Each job's
 * promise settles when the batch holding its event commits (or finally fails), so BullMQ marks a
 * job completed only once its event is durable: a crash at any point leaves the job active, the
 * stalled-job check returns it to the queue, and the id-idempotent write skips what was stored.
 *
 * A batch locks the chain heads of its teams until it commits, so batches sharing a team take turns.
 * Teams are therefore spread across writers, and a team stays on its writer while it has events
 * pending or in flight: writers then run in parallel whenever more than one team is active. A team
 * that becomes active joins the writer with the least work, so a few busy teams never pile onto one
 * writer by the luck of their ids. Within a writer, the second batch is encoded while the first is in
 * PostgreSQL, and waits for the heads' lock only for the part that needs it.
 */
export class AuditBatcher {
  private readonly shards: Shard[];
  /** Each active team's writer, with its number of events pending or in flight. */
  private readonly teams = new Map<string, { shard: Shard; events: number }>();
  private readonly idle = new Set<() => void>();
  private readonly stop = new AbortController();

  private readonly key: ChainKey | undefined;
  /** The key events are chained with; also what outbox records must be authenticated with. */
  get chainKey(): ChainKey | undefined {
    return this.key;
  }
  private readonly breakCounter: Counter | undefined;

  constructor(private readonly opts: AuditBatcherOptions) {
    this.shards = Array.from({ length: Math.max(1, opts.writers) }, () => ({ pending: [], timer: undefined, inFlight: 0 }));
    this.key = opts.chainKey === undefined ? loadAuditChainKey() : (opts.chainKey ?? undefined);
    if (!this.key) opts.logger?.warn("AUDIT_CHAIN_KEY is not set: the audit chain is plain SHA-256 (anyone who can write the database can rewrite it) and no checkpoints are kept");
    const registry = opts.metrics?.registry;
    if (registry) {
      const name = "portcullis_audit_chain_breaks_total";
      this.breakCounter =
        (registry.getSingleMetric(name) as Counter | undefined) ??
        new Counter({ name, help: "Chain heads found not matching their newest event (changed outside the worker); each is recorded as a chain_break event", registers: [registry] });
    }
  }

  private reportBreaks(breaks: ChainBreak[]): void {
    if (!breaks.length) return;
    this.breakCounter?.inc(breaks.length);
    for (const b of breaks) {
      // An alert, not a warning: the head or the newest events were changed outside the worker.
      this.opts.logger?.error({ teamId: b.teamId, head: b.head, stored: b.stored, continuedFrom: b.continuedFrom, breakEventId: b.breakEventId }, "audit chain head does not match the stored events: chain break recorded, ingestion continues");
    }
  }

  private shardOf(teamId: string): Shard {
    let team = this.teams.get(teamId);
    if (!team) {
      const load = (s: Shard) => s.pending.length + s.inFlight * this.opts.batchSize;
      const shard = this.shards.reduce((best, s) => (load(s) < load(best) ? s : best));
      team = { shard, events: 0 };
      this.teams.set(teamId, team);
    }
    team.events++;
    return team.shard;
  }

  private settled(batch: Pending[]): void {
    for (const p of batch) {
      const team = this.teams.get(p.event.teamId);
      if (team && --team.events === 0) this.teams.delete(p.event.teamId);
    }
  }

  add(event: AuditEventInput): Promise<void> {
    return new Promise((resolve, reject) => {
      const shard = this.shardOf(event.teamId);
      shard.pending.push({ event, resolve, reject });
      if (shard.pending.length >= this.opts.batchSize) this.pump(shard);
      else shard.timer ??= setTimeout(() => this.pump(shard, true), this.opts.batchWaitMs);
    });
  }

  /** Starts full batches while the writer has room; `force` also starts a partial one. */
  private pump(shard: Shard, force = false): void {
    if (force) {
      clearTimeout(shard.timer);
      shard.timer = undefined;
    }
    while (shard.inFlight < WRITER_DEPTH && (shard.pending.length >= this.opts.batchSize || (force && shard.pending.length > 0))) {
      const batch = shard.pending.splice(0, this.opts.batchSize);
      shard.inFlight++;
      void this.write(batch).finally(() => {
        shard.inFlight--;
        this.settled(batch);
        // Events that arrived while the writer was busy go out now, full batch or not.
        this.pump(shard, shard.pending.length > 0);
        if (this.shards.every((s) => s.inFlight === 0 && s.pending.length === 0)) for (const done of this.idle) done();
      });
    }
    if (shard.pending.length > 0 && !shard.timer && shard.inFlight < WRITER_DEPTH) {
      shard.timer = setTimeout(() => this.pump(shard, true), this.opts.batchWaitMs);
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    const retries = this.opts.transientRetries ?? 5;
    const prepared = prepareAuditBatch(batch.map((p) => p.event));
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      try {
        const result = await writePreparedBatch(this.opts.pool, prepared, { key: this.key });
        this.reportBreaks(result.breaks);
        // Stored: acknowledged now, not after the checkpoint below (Redis must not delay the jobs).
        for (const p of batch) p.resolve();
        if (this.key && this.opts.checkpoints && result.heads.length) {
          // After the commit: a checkpoint never names a head the database might not have. A failed
          // write only leaves the checkpoint behind (the next batch moves it on).
          // Bounded: with Redis down the worker's connection queues commands, and the events (already
          // committed) must not wait on it.
          const diverged = await withTimeout(
            writeCheckpoints(this.opts.checkpoints, this.key, result.heads, checkpointHoldsIn(this.opts.pool)),
            CHECKPOINT_TIMEOUT_MS,
          ).catch((error) => {
            this.opts.logger?.warn({ err: error }, "audit checkpoint could not be written");
            return [];
          });
          for (const d of diverged) {
            this.breakCounter?.inc();
            this.opts.logger?.error({ teamId: d.teamId, checkpoint: { seq: d.seq, hash: d.hash, at: d.at } }, "audit chain no longer contains its checkpoint: it was rewritten or truncated outside the worker (evidence kept)");
          }
        }
        const m = this.opts.metrics;
        if (m) {
          m.auditBatchSeconds.observe((performance.now() - started) / 1000);
          m.auditBatches.inc();
          m.auditIngested.inc(result.inserted);
          m.auditDuplicates.inc(result.duplicates);
          if (result.unknownTeam.length) m.auditSkipped.inc({ reason: "team_deleted_kept_as_orphan" }, result.unknownTeam.length);
          const now = Date.now();
          for (const p of batch) m.auditDelaySeconds.observe(Math.max(0, now - Date.parse(p.event.time)) / 1000);
        }
        if (result.unknownTeam.length) {
          this.opts.logger?.warn({ count: result.unknownTeam.length }, "audit events for a team that no longer exists were kept in audit_orphans");
        }
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
    const busy = () => this.shards.some((s) => s.inFlight > 0 || s.pending.length > 0);
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
  /** Where invalid events of a batch job go at once (the rest of the batch is stored). */
  deadLetter: Queue;
  /** How often the configuration-change outbox is drained into the chain (ms; 0: never). */
  outboxEveryMs?: number;
  /** A job whose last attempt met a database outage is tried again after this long (ms), indefinitely. */
  outageRetryMs?: number;
}

const OUTAGE_RETRY_MS = 5_000;

/**
 * Configuration changes enter the chain only through the authenticated outbox, and chain breaks only
 * from the worker itself: the same kinds arriving on the queue (anyone who can reach Redis, or a
 * replayed dead letter of a refused record) are refused rather than chained as if they were genuine.
 */
function refusedKind(kind: string): string | undefined {
  return kind === "config_change" || kind === "chain_break"
    ? `audit events of kind ${kind} are only accepted from the worker's own sources (the configuration-change outbox, chain checks), not from the queue`
    : undefined;
}

const isCheckpointRedis = (c: unknown): c is CheckpointStore =>
  typeof c === "object" && c !== null && ["eval", "hgetall", "lpush"].every((m) => typeof (c as Record<string, unknown>)[m] === "function");

function describeProblems(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.map(String).join(".") || "(root)"}: ${i.message}`)
    .join("; ");
}

/**
 * The BullMQ consumer of QUEUES.audit: validate, batch, write. A batch job's events are handled one by
 * one: invalid ones, and ones PostgreSQL refuses on their own, are dead-lettered with their reason and
 * the others stored; a transient database failure fails the job, which BullMQ retries whole (storage
 * skips what was already stored) — except on its last attempt, where it is delayed instead: a database
 * outage, however long, never turns into dead letters.
 */
export function createAuditWorker(opts: AuditWorkerOptions): { worker: Worker; batcher: AuditBatcher } {
  // The worker's own Redis connection holds the checkpoints unless the caller names another.
  const checkpoints = opts.checkpoints ?? (isCheckpointRedis(opts.connection) ? opts.connection : undefined);
  const batcher = new AuditBatcher({ ...opts, checkpoints });
  /** Validates, batches and stores one job's events; throws what should make BullMQ retry or fail it. */
  const ingestJob = async (job: Job): Promise<void> => {
    if (!isAuditBatchJob(job.name, job.data)) {
      const parsed = auditEventSchema.safeParse(job.data);
      // Retrying cannot fix a malformed event: straight to the dead-letter queue, with the reason.
      if (!parsed.success) throw new UnrecoverableError(`invalid audit event: ${describeProblems(parsed.error)}`);
      const kindRefused = refusedKind(parsed.data.kind);
      if (kindRefused) throw new UnrecoverableError(kindRefused);
      await batcher.add(parsed.data);
      return;
    }
    const batch = auditBatchJobSchema.safeParse(job.data);
    if (!batch.success) throw new UnrecoverableError(`invalid audit batch: ${describeProblems(batch.error)}`);
    const writes: { event: unknown; index: number; done: Promise<void> }[] = [];
    const refused: { event: unknown; reason: string; index: number }[] = [];
    batch.data.events.forEach((event, index) => {
      const parsed = auditEventSchema.safeParse(event);
      const kindRefused = parsed.success ? refusedKind(parsed.data.kind) : undefined;
      if (parsed.success && !kindRefused) writes.push({ event, index, done: batcher.add(parsed.data) });
      else refused.push({ event, index, reason: kindRefused ?? `invalid audit event: ${describeProblems(parsed.error!)}` });
    });
    const outcomes = await Promise.allSettled(writes.map((w) => w.done));
    const stored = outcomes.filter((o) => o.status === "fulfilled").length;
    let retry: unknown;
    outcomes.forEach((outcome, i) => {
      if (outcome.status === "fulfilled") return;
      // A database that is down or busy, or that refuses every event (a systemic cause, such as a
      // missing migration): retry the whole job with backoff; what was stored is skipped.
      if (isTransientDbError(outcome.reason) || stored === 0) retry ??= outcome.reason;
      // An event PostgreSQL refuses on its own while its neighbours are stored: retrying cannot help.
      else refused.push({ ...writes[i]!, reason: `audit event could not be stored: ${(outcome.reason as Error).message}` });
    });
    if (refused.length) {
      await deadLetterEvents(opts.deadLetter, QUEUES.audit, failedJob(job), refused);
      opts.logger?.warn({ job: job.id, count: refused.length }, "audit events of a batch were dead-lettered");
    }
    if (retry) throw retry;
  };
  const outageRetryMs = opts.outageRetryMs ?? OUTAGE_RETRY_MS;
  const worker = new Worker(
    QUEUES.audit,
    async (job: Job, token?: string) => {
      try {
        await ingestJob(job);
      } catch (error) {
        // The database is down, restarting or recovering: the events are valid and will be stored once
        // it is back. A job on its last attempt waits instead of failing, so an outage longer than the
        // job's backoff never dead-letters events that could have been stored (nor needs a replay).
        const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        if (lastAttempt && token && isTransientDbError(error)) {
          opts.logger?.warn({ job: job.id, retryMs: outageRetryMs, err: (error as Error).message }, "audit job met a database outage on its last attempt: delayed, not failed");
          await job.moveToDelayed(Date.now() + outageRetryMs, token);
          throw new DelayedError();
        }
        throw error;
      }
    },
    {
      connection: opts.connection,
      prefix: opts.prefix,
      // Batch jobs carry up to AUDIT_BATCH_MAX_EVENTS events each; single-event jobs (replays) are rare.
      concurrency: Math.max(50, Math.ceil(auditJobConcurrency(opts.batchSize, opts.writers) / 20)),
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
  worker.on("error", (error) => {
    // Redis away (killed, restarting): BullMQ reconnects by itself and the jobs wait in Redis; a line
    // per retry without the stack is enough. Anything else is a real fault.
    const code = String((error as { code?: unknown }).code ?? "");
    if (["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"].includes(code)) opts.logger?.warn({ err: error.message }, "audit worker: redis unreachable, reconnecting");
    else opts.logger?.error({ err: error }, "audit worker error");
  });
  startOutboxDrain(worker, batcher, opts);
  return { worker, batcher };
}

/**
 * Configuration changes reach the chain through `audit_outbox` (written in the transaction of the
 * change, see recordConfigChange). Polled rather than signalled: a change is rare, an empty-table
 * probe every second costs nothing, and nothing is lost when a signal would have been. Several workers
 * may drain the same rows: the write is idempotent on the event id, and a row is deleted only once
 * its event is stored (or dead-lettered), so a crash in between only replays it.
 */
function startOutboxDrain(worker: Worker, batcher: AuditBatcher, opts: AuditWorkerOptions): void {
  const every = opts.outboxEveryMs ?? 1000;
  if (every <= 0) return;
  let running: Promise<void> | undefined;
  const tick = () => {
    running ??= drainConfigOutbox(batcher, opts)
      .then(() => undefined)
      .catch((error) => opts.logger?.warn({ err: error }, "configuration-change outbox drain failed"))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, every);
  timer.unref();
  worker.on("closing", () => clearInterval(timer));
}

/** Moves what the outbox holds into the chain; returns how many records were handled. */
export async function drainConfigOutbox(batcher: AuditBatcher, opts: Pick<AuditWorkerOptions, "pool" | "deadLetter" | "logger">): Promise<number> {
  let handled = 0;
  for (;;) {
    const rows = await readConfigOutbox(opts.pool, 500);
    if (!rows.length) return handled;
    const refused: { event: unknown; reason: string; index: number }[] = [];
    const writes: { id: string; done: Promise<void> }[] = [];
    rows.forEach((row, index) => {
      let raw: unknown;
      try {
        raw = JSON.parse(row.event);
      } catch {
        raw = undefined;
      }
      // A letter is named by its event id; a record that is not even JSON keeps its outbox row id.
      const letter = typeof (raw as { id?: unknown } | undefined)?.id === "string" ? raw : { id: row.id, record: row.event };
      if (!outboxRecordAuthentic(batcher.chainKey, row)) {
        refused.push({ event: letter, index, reason: "configuration-change record not authenticated with AUDIT_CHAIN_KEY (written outside Portcullis, or by a process without the key)" });
        return;
      }
      const parsed = auditEventSchema.safeParse(raw);
      if (parsed.success) writes.push({ id: row.id, done: batcher.add(parsed.data) });
      else refused.push({ event: letter, index, reason: `invalid configuration-change record: ${describeProblems(parsed.error)}` });
    });
    const outcomes = await Promise.allSettled(writes.map((w) => w.done));
    if (refused.length) {
      await deadLetterEvents(opts.deadLetter, "audit-outbox", { jobId: "outbox", attemptsMade: 1, failedAt: new Date().toISOString() }, refused);
      opts.logger?.error({ count: refused.length, reasons: [...new Set(refused.map((r) => r.reason))] }, "configuration-change records refused and dead-lettered");
    }
    const stored = writes.filter((_, i) => outcomes[i]!.status === "fulfilled").map((w) => w.id);
    const done = [...stored, ...refused.map((r) => rows[r.index]!.id)];
    await deleteConfigOutbox(opts.pool, done);
    handled += done.length;
    // A record that failed to store stays in the outbox and is retried by the next tick.
    if (done.length < rows.length) return handled;
  }
}
