import { randomUUID } from "node:crypto";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { QUEUES, auditBatchJobs, type AuditEventInput } from "@portcullis/jobs";
import type { Logger } from "../logger.js";
import type { GatewayMetrics } from "../metrics.js";
import { AuditSpool } from "./spool.js";

const SEND_TIMEOUT_MS = 2_000;
const BATCH_MAX = 200;

export type AuditRecord = Omit<AuditEventInput, "id" | "time"> & { id?: string; time?: string };

/**
 * Produces audit events without putting Redis (let alone PostgreSQL) on the request path: `record`
 * only appends to an in-memory batch, flushed every few milliseconds as one BullMQ job (a job per
 * event would cost Redis and the worker more than storing the event does). When Redis is unreachable
 * the batch goes to the fsync'd spool and is replayed once Redis is back.
 */
export class AuditProducer {
  private readonly queue: Queue;
  private readonly spool: AuditSpool;
  private buffer: AuditEventInput[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private replaying: Promise<void> | undefined;
  private spoolDirty = false;
  private readonly replayTimer: NodeJS.Timeout;
  private closed = false;
  private readonly flushMs: number;

  constructor(
    private readonly redis: Redis,
    options: { prefix: string; spoolDir: string; flushMs: number },
    private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
  ) {
    this.flushMs = options.flushMs;
    this.queue = new Queue(QUEUES.audit, {
      connection: redis,
      prefix: options.prefix,
      defaultJobOptions: {
        attempts: 10,
        backoff: { type: "exponential", delay: 1000 },
        removeOnComplete: true,
        removeOnFail: false,
      },
    });
    this.queue.on("error", (error: Error) => logger.debug({ err: error.message }, "audit queue error"));
    this.spool = new AuditSpool(options.spoolDir);
    redis.on("ready", () => this.scheduleReplay());
    // Also look for files left by an earlier run (or another instance sharing the directory).
    this.replayTimer = setInterval(() => this.scheduleReplay(), 5_000);
    this.replayTimer.unref();
    void this.spool.hasFiles().then((has) => {
      if (has) {
        this.spoolDirty = true;
        this.scheduleReplay();
      }
    });
  }

  /**
   * Queues one event; returns its id at once. Takes ownership of `input` (callers pass a fresh object):
   * it is completed in place with its id and time and queued as it is, not copied.
   */
  record(input: AuditRecord): string {
    const event = input as AuditEventInput;
    event.id ??= randomUUID();
    event.time ??= new Date().toISOString();
    this.buffer.push(event);
    if (this.buffer.length >= BATCH_MAX) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.flushMs);
    return event.id!;
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    const done = this.deliver(batch).finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  private async deliver(batch: AuditEventInput[]): Promise<void> {
    // While older events sit in the spool, new ones join them there only if Redis is down; when it is
    // up they go straight to the queue (order across events is by their time field, not arrival).
    if (this.redis.status === "ready") {
      try {
        await this.send(batch);
        this.metrics.auditEvents.inc({ outcome: "queued" }, batch.length);
        return;
      } catch (error) {
        this.logger.warn({ err: (error as Error).message, events: batch.length }, "audit queue unreachable; spooling to disk");
      }
    }
    try {
      await this.spool.append(batch);
      this.spoolDirty = true;
      this.metrics.auditEvents.inc({ outcome: "spooled" }, batch.length);
      this.metrics.auditSpoolPending.set(this.spool.pending);
    } catch (error) {
      // Neither Redis nor the disk: nothing durable is left. Say so loudly; the event is in the log.
      this.metrics.auditEvents.inc({ outcome: "lost" }, batch.length);
      this.logger.error({ err: (error as Error).message, events: batch }, "audit events could not be queued or spooled");
    }
  }

  private async send(events: AuditEventInput[]): Promise<void> {
    let timeout: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.queue.addBulk(auditBatchJobs(events)),
        new Promise((_, reject) => {
          timeout = setTimeout(() => reject(new Error("timed out sending audit events to Redis")), SEND_TIMEOUT_MS);
        }),
      ]);
    } finally {
      clearTimeout(timeout);
    }
  }

  private scheduleReplay(): void {
    if (!this.spoolDirty || this.replaying || this.redis.status !== "ready") return;
    this.replaying = this.spool
      .replay((events) => this.send(events))
      .then((sent) => {
        if (sent > 0) {
          this.logger.info({ events: sent }, "replayed spooled audit events");
          this.metrics.auditEvents.inc({ outcome: "replayed" }, sent);
        }
        return this.spool.hasFiles();
      })
      .then((has) => {
        this.spoolDirty = has;
      })
      .catch((error: Error) => this.logger.warn({ err: error.message }, "audit spool replay failed; will retry"))
      .finally(() => {
        this.metrics.auditSpoolPending.set(this.spool.pending);
        this.replaying = undefined;
      });
  }

  /** Waits until everything recorded so far is in Redis or on disk (and tries one replay). */
  async drain(): Promise<void> {
    this.flush();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    this.scheduleReplay();
    await this.replaying;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.replayTimer);
    await this.drain();
    await this.spool.close();
    await this.queue.close().catch(() => {});
  }
}

