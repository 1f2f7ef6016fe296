import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { randomUUID } from "node:crypto";
import { type AuditRow, type CanonicalParts, GENESIS_HASH, canonicalParts, canonicalTime, chainHashOfParts, sanitizeText } from "./canonical.js";
import type { ChainKey } from "./chain-key.js";
import type { HeadMove } from "./checkpoint.js";
import { checkOut } from "./checkout.js";

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
  protocolVersion?: string | null;
  traceId?: string | null;
  rewrittenSql?: string | null;
  attributeNames?: string[] | null;
  writeRequestId?: string | null;
  accessGrantId?: string | null;
  databaseName?: string | null;
  targetServer?: string | null;
}

export interface IngestResult {
  /** Events of the batch written by this call (break events not counted). */
  inserted: number;
  /** Events already stored (a replay, a retry after a crash, or twice in one batch). */
  duplicates: number;
  /** Ids of events whose team does not exist (deleted since): kept in audit_orphans, not in a chain. */
  unknownTeam: string[];
  /** Each moved team's new chain head (and the head it started from), for checkpoints outside the database. */
  heads: HeadMove[];
  /** Teams whose chain head did not match their newest stored event (see ChainBreak). */
  breaks: ChainBreak[];
}

/**
 * A chain head that did not match the newest stored event: the head row or the newest events were
 * changed outside the worker (a rewound head, deleted or edited newest events). Ingestion does not
 * stop for it (the gateway keeps serving, so its events must keep landing): the chain continues from
 * the newer of the two, and a `chain_break` event, chained like any other, records what was found.
 */
export interface ChainBreak {
  teamId: string;
  head: { seq: string; hash: string };
  stored: { seq: string; hash: string };
  /** Where the chain continues: seq and hash of the break event's predecessor. */
  continuedFrom: { seq: string; hash: string };
  breakEventId: string;
}

export interface WriteOptions {
  /** The chain key: events are HMAC-linked with it (see canonical.ts); without it, SHA-256. */
  key?: ChainKey;
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
    protocolVersion: text(event.protocolVersion),
    traceId: text(event.traceId),
    rewrittenSql: text(event.rewrittenSql),
    attributeNames: (event.attributeNames ?? []).map((n) => sanitizeText(n)),
    writeRequestId: uuid(event.writeRequestId),
    accessGrantId: uuid(event.accessGrantId),
    databaseName: text(event.databaseName),
    targetServer: text(event.targetServer),
  };
}

const COLUMNS = `id, team_id, time, seq, kind, link_id, api_key_id, oauth_client_id, user_id, client_name,
  client_version, tool, sql, fingerprint, tables, verdict, rule_id, reason, duration_ms, rows, bytes, error,
  source_ip, request_id, detail, protocol_version, trace_id, rewritten_sql, attribute_names, write_request_id, access_grant_id, database_name, target_server, prev_hash, hash`;

// COPY rather than INSERT: measured here (2 cores, all of audit_events' indexes) a COPY of 1,000 rows
// costs PostgreSQL noticeably less than INSERT … SELECT FROM unnest(30 arrays), and the text format is
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
export async function ingestAuditBatch(pool: pg.Pool, events: readonly AuditEventInput[], options: WriteOptions = {}): Promise<IngestResult> {
  return writePreparedBatch(pool, prepareAuditBatch(events), options);
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
  /** The event as received: what audit_orphans keeps when its team is gone. */
  source: AuditEventInput;
  /** Its time in epoch ms: the batch's range prunes the duplicate check to the partitions it covers. */
  timeMs: number;
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
    const row = prepareRow(event);
    teams.add(row.teamId);
    rows.set(id, row);
  }
  return { received: events.length, rows, teamIds: [...teams].sort() };
}

function prepareRow(event: AuditEventInput): PreparedRow {
  const row = toRow(event);
  const middle = [
    row.kind, row.linkId, row.apiKeyId, row.oauthClientId, row.userId, row.clientName, row.clientVersion, row.tool,
    row.sql, row.fingerprint, arrayLiteral(row.tables), row.verdict, row.ruleId, row.reason, row.durationMs, row.rows,
    row.bytes, row.error, row.sourceIp, row.requestId, row.detail, row.protocolVersion ?? null, row.traceId ?? null,
    row.rewrittenSql ?? null, arrayLiteral([...(row.attributeNames ?? [])]), row.writeRequestId ?? null, row.accessGrantId ?? null,
    row.databaseName ?? null, row.targetServer ?? null,
  ];
  return {
    id: row.id,
    teamId: row.teamId,
    parts: canonicalParts(row),
    lineHead: `${copyField(row.id)}\t${copyField(row.teamId)}\t${copyField(row.time)}\t`,
    lineMiddle: `\t${middle.map(copyField).join("\t")}\t`,
    source: event,
    timeMs: Date.parse(row.time),
  };
}

// The newest stored event of each team (or, when retention removed them all, where it cut): what the
// chain head must be. One index probe per team and partition, on (team_id, seq): a straggler can put a
// team's newest seq in any month, so no partition can be skipped.
const TAIL_SQL = `
SELECT t.id::text AS team_id, coalesce(e.seq, a.pruned_through_seq, 0)::text AS seq, coalesce(e.hash, a.pruned_through_hash, $2) AS hash
FROM unnest($1::uuid[]) AS t(id)
LEFT JOIN LATERAL (SELECT seq, hash FROM audit_events WHERE team_id = t.id ORDER BY seq DESC LIMIT 1) e ON true
LEFT JOIN audit_chain_anchors a ON a.team_id = t.id`;

function breakEvent(teamId: string, head: { seq: bigint; hash: string }, stored: { seq: bigint; hash: string }): AuditEventInput {
  const detail = {
    action: "audit.chain.break",
    head: { seq: head.seq.toString(), hash: head.hash },
    stored: { seq: stored.seq.toString(), hash: stored.hash },
  };
  const what =
    head.seq > stored.seq
      ? `events ${stored.seq + 1n}..${head.seq} are missing from the database`
      : head.seq < stored.seq
        ? `the chain head was set back from seq ${stored.seq} to seq ${head.seq}`
        : `the newest event or the chain head at seq ${head.seq} was altered`;
  return {
    id: randomUUID(),
    time: new Date().toISOString(),
    teamId,
    kind: "chain_break",
    verdict: "error",
    reason: `the audit chain head (seq ${head.seq}) did not match the newest stored event (seq ${stored.seq}): ${what}; the chain continues after this event`,
    detail: JSON.stringify(detail),
  };
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
export async function writePreparedBatch(pool: pg.Pool, batch: PreparedAuditBatch, options: WriteOptions = {}): Promise<IngestResult> {
  const { rows, teamIds } = batch;
  if (rows.size === 0) return { inserted: 0, duplicates: 0, unknownTeam: [], heads: [], breaks: [] };
  const { client, release } = await checkOut(pool);
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
    const locked = new Map(heads.rows.map((h) => [h.team_id, { seq: h.last_seq, hash: h.last_hash }]));
    const breaks: ChainBreak[] = [];
    const lines: string[] = [];
    const key = options.key;
    const append = (row: PreparedRow, h: { seq: bigint; hash: string }) => {
      const seq = h.seq + 1n;
      const hash = chainHashOfParts(h.hash, row.parts, seq, key);
      lines.push(`${row.lineHead}${seq.toString()}${row.lineMiddle}${h.hash}\t${hash}\n`);
      h.seq = seq;
      h.hash = hash;
    };
    if (head.size > 0) {
      // Named, so each connection plans it once: with audit_events partitioned, seq (not the partition
      // key) cannot prune, and planning over every month's indexes was most of this query's cost
      // (measured: 41 partitions, 17 ms unnamed vs 12 ms named per batch, on 2 cores at load 16).
      const tails = await client.query<{ team_id: string; seq: string; hash: string }>({ name: "pc-audit-tail", text: TAIL_SQL, values: [[...head.keys()], GENESIS_HASH] });
      for (const tail of tails.rows) {
        const h = head.get(tail.team_id)!;
        const stored = { seq: BigInt(tail.seq), hash: tail.hash };
        if (stored.seq === h.seq && stored.hash === h.hash) continue;
        // Continue from the newer end: behind the stored events a new seq would collide with an
        // existing one (the unique key would fail every batch: the stall this replaces).
        const from = stored.seq >= h.seq ? { ...stored } : { ...h };
        const event = breakEvent(tail.team_id, h, stored);
        breaks.push({
          teamId: tail.team_id,
          head: { seq: h.seq.toString(), hash: h.hash },
          stored: { seq: stored.seq.toString(), hash: stored.hash },
          continuedFrom: { seq: from.seq.toString(), hash: from.hash },
          breakEventId: event.id,
        });
        append(prepareRow(event), from);
        head.set(tail.team_id, from);
      }
    }
    // audit_events is partitioned by the producer's time, which is fixed per event id: a replayed event
    // is stored in the partition its time names, so the batch's time range is where its duplicates can
    // be, and PostgreSQL reads only those months' primary-key indexes (a live batch: one).
    let minMs = Infinity;
    let maxMs = -Infinity;
    for (const row of rows.values()) {
      if (row.timeMs < minMs) minMs = row.timeMs;
      if (row.timeMs > maxMs) maxMs = row.timeMs;
    }
    const existing = await client.query<{ id: string }>(
      `SELECT id FROM audit_events WHERE id = ANY($1::uuid[]) AND time >= $2::timestamptz AND time <= $3::timestamptz`,
      [[...rows.keys()], new Date(minMs).toISOString(), new Date(maxMs).toISOString()],
    );
    const stored = new Set(existing.rows.map((r) => r.id));

    const orphans: PreparedRow[] = [];
    for (const row of rows.values()) {
      if (stored.has(row.id)) continue;
      const h = head.get(row.teamId);
      if (!h) {
        orphans.push(row);
        continue;
      }
      append(row, h);
    }
    const inserted = lines.length - breaks.length;
    const moved: IngestResult["heads"] = [];
    if (lines.length > 0) {
      await copyRows(client, lines);
      for (const [teamId, h] of head) moved.push({ teamId, seq: h.seq.toString(), hash: h.hash, from: locked.get(teamId)! });
      await client.query(
        `UPDATE audit_chain_heads h SET last_seq = u.seq, last_hash = u.hash, updated_at = now()
         FROM unnest($1::uuid[], $2::int8[], $3::text[]) AS u(team_id, seq, hash)
         WHERE h.team_id = u.team_id AND (h.last_seq <> u.seq OR h.last_hash <> u.hash)`,
        [moved.map((m) => m.teamId), moved.map((m) => m.seq), moved.map((m) => m.hash)],
      );
    }
    if (orphans.length > 0) {
      // SQL ran for these calls: their team is gone, the record of them is not (countable by `audit orphans`).
      await client.query(
        `INSERT INTO audit_orphans (id, team_id, event, reason)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) ON CONFLICT (id) DO NOTHING`,
        [
          orphans.map((o) => o.id),
          orphans.map((o) => o.teamId),
          orphans.map((o) => sanitizeText(JSON.stringify(o.source))),
          orphans.map(() => "team does not exist (deleted before the event was stored)"),
        ],
      );
    }
    await client.query("COMMIT");
    const unknownTeam = orphans.map((o) => o.id);
    return { inserted, duplicates: batch.received - inserted - unknownTeam.length, unknownTeam, heads: moved, breaks };
  } catch (error) {
    // The connection itself is broken: destroy it rather than return it to the pool.
    await client.query("ROLLBACK").catch(() => release(true));
    throw error;
  } finally {
    release();
  }
}
