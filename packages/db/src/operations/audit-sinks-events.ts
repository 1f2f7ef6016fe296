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
 * The team's events after `afterSeq`, in seq order, at most `limit`. Only a gap-free run is returned
 * (it stops before a missing seq), so a cursor advanced to the last line never skips an event; a run
 * may start past a gap only where retention removed the whole beginning (nothing at or below the gap).
 */
export async function readAuditEventsAfter(db: OperationsDb, input: { teamId: string; afterSeq: string; limit: number }): Promise<AuditExportLine[]> {
  const v = parseInput(z.strictObject({ teamId: uuidSchema, afterSeq: seqCursorSchema, limit: z.number().int().min(1).max(10_000) }), input);
  const q = queryOf(db);
  const rows = (await q<Record<string, unknown>>(LINE_SQL, [v.teamId, v.afterSeq, v.limit])).map(toLine);
  if (rows.length === 0) return rows;
  let expected = BigInt(v.afterSeq) + 1n;
  if (BigInt(rows[0]!.seq) !== expected) {
    // The first event is not the next seq: either retention dropped the events in between (nothing of
    // the team at or below the cursor+1 remains) or an earlier seq is not visible yet — then wait.
    const older = await q<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE team_id = $1::uuid AND seq <= $2::int8", [v.teamId, v.afterSeq]);
    if (BigInt(v.afterSeq) > 0n && older[0]!.n > 0) return [];
    expected = BigInt(rows[0]!.seq);
  }
  const run: AuditExportLine[] = [];
  for (const line of rows) {
    if (BigInt(line.seq) !== expected) break;
    run.push(line);
    expected += 1n;
  }
  return run;
}
