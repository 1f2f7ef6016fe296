import { randomUUID } from "node:crypto";
import {
  AUDIT_EXPORT_BATCH_BYTES_DEFAULT,
  type ClaimedAuditSink,
  type StackEndpoint,
  advanceAuditSinkCursor,
  auditSinkAddressRefusal,
  auditSinkSecretContext,
  claimDueAuditSinks,
  readAuditExportBatch,
  recordAuditSinkFailure,
  recordAuditSinkTest,
  releaseAuditSink,
  renewAuditSinkLease,
  urlPort,
} from "@portcullis/db/operations";
import type { ChainKey } from "@portcullis/db/audit";
import type { SecretKeyring } from "@portcullis/db/secrets";
import type pg from "pg";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { type WebhookResult, resolveWebhookAddress, sendWebhook } from "../notify/webhook.js";
import { batchFileName, cutFileBatch, probeDirectory, sinkDirectory, writeFileAtomically } from "./audit-export-file.js";

/**
 * Delivers audit sinks (issue 16 point 4). Each tick leases the due sinks (one worker per sink, see
 * audit-sinks-delivery), and sends each one's events after its cursor, in seq order, batch by batch;
 * the cursor moves only after a batch was accepted. Backoff lives in the sink's row: exponential with
 * jitter, or the receiver's Retry-After; a 4xx other than 408/429 pauses the sink at once (the
 * receiver refuses the data: retrying cannot help), and a sink failing for AUDIT_EXPORT_PAUSE_AFTER_MS
 * is paused with the last error as its reason.
 */
export interface AuditExportConfig {
  /** AUDIT_EXPORT_DIR; file sinks fail (and retry) while it is unset. */
  dir: string | undefined;
  batchEvents: number;
  /** AUDIT_EXPORT_BATCH_BYTES: a batch's JSON bytes (at least one event); default 4 MiB. */
  batchBytes?: number;
  fileMaxBytes: number;
  timeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  pauseAfterMs: number;
  allowPrivate: boolean;
  stack: StackEndpoint[];
  /** Sinks leased per tick, and batches sent per sink before giving the others a turn. */
  sinksPerTick: number;
  batchesPerTurn: number;
  /**
   * A sink's turn by wall-clock time (default: timeoutMs): no batch is started that would, at the pace
   * of the last one, end past it. Batch count alone let a slow-but-successful receiver (just under
   * the timeout, so never failing or backing off) hold its tick for batchesPerTurn timeouts (~200 s);
   * now a turn lasts at most the budget plus one timeout, and a fast receiver still sends every batch.
   */
  turnMs?: number;
  /** AUDIT_CHAIN_KEY, to check a retention anchor's MAC before skipping to it (default: from the environment). */
  chainKey?: ChainKey | null;
  /** The pause before a hole in the chain is looked at a second time and reported missing (default 250 ms). */
  holeGraceMs?: number;
  /** How long a leased sink stays ours without renewal (default: 3 timeouts, at least 30 s). */
  leaseMs?: number;
}

export interface AuditExportDeps {
  pool: pg.Pool;
  keyring: SecretKeyring;
  logger: Logger;
  config: AuditExportConfig;
  /** The worker's Prometheus metrics (deliveries by outcome, skipped events); none in some tests. */
  metrics?: Pick<Metrics, "auditSinkDeliveries" | "auditSinkSkippedEvents">;
  /** Tests: the jitter's random source. */
  random?: () => number;
}

/** A receiver's Retry-After is followed up to an hour (a larger one is a receiver's mistake, not a plan). */
const RETRY_AFTER_MAX_MS = 3_600_000;

type Attempt = { ok: true } | { ok: false; error: string; status: number | null; retryAfterMs?: number | null; permanent: boolean };

export function auditExportProcessor(deps: AuditExportDeps): () => Promise<void> {
  const owner = `worker-${randomUUID()}`;
  const leaseMs = deps.config.leaseMs ?? Math.max(30_000, deps.config.timeoutMs * 3);
  return async () => {
    const sinks = await claimDueAuditSinks(deps.pool, { owner, leaseMs, limit: deps.config.sinksPerTick });
    await Promise.all(
      sinks.map(async (sink) => {
        try {
          if (sink.testRequested) await runTest(deps, owner, sink);
          if (sink.due) await deliver(deps, owner, leaseMs, sink);
        } catch (error) {
          deps.logger.warn({ sink: sink.id, err: (error as Error).message }, "audit sink delivery failed; retried on a later tick");
        } finally {
          await releaseAuditSink(deps.pool, { sinkId: sink.id, owner }).catch(() => {});
        }
      }),
    );
  };
}

function openSecret(keyring: SecretKeyring, sink: ClaimedAuditSink): string | null {
  try {
    return sink.secretCiphertext ? keyring.open(sink.secretCiphertext, auditSinkSecretContext(sink.teamId, sink.id)) : null;
  } catch {
    return null;
  }
}

async function post(deps: AuditExportDeps, sink: ClaimedAuditSink, body: string, idempotencyKey: string, event: string, headers: Record<string, string> = {}): Promise<Attempt> {
  const secret = openSecret(deps.keyring, sink);
  if (!secret) return { ok: false, permanent: true, status: null, error: "the signing secret cannot be opened (wrong PORTCULLIS_SECRET_KEYS?); rotate it and resume" };
  const url = new URL(sink.url!);
  // Resolved and checked here (public-only rule, then the stack and metadata rule), then pinned: the
  // POST goes to the very address checked.
  const target = await resolveWebhookAddress(url.hostname, deps.config.allowPrivate);
  if (!target.ok) return { ok: false, permanent: target.permanent, status: null, error: target.error };
  const refusal = auditSinkAddressRefusal(url.hostname, target.address, urlPort(url), deps.config.stack);
  if (refusal) return { ok: false, permanent: true, status: null, error: refusal };
  const result: WebhookResult = await sendWebhook({
    url: sink.url!,
    secret,
    event,
    deliveryId: idempotencyKey,
    body,
    timeoutMs: deps.config.timeoutMs,
    allowPrivate: deps.config.allowPrivate,
    resolve: async () => [{ address: target.address, family: target.family }],
    extraHeaders: { ...headers, "Idempotency-Key": idempotencyKey },
  });
  if (result.outcome === "delivered") return { ok: true };
  return { ok: false, permanent: result.outcome === "failed", status: result.status, error: result.error ?? "failed", retryAfterMs: result.retryAfterMs };
}

async function runTest(deps: AuditExportDeps, owner: string, sink: ClaimedAuditSink): Promise<void> {
  let outcome: Attempt;
  try {
    if (sink.kind === "file") {
      if (!deps.config.dir) throw new Error("AUDIT_EXPORT_DIR is not set on the worker");
      await probeDirectory(sinkDirectory(deps.config.dir, sink.teamId, sink.name));
      outcome = { ok: true };
    } else {
      const body = JSON.stringify([{ type: "portcullis.audit_sink.test", sink: sink.name, team_id: sink.teamId, time: new Date().toISOString() }]);
      outcome = await post(deps, sink, body, `${sink.id}:test-${Date.now()}`, "audit.test");
    }
  } catch (error) {
    outcome = { ok: false, permanent: false, status: null, error: (error as Error).message };
  }
  await recordAuditSinkTest(deps.pool, { sinkId: sink.id, owner, ok: outcome.ok, error: outcome.ok ? null : outcome.error });
}

/** Exponential from the base, doubling per consecutive failure, capped; jittered to 50-150 %. */
export function backoffMs(failures: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(failures, 30));
  return Math.round(raw * (0.5 + random()));
}

/** What the receiver is told of a retention gap: the header (unsigned, cheap to route on) next to the signed record. */
export const GAP_HEADER = "Portcullis-Gap";

async function deliver(deps: AuditExportDeps, owner: string, leaseMs: number, sink: ClaimedAuditSink): Promise<void> {
  const { config } = deps;
  const turnMs = config.turnMs ?? config.timeoutMs;
  const started = Date.now();
  let lastBatchMs = 0;
  let cursor = sink.cursorSeq;
  for (let turn = 0; turn < config.batchesPerTurn; turn++) {
    // Past the budget: the sink goes to the back of the line (released by the tick) and goes on next turn.
    if (turn > 0 && Date.now() - started + lastBatchMs > turnMs) return;
    const batchStarted = Date.now();
    if (turn > 0 && !(await renewAuditSinkLease(deps.pool, { sinkId: sink.id, owner, leaseMs }))) return;
    const { gap, lines } = await readAuditExportBatch(deps.pool, { teamId: sink.teamId, afterSeq: cursor, limit: config.batchEvents }, { key: config.chainKey, holeGraceMs: config.holeGraceMs, maxBytes: config.batchBytes ?? AUDIT_EXPORT_BATCH_BYTES_DEFAULT });
    if (lines.length === 0 && !gap) return;
    let sent = lines;
    let attempt: Attempt;
    // The batch spans the gap too: its key and file name start where the receiver's knowledge stops.
    const first = gap?.from_seq ?? lines[0]!.seq;
    try {
      if (sink.kind === "file") {
        if (!config.dir) throw new Error("AUDIT_EXPORT_DIR is not set on the worker: file sinks wait until it is");
        const gapLine = gap ? `${JSON.stringify(gap)}\n` : "";
        const cut = lines.length > 0 ? cutFileBatch(lines, Math.max(1, config.fileMaxBytes - Buffer.byteLength(gapLine))) : { lines: [], text: "" };
        sent = cut.lines;
        const last = sent.at(-1)?.seq ?? gap!.to_seq;
        await writeFileAtomically(sinkDirectory(config.dir, sink.teamId, sink.name), batchFileName(first, last), gapLine + cut.text);
        attempt = { ok: true };
      } else {
        const last = lines.at(-1)?.seq ?? gap!.to_seq;
        const body = JSON.stringify(gap ? [gap, ...lines] : lines);
        attempt = await post(deps, sink, body, `${sink.id}:${first}-${last}`, "audit.batch", gap ? { [GAP_HEADER]: `${gap.from_seq}-${gap.to_seq}` } : {});
      }
    } catch (error) {
      attempt = { ok: false, permanent: false, status: null, error: (error as Error).message };
    }
    if (!attempt.ok) {
      await recordFailure(deps, owner, sink, attempt);
      return;
    }
    const toSeq = sent.at(-1)?.seq ?? gap!.to_seq;
    const toHash = sent.at(-1)?.hash ?? gap!.anchor_hash;
    const moved = await advanceAuditSinkCursor(deps.pool, {
      sinkId: sink.id,
      owner,
      fromSeq: cursor,
      toSeq,
      toHash,
      count: sent.length,
      gap: gap ? { fromSeq: gap.from_seq, toSeq: gap.to_seq, reason: gap.reason } : null,
    });
    // Our lease lapsed (or another holder moved the cursor): stop; the holder re-sends from the cursor.
    if (!moved) return;
    deps.metrics?.auditSinkDeliveries.inc({ kind: sink.kind, outcome: "delivered" });
    if (gap) {
      deps.metrics?.auditSinkSkippedEvents.inc({ kind: sink.kind }, gap.events);
      deps.logger.warn(
        { sink: sink.id, team: sink.teamId, kind: sink.kind, fromSeq: gap.from_seq, toSeq: gap.to_seq, events: gap.events, reason: gap.reason },
        gap.reason === "retention" ? "audit sink skipped events removed by retention" : "audit sink skipped events missing from the chain (not retention): run portcullis audit verify",
      );
    }
    cursor = toSeq;
    lastBatchMs = Date.now() - batchStarted;
    sink.failures = 0;
    sink.failingSince = null;
  }
}

async function recordFailure(deps: AuditExportDeps, owner: string, sink: ClaimedAuditSink, attempt: Extract<Attempt, { ok: false }>): Promise<void> {
  const { config } = deps;
  const failingFor = sink.failingSince ? Date.now() - sink.failingSince.getTime() : 0;
  let pauseReason: string | null = null;
  if (attempt.permanent) pauseReason = `paused: ${attempt.error} — fix it and resume the sink`;
  else if (failingFor >= config.pauseAfterMs) pauseReason = `paused after failing for ${Math.round(failingFor / 60_000)} minutes: ${attempt.error}`;
  const delay = attempt.retryAfterMs != null ? Math.min(attempt.retryAfterMs, RETRY_AFTER_MAX_MS) : backoffMs(sink.failures, config.retryBaseMs, config.retryMaxMs, deps.random);
  await recordAuditSinkFailure(deps.pool, { sinkId: sink.id, owner, error: attempt.error, status: attempt.status, retryInMs: delay, pauseReason });
  deps.metrics?.auditSinkDeliveries.inc({ kind: sink.kind, outcome: pauseReason ? "paused" : "failed" });
  deps.logger.info({ sink: sink.id, status: attempt.status, paused: Boolean(pauseReason), retryInMs: delay }, "audit sink delivery refused or failed");
}
