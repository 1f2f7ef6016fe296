import { type AuditRow, GENESIS_HASH, chainHash } from "./canonical.js";
import { type AuditDatabase, withSnapshot } from "./reader.js";

export interface AuditVerification {
  ok: boolean;
  /** Events whose links were checked (up to and including the first broken one). */
  checked: number;
  /** The first place the chain does not hold; `id` is empty when the breach is a missing tail. */
  firstBroken?: { seq: string; id: string; reason: string };
  /** Events before this sequence number were removed by retention (0: none). */
  prunedThroughSeq?: string;
  /** The chain head as the worker last advanced it. */
  headSeq?: string;
}

interface StoredRow {
  id: string;
  team_id: string;
  seq: string;
  time: string;
  kind: string;
  link_id: string | null;
  api_key_id: string | null;
  oauth_client_id: string | null;
  user_id: string | null;
  client_name: string | null;
  client_version: string | null;
  tool: string | null;
  sql: string | null;
  fingerprint: string | null;
  tables: string[] | null;
  verdict: AuditRow["verdict"];
  rule_id: string | null;
  reason: string | null;
  duration_ms: number;
  rows: number | null;
  bytes: number | null;
  error: string | null;
  source_ip: string | null;
  request_id: string | null;
  detail: string | null;
  prev_hash: string;
  hash: string;
}

const PAGE = 5000;

// Every value is read in the exact spelling the worker hashed: ids as text, seq as text (bigint
// precision), time formatted in SQL so no driver's Date handling is involved.
const PAGE_SQL = `
SELECT id::text, team_id::text, seq::text,
  to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS time,
  kind, link_id::text, api_key_id::text, oauth_client_id, user_id::text, client_name, client_version, tool,
  sql, fingerprint, tables, verdict::text AS verdict, rule_id, reason, duration_ms, rows, bytes, error,
  source_ip, request_id, detail, prev_hash, hash
FROM audit_events WHERE team_id = $1::uuid AND seq > $2::int8 ORDER BY audit_events.seq LIMIT ${PAGE}`;

function toAuditRow(r: StoredRow): AuditRow {
  return {
    id: r.id,
    teamId: r.team_id,
    seq: BigInt(r.seq),
    time: r.time,
    kind: r.kind,
    linkId: r.link_id,
    apiKeyId: r.api_key_id,
    oauthClientId: r.oauth_client_id,
    userId: r.user_id,
    clientName: r.client_name,
    clientVersion: r.client_version,
    tool: r.tool,
    sql: r.sql,
    fingerprint: r.fingerprint,
    tables: r.tables ?? [],
    verdict: r.verdict,
    ruleId: r.rule_id,
    reason: r.reason,
    durationMs: Number(r.duration_ms),
    rows: r.rows == null ? null : Number(r.rows),
    bytes: r.bytes == null ? null : Number(r.bytes),
    error: r.error,
    sourceIp: r.source_ip,
    requestId: r.request_id,
    detail: r.detail,
  };
}

/**
 * Checks a team's audit hash chain and reports the first broken link.
 *
 * Walks the team's events in `seq` order from the retention anchor (or genesis) and checks, for
 * each: that no sequence number is missing (a deleted row), that `prev_hash` is the previous event's
 * hash (a re-linked or deleted row), and that `hash` matches the row's content (an edited row). Then
 * that the last event is the chain head the worker recorded (deleted newest rows). Reads one
 * consistent snapshot, in pages, so it runs beside live ingestion and retention.
 *
 * `db`: the Prisma client, a pg Pool or Client, or a connection URL.
 * Used by `pnpm portcullis audit verify --team X` and the dashboard's "verified" badge.
 */
export async function verifyAuditChain(db: AuditDatabase, teamId: string): Promise<AuditVerification> {
  return withSnapshot(db, async (query) => {
    const [anchor] = await query<{ seq: string; hash: string }>(
      `SELECT pruned_through_seq::text AS seq, pruned_through_hash AS hash FROM audit_chain_anchors WHERE team_id = $1::uuid`,
      [teamId],
    );
    const [head] = await query<{ seq: string; hash: string }>(
      `SELECT last_seq::text AS seq, last_hash AS hash FROM audit_chain_heads WHERE team_id = $1::uuid`,
      [teamId],
    );
    let prevSeq = BigInt(anchor?.seq ?? "0");
    let prevHash = anchor?.hash ?? GENESIS_HASH;
    const prunedThroughSeq = prevSeq.toString();
    const headSeq = head?.seq;
    let checked = 0;
    const broken = (seq: bigint | string, id: string, reason: string): AuditVerification => ({
      ok: false,
      checked,
      firstBroken: { seq: seq.toString(), id, reason },
      prunedThroughSeq,
      headSeq,
    });

    for (;;) {
      const page = await query<StoredRow>(PAGE_SQL, [teamId, prevSeq.toString()]);
      for (const stored of page) {
        checked++;
        const row = toAuditRow(stored);
        if (row.seq !== prevSeq + 1n) {
          const missing = row.seq - prevSeq - 1n;
          return broken(row.seq, row.id, `${missing} event(s) before this one were removed (expected seq ${prevSeq + 1n})`);
        }
        if (stored.prev_hash !== prevHash) {
          return broken(row.seq, row.id, "prev_hash does not match the previous event's hash (an event was replaced or re-linked)");
        }
        if (chainHash(prevHash, row) !== stored.hash) {
          return broken(row.seq, row.id, "content does not match its hash (the event was edited)");
        }
        prevSeq = row.seq;
        prevHash = stored.hash;
      }
      if (page.length < PAGE) break;
    }

    if (head) {
      const headSeqN = BigInt(head.seq);
      if (headSeqN > prevSeq) {
        return broken(prevSeq + 1n, "", `events ${prevSeq + 1n}..${headSeqN} were removed (the chain head is at seq ${headSeqN})`);
      }
      if (headSeqN < prevSeq) {
        return broken(headSeqN + 1n, "", `events after the chain head (seq ${headSeqN}) were added outside the worker`);
      }
      if (head.hash !== prevHash) {
        return broken(prevSeq, "", "the newest event does not match the chain head's hash");
      }
    } else if (prevSeq > 0n) {
      return broken(prevSeq, "", "events exist but the team has no chain head");
    }
    return { ok: true, checked, prunedThroughSeq, headSeq };
  });
}
