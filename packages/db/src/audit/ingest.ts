import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { type AuditRow, type CanonicalParts, GENESIS_HASH, canonicalParts, canonicalTime, chainHashOfParts, sanitizeText } from "./canonical.js";

/** An audit event as produced by the gateway (`auditEventSchema` of @portcullis/jobs, parsed). */
export interface AuditEventInput {
  id: string;
  time: string;
  teamId: string;
  kind?: string | null;
  linkId?: string | null;
  apiKeyId?: string | null;
  oauthClientId?: string | null;
  userId?: string | null;
  clientName?: string | null;
  clientVersion?: string | null;
  tool?: string | null;
  sql?: string | null;
  fingerprint?: string | null;
  tables?: string[] | null;
  verdict: "allowed" | "blocked" | "error";
  ruleId?: string | null;
  reason?: string | null;
  durationMs?: number | null;
  rows?: number | null;
  bytes?: number | null;
  error?: string | null;
  sourceIp?: string | null;
  requestId?: string | null;
  detail?: string | null;
}

export interface IngestResult {
  /** Rows written by this call. */
  inserted: number;
  /** Events already stored (a replay, a retry after a crash, or twice in one batch). */
  duplicates: number;
  /** Ids of events whose team does not exist (deleted since): nothing to attach them to. */
  unknownTeam: string[];
}

const INT4_MAX = 2_147_483_647;
const clampInt = (n: number | null | undefined) => (n == null ? null : Math.min(Math.max(0, Math.trunc(n)), INT4_MAX));
const text = (v: string | null | undefined) => sanitizeText(v ?? null);
const uuid = (v: string | null | undefined) => (v ? v.toLowerCase() : null);

/** The stored form of an event, minus seq (assigned under the team's lock). */
function toRow(event: AuditEventInput): Omit<AuditRow, "seq"> {
  return {
    id: event.id.toLowerCase(),
    teamId: event.teamId.toLowerCase(),
    time: canonicalTime(event.time),
    kind: text(event.kind) ?? "tool_call",
    linkId: uuid(event.linkId),
    apiKeyId: uuid(event.apiKeyId),
    oauthClientId: text(event.oauthClientId),
    userId: uuid(event.userId),
    clientName: text(event.clientName),
    clientVersion: text(event.clientVersion),
    tool: text(event.tool),
    sql: text(event.sql),
    fingerprint: text(event.fingerprint),
    tables: (event.tables ?? []).map((t) => sanitizeText(t)),
    verdict: event.verdict,
    ruleId: text(event.ruleId),
    reason: text(event.reason),
    durationMs: event.durationMs ?? 0,
    // int4 columns: a producer bug (or a 3 GB result) must not make the event unstorable.
    rows: clampInt(event.rows),
    bytes: clampInt(event.bytes),
    error: text(event.error),
    sourceIp: text(event.sourceIp),
    requestId: text(event.requestId),
    detail: text(event.detail),
  };
}

const COLUMNS = `id, team_id, time, seq, kind, link_id, api_key_id, oauth_client_id, user_id, client_name,
  client_version, tool, sql, fingerprint, tables, verdict, rule_id, reason, duration_ms, rows, bytes, error,
  source_ip, request_id, detail, prev_hash, hash`;

// COPY rather than INSERT: measured here (2 cores, all of audit_events' indexes) a COPY of 1,000 rows
// costs PostgreSQL noticeably less than INSERT … SELECT FROM unnest(26 arrays), and the text format is
// cheap to produce. COPY has no ON CONFLICT, which is fine: duplicates are filtered under the head
// locks before this runs, and a conflict would abort the batch (to be retried) rather than fork a chain.
const COPY_SQL = `COPY audit_events (${COLUMNS}) FROM STDIN`;

const COPY_SPECIAL = /[\\\n\r\t]/;

function copyText(value: string): string {
  if (!COPY_SPECIAL.test(value)) return value;
  return value.replace(/[\\\n\r\t]/g, (c) => (c === "\\" ? "\\\\" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : "\\t"));
}

function copyField(value: string | number | null): string {
  if (value === null) return "\\N";
  return typeof value === "number" ? String(value) : copyText(value);
}

function arrayLiteral(items: string[]): string {
  return `{${items.map((t) => `"${t.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(",")}}`;
}

async function copyRows(client: pg.PoolClient, lines: string[]): Promise<void> {
  const stream = client.query(copyFrom(COPY_SQL));
  await pipeline(Readable.from([lines.join("")]), stream);
}

/**
 * Writes a batch of audit events in one transaction, extending each team's hash chain.
 *
 * - Idempotent on event id: ids already stored (and repeats inside the batch) are skipped *before*
 *   sequence numbers are assigned, so a replay never leaves a gap in the chain.
 * - Each team's chain head is locked (`FOR UPDATE`, in team-id order so two batches cannot deadlock)
 *   from the duplicate check to the commit: concurrent batches, in this process or another worker,
 *   extend a team's chain one after the other, never forking it.
 * - All or nothing: on any error the transaction rolls back and the caller may retry the same batch.
 */
export async function ingestAuditBatch(pool: pg.Pool, events: readonly AuditEventInput[]): Promise<IngestResult> {
  return writePreparedBatch(pool, prepareAuditBatch(events));
}

/** One event, ready to be chained: everything but seq, prev_hash and hash is already encoded. */
interface PreparedRow {
  id: string;
  teamId: string;
  parts: CanonicalParts;
  /** COPY fields before seq (id, team_id, time), tab-terminated. */
  lineHead: string;
  /** COPY fields between seq and prev_hash, tab-delimited on both sides. */
  lineMiddle: string;
}

export interface PreparedAuditBatch {
  /** Events received, duplicates within the batch included. */
  received: number;
  rows: Map<string, PreparedRow>;
  teamIds: string[];
}

/**
 * The part of a write that needs no lock and no connection: normalizing, sanitizing and encoding
 * every event. Done before the transaction, so the chain heads stay locked only while hashing and
 * copying, and a second batch can be prepared while the first is in PostgreSQL.
 */
export function prepareAuditBatch(events: readonly AuditEventInput[]): PreparedAuditBatch {
  const rows = new Map<string, PreparedRow>();
  const teams = new Set<string>();
  for (const event of events) {
    const id = event.id.toLowerCase();
    if (rows.has(id)) continue;
    const row = toRow(event);
    teams.add(row.teamId);
    const middle = [
      row.kind, row.linkId, row.apiKeyId, row.oauthClientId, row.userId, row.clientName, row.clientVersion, row.tool,
      row.sql, row.fingerprint, arrayLiteral(row.tables), row.verdict, row.ruleId, row.reason, row.durationMs, row.rows,
      row.bytes, row.error, row.sourceIp, row.requestId, row.detail,
    ];
    rows.set(id, {
      id,
      teamId: row.teamId,
      parts: canonicalParts(row),
      lineHead: `${copyField(row.id)}\t${copyField(row.teamId)}\t${copyField(row.time)}\t`,
      lineMiddle: `\t${middle.map(copyField).join("\t")}\t`,
    });
  }
  return { received: events.length, rows, teamIds: [...teams].sort() };
}

/**
 * Writes a prepared batch in one transaction, extending each team's hash chain.
 *
 * - Idempotent on event id: ids already stored (and repeats inside the batch) are skipped *before*
 *   sequence numbers are assigned, so a replay never leaves a gap in the chain.
 * - Each team's chain head is locked (`FOR UPDATE`, in team-id order so two batches cannot deadlock)
 *   from the duplicate check to the commit: concurrent batches, in this process or another worker,
 *   extend a team's chain one after the other, never forking it.
 * - All or nothing: on any error the transaction rolls back and the caller may retry the same batch.
 */
export async function writePreparedBatch(pool: pg.Pool, batch: PreparedAuditBatch): Promise<IngestResult> {
  const { rows, teamIds } = batch;
  if (rows.size === 0) return { inserted: 0, duplicates: 0, unknownTeam: [] };
  const client = await pool.connect();
  let released = false;
  try {
    await client.query("BEGIN");
    // Heads are created lazily; a team deleted since the event was produced has no row to attach to.
    await client.query(
      `INSERT INTO audit_chain_heads (team_id, last_seq, last_hash)
       SELECT id, 0, $2 FROM teams WHERE id = ANY($1::uuid[]) ON CONFLICT (team_id) DO NOTHING`,
      [teamIds, GENESIS_HASH],
    );
    const heads = await client.query<{ team_id: string; last_seq: string; last_hash: string }>(
      `SELECT team_id, last_seq, last_hash FROM audit_chain_heads WHERE team_id = ANY($1::uuid[]) ORDER BY team_id FOR UPDATE`,
      [teamIds],
    );
    const head = new Map(heads.rows.map((h) => [h.team_id, { seq: BigInt(h.last_seq), hash: h.last_hash }]));
    const existing = await client.query<{ id: string }>(`SELECT id FROM audit_events WHERE id = ANY($1::uuid[])`, [[...rows.keys()]]);
    const stored = new Set(existing.rows.map((r) => r.id));

    const unknownTeam: string[] = [];
    const lines: string[] = [];
    for (const row of rows.values()) {
      if (stored.has(row.id)) continue;
      const h = head.get(row.teamId);
      if (!h) {
        unknownTeam.push(row.id);
        continue;
      }
      const seq = h.seq + 1n;
      const hash = chainHashOfParts(h.hash, row.parts, seq);
      lines.push(`${row.lineHead}${seq.toString()}${row.lineMiddle}${h.hash}\t${hash}\n`);
      h.seq = seq;
      h.hash = hash;
    }
    const inserted = lines.length;
    if (inserted > 0) {
      await copyRows(client, lines);
      const moved = [...head.entries()];
      await client.query(
        `UPDATE audit_chain_heads h SET last_seq = u.seq, last_hash = u.hash, updated_at = now()
         FROM unnest($1::uuid[], $2::int8[], $3::text[]) AS u(team_id, seq, hash)
         WHERE h.team_id = u.team_id AND h.last_seq <> u.seq`,
        [moved.map(([t]) => t), moved.map(([, h]) => h.seq.toString()), moved.map(([, h]) => h.hash)],
      );
    }
    await client.query("COMMIT");
    return { inserted, duplicates: batch.received - inserted - unknownTeam.length, unknownTeam };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {
      // The connection itself is broken: destroy it rather than return it to the pool.
      client.release(true);
      released = true;
    });
    throw error;
  } finally {
    if (!released) client.release();
  }
}
