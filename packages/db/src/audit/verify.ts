import { type AuditRow, GENESIS_HASH, chainHash } from "./canonical.js";
import { type ChainKey, anchorMac, isKeyedHash } from "./chain-key.js";
import { type Checkpoint, type DivergedCheckpoint, checkpointSignatureValid } from "./checkpoint.js";
import { type AuditDatabase, withSnapshot } from "./reader.js";

export interface VerifyOptions {
  /** The chain key (AUDIT_CHAIN_KEY): needed to check keyed events and checkpoints. */
  key?: ChainKey;
  /**
   * The team's checkpoint read from outside the database (readCheckpoint), or null when there is
   * none; undefined: not consulted at all (the result says so).
   */
  checkpoint?: Checkpoint | null;
  /** Checkpoints the worker found no longer in the chain (readDivergedCheckpoints): evidence of a rewrite. */
  diverged?: readonly DivergedCheckpoint[];
}

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
  /**
   * Which part is keyed: events from `keyedFromSeq` on are HMAC-linked (checked with the key when
   * `keyChecked`); the ones before it are plain SHA-256 (written before the key existed). Absent: no
   * keyed event.
   */
  keyedFromSeq?: string;
  keyChecked?: boolean;
  /** The checkpoint kept outside the database that the chain was held against. */
  checkpoint?: { seq: string; at: string; status: "matched" | "absent" | "not_consulted" | "behind_retention" };
  /** chain_break events the worker wrote (a head that did not match its events), oldest first. */
  breaks?: { seq: string; id: string; reason: string }[];
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
  protocol_version: string | null;
  trace_id: string | null;
  rewritten_sql: string | null;
  attribute_names: string[];
  write_request_id: string | null;
  access_grant_id: string | null;
  database_name: string | null;
  target_server: string | null;
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
  source_ip, request_id, detail, protocol_version, trace_id, rewritten_sql, attribute_names,
  write_request_id::text, access_grant_id::text, database_name, target_server, prev_hash, hash
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
    protocolVersion: r.protocol_version,
    traceId: r.trace_id,
    rewrittenSql: r.rewritten_sql,
    attributeNames: r.attribute_names,
    writeRequestId: r.write_request_id,
    accessGrantId: r.access_grant_id,
    databaseName: r.database_name,
    targetServer: r.target_server,
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
export async function verifyAuditChain(db: AuditDatabase, teamId: string, options: VerifyOptions = {}): Promise<AuditVerification> {
  const { key } = options;
  return withSnapshot(db, async (query) => {
    // Before the snapshot is taken (LOCK takes none): a partition dropped by retention (partitions.ts)
    // leaves the table's catalog at once, whatever a snapshot says, so a walk that read the anchor
    // before such a drop committed would find its events gone. Holding the table, the walk sees the
    // partition and the old anchor, or neither; the drop waits for it.
    await query("LOCK TABLE audit_events IN ACCESS SHARE MODE", []);
    const [anchor] = await query<{ seq: string; hash: string; mac: string | null }>(
      `SELECT pruned_through_seq::text AS seq, pruned_through_hash AS hash, pruned_mac AS mac FROM audit_chain_anchors WHERE team_id = $1::uuid`,
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
    // A keyed anchor means retention already cut into the keyed part.
    let keyedFromSeq: bigint | undefined = isKeyedHash(prevHash) ? prevSeq : undefined;
    const breaks: NonNullable<AuditVerification["breaks"]> = [];
    const cp = options.checkpoint;
    let checkpoint: AuditVerification["checkpoint"] =
      cp === undefined ? { seq: "0", at: "", status: "not_consulted" } : cp === null ? { seq: "0", at: "", status: "absent" } : { seq: cp.seq, at: cp.at, status: "matched" };
    const summary = () => ({
      prunedThroughSeq,
      headSeq,
      ...(keyedFromSeq !== undefined ? { keyedFromSeq: keyedFromSeq.toString(), keyChecked: !!key } : {}),
      checkpoint,
      ...(breaks.length ? { breaks } : {}),
    });
    const broken = (seq: bigint | string, id: string, reason: string): AuditVerification => ({
      ok: false,
      checked,
      firstBroken: { seq: seq.toString(), id, reason },
      ...summary(),
    });

    // A cut inside the keyed part must carry the pruner's MAC: otherwise deleting every event and
    // moving the anchor to the newest one would pass (the anchor's hash is readable in the database).
    if (anchor && isKeyedHash(anchor.hash) && anchor.seq !== "0") {
      if (!key) return broken(anchor.seq, "", "the retention anchor is in the keyed part: verifying it needs AUDIT_CHAIN_KEY");
      if (anchor.mac !== anchorMac(key, teamId, anchor.seq, anchor.hash)) {
        return broken(anchor.seq, "", "the retention anchor is not signed with the chain key (moved outside the worker's retention)");
      }
    }

    // Evidence the worker kept: a checkpoint it signed that the chain no longer contained when it moved
    // on. However far the chain has grown since, that rewrite happened. Only signed evidence counts.
    for (const d of options.diverged ?? []) {
      if (key && d.teamId === teamId.toLowerCase() && checkpointSignatureValid(key, d)) {
        return broken(d.seq, "", `the chain was rewritten: the checkpoint of seq ${d.seq} signed at ${d.at} was no longer in it when the worker moved on (${d.detectedAt})`);
      }
    }

    if (cp) {
      if (!key) return broken(cp.seq, "", "a checkpoint exists but no AUDIT_CHAIN_KEY was given to check its signature");
      if (!checkpointSignatureValid(key, cp) || cp.teamId !== teamId.toLowerCase()) {
        return broken(cp.seq, "", "the checkpoint's signature is not valid (forged, or signed with another key)");
      }
      const cpSeq = BigInt(cp.seq);
      if (cpSeq < prevSeq) checkpoint = { seq: cp.seq, at: cp.at, status: "behind_retention" };
      else if (cpSeq === prevSeq && cp.hash !== prevHash) {
        return broken(cp.seq, "", `the retention anchor at seq ${cp.seq} does not match the checkpoint signed at ${cp.at}`);
      }
    }
    const cpSeq = cp ? BigInt(cp.seq) : -1n;

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
        if (isKeyedHash(stored.hash)) {
          keyedFromSeq ??= row.seq;
          if (!key) return broken(row.seq, row.id, "the event is HMAC-keyed: verifying it needs AUDIT_CHAIN_KEY");
          if (chainHash(prevHash, row, key) !== stored.hash) {
            return broken(row.seq, row.id, "content does not match its keyed hash (the event was edited, or another key wrote it)");
          }
        } else {
          if (keyedFromSeq !== undefined) {
            return broken(row.seq, row.id, `an unkeyed event after keyed ones (keyed from seq ${keyedFromSeq}): rewritten without the key`);
          }
          if (chainHash(prevHash, row) !== stored.hash) {
            return broken(row.seq, row.id, "content does not match its hash (the event was edited)");
          }
        }
        if (row.kind === "chain_break") breaks.push({ seq: row.seq.toString(), id: row.id, reason: row.reason ?? "" });
        if (row.seq === cpSeq && stored.hash !== cp!.hash) {
          return broken(row.seq, row.id, `the event at seq ${cp!.seq} is not the one the checkpoint signed at ${cp!.at} recorded (the chain was rewritten)`);
        }
        prevSeq = row.seq;
        prevHash = stored.hash;
      }
      if (page.length < PAGE) break;
    }

    if (cp && cpSeq > prevSeq) {
      return broken(
        prevSeq + 1n,
        "",
        `events ${prevSeq + 1n}..${cpSeq} are missing: the checkpoint signed at ${cp.at} (outside the database) recorded the chain at seq ${cpSeq}, the database ends at seq ${prevSeq}`,
      );
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
    if (breaks.length) {
      // Every link holds, but the worker found the head and the events disagreeing: something changed
      // them outside the worker. The trail is intact from the break on; it is not clean.
      const first = breaks[0]!;
      return broken(first.seq, first.id, `the worker recorded a chain break: ${first.reason}`);
    }
    return { ok: true, checked, ...summary() };
  });
}
