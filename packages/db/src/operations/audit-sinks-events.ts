import { z } from "zod";
import { type ChainKey, anchorMac, isKeyedHash } from "../audit/chain-key.js";
import { loadAuditChainKey } from "../audit/env.js";
import { type OperationsDb, parseInput, queryOf, toIso, uuidSchema } from "./sql-db.js";

/**
 * The export line of one audit event: every stored field under its column name, with `seq`, `hash`
 * and `prev_hash`, so a receiver can check that each line's prev_hash is the previous line's hash and
 * that no seq is missing. The same shape goes to webhooks, files and the pull API.
 */
export interface AuditExportLine {
  seq: string;
  id: string;
  time: string;
  team_id: string;
  kind: string;
  [field: string]: unknown;
  prev_hash: string;
  hash: string;
}

const LINE_SQL = `SELECT seq::text AS seq, id::text AS id, time, team_id::text AS team_id, kind, link_id::text AS link_id,
  api_key_id::text AS api_key_id, oauth_client_id, user_id::text AS user_id, client_name, client_version, tool, sql,
  fingerprint, tables, verdict::text AS verdict, rule_id, reason, duration_ms, rows, bytes, error, source_ip, request_id,
  detail, protocol_version, trace_id, rewritten_sql, write_request_id::text AS write_request_id,
  access_grant_id::text AS access_grant_id, database_name, target_server, attribute_names, prev_hash, hash, run_bytes
  FROM (SELECT e.*, sum(octet_length(e::text)) OVER (ORDER BY e.seq) AS run_bytes, octet_length(e::text) AS row_bytes
          FROM audit_events e WHERE e.team_id = $1::uuid AND e.seq > $2::int8 ORDER BY e.seq LIMIT $3::int) AS audit_events
  WHERE run_bytes <= $4::int8 OR run_bytes = row_bytes ORDER BY run_bytes`;
// The byte budget is applied in the database (each row's text size, a close stand-in for its JSON),
// so a run of huge events is never fetched whole; the exact JSON cut follows in readAuditExportBatch.
// (Ordered by the running total: strictly increasing with seq, and not the text alias "seq".)

/** The largest seq a cursor may name (PostgreSQL bigint). */
export const MAX_SEQ = 9_223_372_036_854_775_807n;

/** A cursor as it arrives from outside: a decimal seq from 0 to the bigint maximum, nothing else. */
export const seqCursorSchema = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,18})$/, "the cursor is a non-negative whole number (a seq)")
  // zod runs refinements after a failed regex too: only digits reach BigInt.
  .refine((v) => !/^[0-9]+$/.test(v) || BigInt(v) <= MAX_SEQ, "the cursor is beyond the largest seq");

function toLine(r: Record<string, unknown>): AuditExportLine {
  const line: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(r)) {
    if (key === "time") line.time = toIso(value);
    else if (key === "duration_ms") line.duration_ms = Number(value);
    else if (key === "run_bytes") continue;
    else if (key === "rows" || key === "bytes") line[key] = value === null || value === undefined ? null : Number(value);
    else line[key] = value ?? null;
  }
  return line as AuditExportLine;
}

/**
 * Events a reader will never get: seqs `from_seq`..`to_seq` of the team are gone for good.
 * - reason "retention": a chunked prune or a partition DROP moved the team's anchor there (and, with
 *   AUDIT_CHAIN_KEY, the anchor's MAC verifies). `anchor_hash` is the hash of event `to_seq`.
 * - reason "missing": the events are absent below a seq that is visible (or below the chain head),
 *   and no valid anchor covers them — deleted outside retention, or an anchor moved without the key.
 *   Run `portcullis audit verify`. `anchor_hash` is the next event's prev_hash as stored (unverified).
 * In both, the next line's prev_hash equals `anchor_hash`, so a receiver checking the chain carries
 * on. Webhooks get it as the batch's first element (and the Portcullis-Gap header), files as their
 * first line: the same record in both.
 */
export interface AuditExportGap {
  type: "portcullis.audit_gap";
  team_id: string;
  from_seq: string;
  to_seq: string;
  events: number;
  reason: "retention" | "missing";
  anchor_hash: string;
}

export interface AuditExportBatch {
  /** Set when events after the cursor are gone for good: the run below starts after `gap.to_seq`. */
  gap: AuditExportGap | null;
  lines: AuditExportLine[];
}

export interface AuditExportReadOptions {
  /** AUDIT_CHAIN_KEY: a keyed anchor past the cursor must carry its MAC. Default: from the environment; null: none. */
  key?: ChainKey | null;
  /** Pause before the second look at a hole (default 250 ms). */
  holeGraceMs?: number;
  /** The lines' JSON bytes per batch, at least one line (callers pass AUDIT_EXPORT_BATCH_BYTES; default 4 MiB). */
  maxBytes?: number;
}

export const AUDIT_EXPORT_BATCH_BYTES_DEFAULT = 4 * 1024 * 1024;
export const auditExportBatchBytesSchema = z.coerce.number().int().min(1024).max(256 * 1024 * 1024);

/** AUDIT_EXPORT_BATCH_BYTES from an environment (the CLI's; the worker and the dashboard parse it in their env.ts). A bad value is an error. */
export function loadAuditExportBatchBytes(source: Record<string, string | undefined>): number {
  const raw = source.AUDIT_EXPORT_BATCH_BYTES?.trim();
  if (!raw) return AUDIT_EXPORT_BATCH_BYTES_DEFAULT;
  const parsed = auditExportBatchBytesSchema.safeParse(raw);
  if (!parsed.success) throw new Error("AUDIT_EXPORT_BATCH_BYTES must be a whole number of bytes from 1024 to 268435456");
  return parsed.data;
}

const batchInput = z.strictObject({ teamId: uuidSchema, afterSeq: seqCursorSchema, limit: z.number().int().min(1).max(10_000) });

type Anchor = { seq: string; hash: string; mac: string | null };
const ANCHOR_SQL = "SELECT pruned_through_seq::text AS seq, pruned_through_hash AS hash, pruned_mac AS mac FROM audit_chain_anchors WHERE team_id = $1::uuid";

/**
 * An anchor retention wrote, as far as the stored chain can tell — anything else is not announced as
 * retention (the hole, if any, becomes a "missing" gap):
 * - retention removes a prefix, so nothing of the team is left between the cursor and the anchor (an
 *   anchor moved over live events would skip them);
 * - the chain continues from it: the event after it links to its hash, or it is the head;
 * - in the keyed part of the chain its MAC verifies with the key (when we have it). Whether the part is
 *   keyed is read from the anchor's hash, which the continuity check above ties to the stored chain.
 */
async function anchorTrusted(q: ReturnType<typeof queryOf>, teamId: string, a: Anchor, after: bigint, head: { seq: string; hash: string } | undefined, key: ChainKey | null): Promise<boolean> {
  if (key && isKeyedHash(a.hash) && a.mac !== anchorMac(key, teamId, a.seq, a.hash)) return false;
  const left = await q("SELECT 1 FROM audit_events WHERE team_id = $1::uuid AND seq > $2::int8 AND seq <= $3::int8 LIMIT 1", [teamId, String(after), a.seq]);
  if (left.length) return false;
  const next = (await q<{ prev_hash: string }>("SELECT prev_hash FROM audit_events WHERE team_id = $1::uuid AND seq = $2::int8 + 1", [teamId, a.seq]))[0];
  if (next) return next.prev_hash === a.hash;
  return head !== undefined && head.seq === a.seq && head.hash === a.hash;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The team's next batch after `afterSeq`: a gap-free run in seq order, at most `limit` events, led by
 * a gap record when events after the cursor are gone for good.
 *
 * Why a hole can be called permanent: ingestion assigns a team's seqs under its chain-head row lock
 * (FOR UPDATE, ingest.ts) and commits before the next batch can take it, so seqs become visible in
 * order, and the head is updated in the same commit as the events. A seq missing below a visible seq,
 * or at or below the head read before the events, was therefore committed and then removed. Only
 * retention removes events legitimately, and it moves the anchor in the same transaction; so when the
 * run is broken at its start, the reader looks a second time (after `holeGraceMs`): the anchor and the
 * hole's rows again. An anchor that now covers the hole means retention (the next read reports it);
 * rows that appeared mean nothing is skipped; otherwise the hole is a "missing" gap and the stream
 * goes on. A hole after some lines just ends the run: the next read starts at it.
 */
export async function readAuditExportBatch(
  db: OperationsDb,
  input: { teamId: string; afterSeq: string; limit: number },
  options: AuditExportReadOptions = {},
): Promise<AuditExportBatch> {
  const v = parseInput(batchInput, input);
  const key = options.key === undefined ? (loadAuditChainKey() ?? null) : options.key;
  const q = queryOf(db);
  // The anchor and the head first: a prune committed after this read only shows as a hole in the run
  // (then the second look sees its anchor), never as a skip.
  const anchor = (await q<Anchor>(ANCHOR_SQL, [v.teamId]))[0];
  const head = (await q<{ seq: string; hash: string }>("SELECT last_seq::text AS seq, last_hash AS hash FROM audit_chain_heads WHERE team_id = $1::uuid", [v.teamId]))[0];
  let start = BigInt(v.afterSeq);
  let gap: AuditExportGap | null = null;
  if (anchor && BigInt(anchor.seq) > start && (await anchorTrusted(q, v.teamId, anchor, start, head, key))) {
    gap = { type: "portcullis.audit_gap", team_id: v.teamId, from_seq: String(start + 1n), to_seq: anchor.seq, events: Number(BigInt(anchor.seq) - start), reason: "retention", anchor_hash: anchor.hash };
    start = BigInt(anchor.seq);
  }
  const maxBytes = options.maxBytes ?? AUDIT_EXPORT_BATCH_BYTES_DEFAULT;
  const rows = (await q<Record<string, unknown>>(LINE_SQL, [v.teamId, String(start), v.limit, maxBytes])).map(toLine);
  const first = rows[0];
  const headSeq = head ? BigInt(head.seq) : 0n;
  // A hole at the very start, proven by a later visible seq or by the head (one gap per batch: after a
  // retention gap, the next read deals with it).
  if (!gap && (first ? BigInt(first.seq) > start + 1n : headSeq > start)) {
    const to = first ? BigInt(first.seq) - 1n : headSeq;
    if (options.holeGraceMs !== 0) await sleep(options.holeGraceMs ?? 250);
    const again = (await q<Anchor>(ANCHOR_SQL, [v.teamId]))[0];
    if (again && BigInt(again.seq) > start && (await anchorTrusted(q, v.teamId, again, start, head, key))) return { gap: null, lines: [] };
    const filled = await q("SELECT 1 FROM audit_events WHERE team_id = $1::uuid AND seq > $2::int8 AND seq <= $3::int8 LIMIT 1", [v.teamId, String(start), String(to)]);
    if (filled.length) return { gap: null, lines: [] };
    gap = {
      type: "portcullis.audit_gap",
      team_id: v.teamId,
      from_seq: String(start + 1n),
      to_seq: String(to),
      events: Number(to - start),
      reason: "missing",
      anchor_hash: first ? (first.prev_hash as string) : head!.hash,
    };
    start = to;
  }
  const run: AuditExportLine[] = [];
  let expected = start + 1n;
  let bytes = 0;
  for (const line of rows) {
    if (BigInt(line.seq) < expected) continue;
    if (BigInt(line.seq) !== expected) break;
    bytes += Buffer.byteLength(JSON.stringify(line)) + 1;
    if (run.length > 0 && bytes > maxBytes) break;
    run.push(line);
    expected += 1n;
  }
  return { gap, lines: run };
}

/**
 * The pull API's and the CLI's read: the lines of `readAuditExportBatch`. Past a gap the first line's
 * seq is beyond `afterSeq` + 1 (the reader sees the jump; its prev_hash is the gap's anchor_hash).
 */
export async function readAuditEventsAfter(db: OperationsDb, input: { teamId: string; afterSeq: string; limit: number }): Promise<AuditExportLine[]> {
  return (await readAuditExportBatch(db, input)).lines;
}
