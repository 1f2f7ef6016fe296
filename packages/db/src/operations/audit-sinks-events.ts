import { z } from "zod";
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
  access_grant_id::text AS access_grant_id, database_name, target_server, attribute_names, prev_hash, hash
  FROM audit_events WHERE team_id = $1::uuid AND seq > $2::int8 ORDER BY audit_events.seq LIMIT $3::int`;
// (ORDER BY names the table: the bare name would be the text alias above and sort "10" before "2".)

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
    else if (key === "rows" || key === "bytes") line[key] = value === null || value === undefined ? null : Number(value);
    else line[key] = value ?? null;
  }
  return line as AuditExportLine;
}

/**
 * Events retention removed before a reader got them: seqs `from_seq`..`to_seq` of the team are gone
 * for good (a chunked prune or a partition DROP moved the team's anchor there). `anchor_hash` is the
 * hash of event `to_seq`, so the next line's prev_hash still links to it and a receiver checking the
 * chain carries on. Webhooks get it as the batch's first element (and the Portcullis-Gap header),
 * files as their first line: the same record in both.
 */
export interface AuditExportGap {
  type: "portcullis.audit_gap";
  team_id: string;
  from_seq: string;
  to_seq: string;
  events: number;
  reason: "retention";
  anchor_hash: string;
}

export interface AuditExportBatch {
  /** Set when the team's anchor lies past the cursor: the run below starts after `gap.to_seq`. */
  gap: AuditExportGap | null;
  lines: AuditExportLine[];
}

const batchInput = z.strictObject({ teamId: uuidSchema, afterSeq: seqCursorSchema, limit: z.number().int().min(1).max(10_000) });

/**
 * The team's next batch after `afterSeq`: a gap-free run in seq order, at most `limit` events. The
 * only way past a missing seq is the team's retention anchor: when it lies beyond the cursor, the
 * events up to it were removed for good, so the batch says so (`gap`) and the run starts after it.
 * Any other missing seq (a commit not visible yet) ends the run, and the reader waits for it: a
 * cursor advanced to the last line never skips an event without a gap record.
 */
export async function readAuditExportBatch(db: OperationsDb, input: { teamId: string; afterSeq: string; limit: number }): Promise<AuditExportBatch> {
  const v = parseInput(batchInput, input);
  const q = queryOf(db);
  // The anchor first: a prune committed after this read only shows as a hole in the run (then we wait
  // and see its anchor on the next read), never as a skip.
  const anchor = (
    await q<{ seq: string; hash: string }>("SELECT pruned_through_seq::text AS seq, pruned_through_hash AS hash FROM audit_chain_anchors WHERE team_id = $1::uuid", [v.teamId])
  )[0];
  let start = BigInt(v.afterSeq);
  let gap: AuditExportGap | null = null;
  if (anchor && BigInt(anchor.seq) > start) {
    gap = {
      type: "portcullis.audit_gap",
      team_id: v.teamId,
      from_seq: String(start + 1n),
      to_seq: anchor.seq,
      events: Number(BigInt(anchor.seq) - start),
      reason: "retention",
      anchor_hash: anchor.hash,
    };
    start = BigInt(anchor.seq);
  }
  const rows = (await q<Record<string, unknown>>(LINE_SQL, [v.teamId, String(start), v.limit])).map(toLine);
  const run: AuditExportLine[] = [];
  let expected = start + 1n;
  for (const line of rows) {
    if (BigInt(line.seq) !== expected) break;
    run.push(line);
    expected += 1n;
  }
  return { gap, lines: run };
}

/**
 * The pull API's and the CLI's read: the lines of `readAuditExportBatch`. Past a retention gap the
 * first line's seq is beyond `afterSeq` + 1 (the reader sees the jump; its prev_hash is the anchor's).
 */
export async function readAuditEventsAfter(db: OperationsDb, input: { teamId: string; afterSeq: string; limit: number }): Promise<AuditExportLine[]> {
  return (await readAuditExportBatch(db, input)).lines;
}
