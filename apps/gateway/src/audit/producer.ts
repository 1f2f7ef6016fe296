import { randomUUID } from "node:crypto";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type pg from "pg";
import { AUDIT_JOB_OPTIONS, QUEUES, auditBatchJobs, type AuditEventInput } from "@portcullis/jobs";
import type { Logger } from "../logger.js";
import type { GatewayMetrics } from "../metrics.js";
import { AuditJournal, JOURNAL_DEFAULTS, JournalWriteError, type JournalOptions } from "./journal.js";
import { missingFromStore } from "./stored-ids.js";

const SEND_TIMEOUT_MS = 2_000;
const BATCH_MAX = 200;
/** The worker normally stores a batch well within this; a segment is first checked this long after it is sealed. */
const CHECK_AFTER_MS = 2_000;
/** Events still missing this long after they were sent are sent again (then with backoff, up to RESEND_MAX_MS). */
const RESEND_AFTER_MS = 10_000;
const RESEND_MAX_MS = 5 * 60_000;
const CHECK_MAX_MS = 30_000;
const PASS_EVERY_MS = 1_000;
const ADOPT_EVERY_MS = 5_000;
/** Ids per metadata query: bounds one check's cost during a long worker outage. */
const CHECK_IDS_MAX = 10_000;
/** On shutdown, how long to try to hand journalled events to Redis (they are on disk either way). */
const SHUTDOWN_SHIP_MS = 3_000;

export type AuditRecord = Omit<AuditEventInput, "id" | "time"> & { id?: string; time?: string };
export type AuditDurability = "sync" | "async";

/**
 * What the audit event of a call says when only its intent reached the disk: the statement went out,
 * and the outcome was never written (the gateway stopped, or its journal failed that write).
 */
export const OUTCOME_NOT_RECORDED =
  "outcome not recorded: the statement was sent to the database and may have run, but the gateway stopped or could not write its journal before recording the rows, duration or error";

/** A journalled intent whose event has not been journalled yet (see `recordIntent`). */
interface OpenIntent {
  event: AuditEventInput;
  /** The segment holding the intent, once committed. */
  segment?: string;
  /** Its event will not come (its write failed): the intent is the call's record. */
  orphan: boolean;
}

/** The event could not be journalled: the call must not be answered as if audited (retry it). */
export class AuditUnavailableError extends Error {
  constructor(cause: unknown) {
    super("the audit journal cannot record events right now; the call was not completed as audited — retry it", { cause });
    this.name = "AuditUnavailableError";
  }
}

interface Segment {
  file: string;
  /** Ids not yet seen in the metadata database. */
  pending: Set<string>;
  /** Ids of each batch sent, so a re-send reuses its job id (a no-op while the first is still queued). */
  batches: string[][];
  sealed: boolean;
  /** When its oldest pending event was journalled (ms). */
  oldest: number;
  /** Earliest and latest event time (ms; ±Infinity once one did not parse), so the "stored yet?" check reads only those months' partitions. */
  times: { from: number; to: number };
  checkAt: number;
  checkEvery: number;
  resendAt: number;
  resendEvery: number;
}

/**
 * Audit events on their way to PostgreSQL. `recordDurable` resolves once the event is durably written (O_DSYNC) in
 * this instance's journal (group commit; see journal.ts), so a tool call is answered only with its
 * event on disk. Journalled events are sent to BullMQ in small batches as before; a background pass
 * checks by id which of them the metadata database holds, deletes a segment once all of it is stored
 * (or dead-lettered, or orphaned by a deleted team), and re-sends, with backoff, whatever Redis or the
 * worker lost. Segments of instances that died are adopted and finished the same way.
 */
export class AuditProducer {
  private readonly queue: Queue;
  private readonly journal: AuditJournal;
  private readonly segments = new Map<string, Segment>();
  private buffer: AuditEventInput[] = [];
  private bufferSegment: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private passing: Promise<void> | undefined;
  private adopting: Promise<void> | undefined;
  private readonly passTimer: NodeJS.Timeout;
  private readonly adoptTimer: NodeJS.Timeout;
  private closed = false;
  private failure: string | undefined;
  /** Intents journalled by this instance whose event has not been, by lower-cased id. */
  private readonly intents = new Map<string, OpenIntent>();

  constructor(
    private readonly redis: Redis,
    private readonly metadata: pg.Pool,
    private readonly options: { prefix: string; spoolDir: string; flushMs: number; durability: AuditDurability; journal?: Partial<JournalOptions> },
    private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
  ) {
    this.queue = new Queue(QUEUES.audit, {
      connection: redis,
      prefix: options.prefix,
      // Each batch job carries these itself (auditBatchJobs); the default covers any other add.
      defaultJobOptions: AUDIT_JOB_OPTIONS,
    });
    this.queue.on("error", (error: Error) => logger.debug({ err: error.message }, "audit queue error"));
    this.journal = new AuditJournal(
      options.spoolDir,
      {
        committed: (file, events, intents) => this.committed(file, events, intents),
        sealed: (file) => {
          const segment = this.segments.get(file);
          if (segment) {
            segment.sealed = true;
            segment.checkAt = Date.now() + CHECK_AFTER_MS;
          }
          if (this.bufferSegment === file) this.flush();
        },
        synced: (seconds, events) => {
          metrics.auditFsyncSeconds.observe(seconds);
          metrics.auditEvents.inc({ outcome: "journalled" }, events);
        },
      },
      { ...JOURNAL_DEFAULTS, ...options.journal },
    );
    // Redis back: whatever could not be sent is checked and re-sent now rather than after the grace.
    redis.on("ready", () => {
      for (const segment of this.segments.values()) if (segment.resendAt === 0) segment.checkAt = 0;
      this.schedulePass();
    });
    this.passTimer = setInterval(() => this.schedulePass(), PASS_EVERY_MS);
    this.passTimer.unref();
    this.adoptTimer = setInterval(() => this.scheduleAdoption(), ADOPT_EVERY_MS);
    this.adoptTimer.unref();
  }

  /** Opens the journal and adopts what earlier or dead instances left. Rejects if the directory is unusable. */
  async start(): Promise<void> {
    await this.journal.open();
    this.scheduleAdoption();
    await this.adopting;
  }

  /**
   * Journals one event and returns its id at once (refusals: answered whatever happens to their
   * audit). Takes ownership of `input`: it is completed in place with its id and time.
   */
  record(input: AuditRecord): string {
    const event = this.complete(input);
    this.append(event).catch(() => {});
    return event.id;
  }

  /**
   * Journals one event and resolves with its id once it is on disk (in `async` durability, at once).
   * Rejects with AuditUnavailableError when the journal cannot write: the caller must not answer the
   * call as audited.
   */
  async recordDurable(input: AuditRecord): Promise<string> {
    const event = this.complete(input);
    const written = this.append(event);
    if (this.options.durability === "async") {
      written.catch(() => {});
      return event.id;
    }
    try {
      await written;
    } catch (error) {
      throw new AuditUnavailableError(error);
    }
    return event.id;
  }

  /**
   * Whether calls journal their intent before the statement runs (`recordIntent`): in sync durability.
   * In async nothing waits for the disk, so there is nothing for it to take off an answer's path.
   */
  get writesAhead(): boolean {
    return this.options.durability === "sync";
  }

  /**
   * Journals the record of a call before its statement runs (who, which link, the statement, the
   * verdict): `durable` resolves once it is on disk and rejects with AuditUnavailableError otherwise.
   * Its outcome follows through `recordOutcome` under the same id and time, and nobody waits for that
   * write: the call is on record once its intent is, so the O_DSYNC write runs while the database does,
   * not after it. Should the outcome never reach the disk (the process dies in between, the disk fails),
   * the intent becomes the call's event, saying so (OUTCOME_NOT_RECORDED).
   */
  recordIntent(input: AuditRecord): { id: string; time: string; durable: Promise<void> } {
    const event = this.complete(input);
    const key = event.id.toLowerCase();
    this.intents.set(key, { event, orphan: false });
    const durable = this.append(event, true).catch((error: unknown) => {
      this.intents.delete(key);
      throw new AuditUnavailableError(error);
    });
    return { id: event.id, time: event.time, durable };
  }

  /** The outcome of a call whose intent was journalled (same id and time); journalled and shipped like any event. */
  recordOutcome(input: AuditRecord & { id: string; time: string }): void {
    const event = this.complete(input);
    this.append(event, false, true).catch(() => {
      // Its intent is the call's record now: shipped by the next re-send of the intent's segment.
      const open = this.intents.get(event.id.toLowerCase());
      if (open) open.orphan = true;
    });
  }

  private complete(input: AuditRecord): AuditEventInput {
    const event = input as AuditEventInput;
    event.id ??= randomUUID();
    event.time ??= new Date().toISOString();
    return event;
  }

  /** Why the journal last failed to write, until a write (or the pass's probe) succeeds again. */
  journalFailure(): string | undefined {
    return this.failure;
  }

  private async append(event: AuditEventInput, intent = false, lazy = false): Promise<void> {
    try {
      await this.journal.append(event, intent, lazy);
    } catch (error) {
      this.failure = (error as Error).message;
      this.metrics.auditEvents.inc({ outcome: "journal_failed" });
      this.logger.error({ err: (error as JournalWriteError).message, event }, "audit event could not be journalled");
      throw error;
    }
  }

  private committed(file: string, events: AuditEventInput[], intents: AuditEventInput[]): void {
    this.failure = undefined;
    let segment = this.segments.get(file);
    if (!segment) {
      segment = newSegment(file, Date.now());
      this.segments.set(file, segment);
    }
    const before = segment.pending.size;
    // An intent keeps its segment until its call's event is stored (or, never coming, it is shipped itself).
    for (const intent of intents) {
      const key = intent.id.toLowerCase();
      const open = this.intents.get(key);
      if (open) open.segment = file;
      segment.pending.add(key);
      widen(segment, intent.time);
    }
    for (const event of events) {
      const key = event.id.toLowerCase();
      const open = this.intents.get(key);
      if (open) {
        this.intents.delete(key);
        // The event is the call's record: its intent's segment (if another) no longer waits for this id.
        if (open.segment && open.segment !== file && this.segments.get(open.segment)?.pending.delete(key)) this.metrics.auditJournalPending.dec();
      }
      segment.pending.add(key);
      widen(segment, event.time);
    }
    this.metrics.auditJournalPending.inc(segment.pending.size - before);
    if (this.bufferSegment !== file) this.flush();
    this.bufferSegment = file;
    for (const event of events) this.buffer.push(event);
    if (this.buffer.length >= BATCH_MAX) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.options.flushMs);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    const segment = this.segments.get(this.bufferSegment!);
    this.buffer = [];
    const ids = batch.map((e) => e.id.toLowerCase());
    segment?.batches.push(ids);
    const done = this.send(batch)
      .then(
        () => this.metrics.auditEvents.inc({ outcome: "queued" }, batch.length),
        (error: Error) => {
          // Still in the journal: re-sent once Redis is back (the "ready" handler), or by the pass.
          if (segment) segment.resendAt = 0;
          this.logger.warn({ err: error.message, events: batch.length }, "audit queue unreachable; events wait in the journal");
        },
      )
      .finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  private async send(events: AuditEventInput[]): Promise<void> {
    if (this.redis.status !== "ready") throw new Error(`redis is ${this.redis.status}`);
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

  private scheduleAdoption(): void {
    if (this.closed || this.adopting) return;
    this.adopting = this.adoptOrphans()
      .catch((error: Error) => this.logger.warn({ err: error.message }, "adopting audit journals failed; will retry"))
      .finally(() => (this.adopting = undefined));
  }

  private async adoptOrphans(): Promise<void> {
    const files = await this.journal.adopt();
    if (files.length === 0) return;
    // A dead instance's intents whose event it journalled (in any of its segments, all adopted together)
    // are done; the others are all that is left of their calls and are shipped themselves (resend).
    const found: { file: string; records: { id: string; time: string }[] }[] = [];
    const recorded = new Set<string>();
    const intents: { file: string; id: string; time: string }[] = [];
    for (const file of files) {
      const contents = await this.journal.read(file);
      const records = contents.events.map((e) => ({ id: e.id.toLowerCase(), time: e.time }));
      for (const r of records) recorded.add(r.id);
      for (const i of contents.intents) intents.push({ file, id: i.id.toLowerCase(), time: i.time });
      found.push({ file, records });
    }
    for (const intent of intents) if (!recorded.has(intent.id)) found.find((f) => f.file === intent.file)!.records.push(intent);
    let events = 0;
    for (const { file, records } of found) {
      const segment = newSegment(file, Date.now());
      segment.sealed = true;
      segment.checkAt = 0;
      segment.resendAt = 0;
      for (const event of records) {
        segment.pending.add(event.id);
        segment.oldest = Math.min(segment.oldest, Date.parse(event.time) || segment.oldest);
        widen(segment, event.time);
      }
      this.segments.set(file, segment);
      events += segment.pending.size;
      this.metrics.auditJournalPending.inc(segment.pending.size);
    }
    this.logger.info({ segments: files.length, events }, "adopted audit journal segments left by an earlier instance");
    this.schedulePass();
  }

  private schedulePass(): void {
    if (this.closed || this.passing) return;
    this.passing = this.pass()
      .catch((error: Error) => this.logger.warn({ err: error.message }, "audit journal pass failed; will retry"))
      .finally(() => {
        this.passing = undefined;
        this.updateGauges();
      });
  }

  /** One retirement pass: seal an idle segment, check due segments against the database, re-send what is missing. */
  private async pass(): Promise<void> {
    if (this.failure) {
      // Unready while the journal fails (no traffic then comes to prove it well): probe the
      // directory itself, so the instance is ready again once the disk is.
      await this.journal.open().then(
        () => (this.failure = undefined),
        () => {},
      );
    }
    await this.journal.rotateIfIdle();
    const now = Date.now();
    const due: Segment[] = [];
    let ids = 0;
    for (const segment of this.segments.values()) {
      if (!segment.sealed || segment.checkAt > now) continue;
      if (ids > 0 && ids + segment.pending.size > CHECK_IDS_MAX) break;
      due.push(segment);
      ids += segment.pending.size;
    }
    if (due.length === 0) return;
    let missing: Set<string>;
    try {
      missing = await missingFromStore(
        this.metadata,
        due.flatMap((s) => [...s.pending]),
        due.flatMap((s) => [isoOrUnbounded(s.times.from), isoOrUnbounded(s.times.to)]),
      );
    } catch (error) {
      for (const segment of due) segment.checkAt = now + 5_000;
      this.logger.debug({ err: (error as Error).message }, "metadata database unreachable; audit journal check postponed");
      return;
    }
    for (const segment of due) {
      const before = segment.pending.size;
      for (const id of segment.pending) if (!missing.has(id)) segment.pending.delete(id);
      this.retired(segment, before - segment.pending.size, "stored");
      if (segment.pending.size === 0) {
        await this.removeSegment(segment);
        continue;
      }
      if (segment.resendAt <= now && this.redis.status === "ready") {
        // Checked again soon after a re-send, then less and less often until the next one is due.
        segment.checkEvery = CHECK_AFTER_MS;
        segment.checkAt = now + CHECK_AFTER_MS;
        await this.resend(segment, now);
      } else {
        segment.checkAt = Math.min(now + segment.checkEvery, Math.max(segment.resendAt, now + CHECK_AFTER_MS));
        segment.checkEvery = Math.min(segment.checkEvery * 2, CHECK_MAX_MS);
      }
    }
  }

  private async resend(segment: Segment, now: number): Promise<void> {
    // The worker dead-letters an event it cannot store under the event's id: that counts as delivered.
    const pending = [...segment.pending];
    const lettered = await bounded(this.redis.pipeline(pending.map((id) => ["exists", `${this.options.prefix}:${QUEUES.auditDeadLetter}:${id}`])).exec());
    pending.forEach((id, i) => {
      if (lettered?.[i]?.[1] === 1) segment.pending.delete(id);
    });
    this.retired(segment, pending.length - segment.pending.size, "dead_lettered");
    if (segment.pending.size === 0) {
      await this.removeSegment(segment);
      return;
    }
    const contents = await this.journal.read(segment.file);
    const events = new Map(contents.events.map((e) => [e.id.toLowerCase(), e]));
    for (const intent of contents.intents) {
      const key = intent.id.toLowerCase();
      if (events.has(key) || !segment.pending.has(key)) continue;
      const open = this.intents.get(key);
      // Its call is still running (its event will come), or its event is elsewhere: not this intent's turn.
      if (open && !open.orphan) continue;
      this.intents.delete(key);
      events.set(key, { ...intent, error: intent.error ?? OUTCOME_NOT_RECORDED });
    }
    // Batches as first sent keep their job ids (BullMQ ignores an id it still holds); ids no batch
    // carried (adopted segments, intents whose event never came) go out in fresh chunks. The worker
    // stores each event id once either way.
    const carried = new Set(segment.batches.flat());
    const uncarried = [...segment.pending].filter((id) => !carried.has(id));
    const batches = [...segment.batches.filter((b) => b.some((id) => segment.pending.has(id))), ...chunk(uncarried, BATCH_MAX)];
    // A batch whose job Redis still holds (waiting for a worker that is down, say) is not sent again:
    // over a long outage that would upload every pending event once per re-send for nothing.
    // Keyed by the first event actually sent, as `send` names the job.
    const jobKey = (first: AuditEventInput) => `${this.options.prefix}:${QUEUES.audit}:${auditBatchJobs([first])[0]!.opts.jobId}`;
    const sendable = batches
      .map((batch) => batch.map((id) => events.get(id)).filter((e): e is AuditEventInput => e !== undefined))
      .filter((found) => found.length > 0);
    const held = await bounded(this.redis.pipeline(sendable.map((found) => ["exists", jobKey(found[0]!)])).exec());
    let sent = 0;
    for (const [index, found] of sendable.entries()) {
      if (held?.[index]?.[1] === 1) continue;
      await this.send(found);
      sent += found.length;
    }
    segment.batches = batches;
    segment.resendAt = now + segment.resendEvery;
    segment.resendEvery = Math.min(segment.resendEvery * 2, RESEND_MAX_MS);
    this.metrics.auditEvents.inc({ outcome: "resent" }, sent);
    this.logger.info({ segment: segment.file, events: sent }, "re-sent journalled audit events the database does not hold yet");
  }

  private retired(segment: Segment, count: number, outcome: "stored" | "dead_lettered"): void {
    if (count <= 0) return;
    this.metrics.auditEvents.inc({ outcome }, count);
    this.metrics.auditJournalPending.dec(count);
  }

  private async removeSegment(segment: Segment): Promise<void> {
    if (this.journal.isOpen(segment.file)) return;
    await this.journal.remove(segment.file);
    this.segments.delete(segment.file);
  }

  /** Events journalled and not yet known stored, and the age of the oldest (for /readyz and metrics). */
  backlog(): { pending: number; oldestAgeMs: number } {
    let pending = 0;
    let oldest = Infinity;
    for (const segment of this.segments.values()) {
      if (segment.pending.size === 0) continue;
      pending += segment.pending.size;
      oldest = Math.min(oldest, segment.oldest);
    }
    return { pending, oldestAgeMs: pending === 0 ? 0 : Math.max(0, Date.now() - oldest) };
  }

  private updateGauges(): void {
    const { pending, oldestAgeMs } = this.backlog();
    this.metrics.auditJournalPending.set(pending);
    this.metrics.auditJournalOldestSeconds.set(oldestAgeMs / 1000);
  }

  /** Hands everything journalled so far to Redis, waiting at most `timeoutMs` (it is on disk regardless). */
  async drain(timeoutMs = SHUTDOWN_SHIP_MS): Promise<void> {
    this.flush();
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    await Promise.race([Promise.all([...this.inFlight]), deadline]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.passTimer);
    clearInterval(this.adoptTimer);
    await Promise.allSettled([this.passing, this.adopting]);
    await this.journal.close();
    await this.drain();
    await this.queue.close().catch(() => {});
  }
}

function newSegment(file: string, now: number): Segment {
  return {
    file,
    pending: new Set(),
    batches: [],
    sealed: false,
    oldest: now,
    times: { from: Infinity, to: -Infinity },
    checkAt: Infinity,
    checkEvery: CHECK_AFTER_MS,
    resendAt: now + RESEND_AFTER_MS,
    resendEvery: RESEND_AFTER_MS,
  };
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A Redis round trip of the background pass, bounded: a Redis that drops packets must not stall retirement. */
function bounded<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("timed out waiting for Redis")), SEND_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

function widen(segment: Segment, time: string): void {
  const { times } = segment;
  const ms = Date.parse(time);
  if (Number.isNaN(ms)) {
    times.from = -Infinity;
    times.to = Infinity;
  } else {
    times.from = Math.min(times.from, ms);
    times.to = Math.max(times.to, ms);
  }
}

/** Undefined leaves the check unbounded (storedIdsParams), the safe side for a time that did not parse. */
const isoOrUnbounded = (ms: number): string | undefined => (Number.isFinite(ms) ? new Date(ms).toISOString() : undefined);
