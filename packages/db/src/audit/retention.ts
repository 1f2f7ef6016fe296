import type pg from "pg";
import { GENESIS_HASH } from "./canonical.js";
import { type ChainKey, anchorMac } from "./chain-key.js";
import { checkOut } from "./checkout.js";

export interface PruneOptions {
  /** Rows deleted per transaction; each chunk holds its locks only for its own few milliseconds. */
  chunkSize?: number;
  /** Upper bound of chunks per call, so one huge backlog cannot monopolise a worker. */
  maxChunks?: number;
  /** Pause between chunks, leaving room for ingestion's transactions (ms). */
  pauseMs?: number;
  signal?: AbortSignal;
  /** AUDIT_CHAIN_KEY: the new cut point is signed with it (verify requires it for a keyed cut). */
  key?: ChainKey;
}

export interface PruneResult {
  deleted: number;
  prunedThroughSeq: string;
  /** True when the call stopped at maxChunks with old events left. */
  more: boolean;
}

/**
 * Deletes a team's audit events older than `before`, oldest first, in bounded chunks, and records
 * where the chain was cut (audit_chain_anchors) so `verifyAuditChain` can still prove the rest.
 *
 * Only a *prefix* of the chain is removed: events are deleted in seq order up to the first one that
 * is still within retention, because a hole in the middle would be indistinguishable from tampering.
 * Events are deleted without touching the chain head row, so ingestion is not blocked by them; only
 * the short clean-up of unused statement texts takes the head lock (see pruneStatementTexts).
 */
export async function pruneAuditEvents(pool: pg.Pool, teamId: string, before: Date, options: PruneOptions = {}): Promise<PruneResult> {
  const chunkSize = options.chunkSize ?? 5000;
  const maxChunks = options.maxChunks ?? 200;
  const pauseMs = options.pauseMs ?? 20;
  let deleted = 0;
  let through = "0";
  // Statement shapes the deleted events used; those no remaining event uses are deleted too.
  const releasedTexts = new Set<string>();
  for (let chunk = 0; chunk < maxChunks; chunk++) {
    if (options.signal?.aborted) return { deleted, prunedThroughSeq: through, more: true };
    const { client, release } = await checkOut(pool);
    let done = false;
    try {
      await client.query("BEGIN");
      // Serialises pruners of the same team (the anchor row is theirs alone, never ingestion's).
      await client.query(
        `INSERT INTO audit_chain_anchors (team_id, pruned_through_seq, pruned_through_hash) VALUES ($1, 0, $2)
         ON CONFLICT (team_id) DO NOTHING`,
        [teamId, GENESIS_HASH],
      );
      const anchor = await client.query<{ seq: string }>(
        `SELECT pruned_through_seq::text AS seq FROM audit_chain_anchors WHERE team_id = $1 FOR UPDATE`,
        [teamId],
      );
      const from = anchor.rows[0]!.seq;
      // The leading run of the next chunk that is older than the cutoff (times are the producers',
      // so not strictly monotonic in seq: we stop at the first event still within retention).
      const cut = await client.query<{ seq: string | null; hash: string | null; n: string }>(
        `WITH chunk AS (
           SELECT seq, hash, time < $3 AS old FROM audit_events
           WHERE team_id = $1 AND seq > $2::int8 ORDER BY seq LIMIT $4
         ), firstkept AS (SELECT min(seq) AS seq FROM chunk WHERE NOT old)
         SELECT (SELECT max(seq)::text FROM chunk WHERE firstkept.seq IS NULL OR seq < firstkept.seq) AS seq,
                (SELECT hash FROM chunk WHERE firstkept.seq IS NULL OR seq < firstkept.seq ORDER BY seq DESC LIMIT 1) AS hash,
                (SELECT count(*)::text FROM chunk WHERE firstkept.seq IS NULL OR seq < firstkept.seq) AS n
         FROM firstkept`,
        [teamId, from, before, chunkSize],
      );
      const { seq, hash, n } = cut.rows[0]!;
      through = seq ?? from;
      if (!seq || !hash || n === "0") {
        await client.query("COMMIT");
        done = true;
      } else {
        const removed = await client.query<{ shape_hash: string | null }>(
          `DELETE FROM audit_events WHERE team_id = $1 AND seq > $2::int8 AND seq <= $3::int8 RETURNING shape_hash`,
          [teamId, from, seq],
        );
        for (const row of removed.rows) if (row.shape_hash) releasedTexts.add(row.shape_hash);
        await client.query(
          `UPDATE audit_chain_anchors SET pruned_through_seq = $2, pruned_through_hash = $3,
             pruned_count = pruned_count + $4, pruned_mac = $5, updated_at = now() WHERE team_id = $1`,
          [teamId, seq, hash, removed.rowCount ?? 0, options.key ? anchorMac(options.key, teamId, seq, hash) : null],
        );
        await client.query("COMMIT");
        deleted += removed.rowCount ?? 0;
        done = Number(n) < chunkSize;
      }
    } catch (error) {
      await client.query("ROLLBACK").catch(() => release(true));
      throw error;
    } finally {
      release();
    }
    await pruneStatementTexts(pool, teamId, releasedTexts);
    if (done) return { deleted, prunedThroughSeq: through, more: false };
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  return { deleted, prunedThroughSeq: through, more: true };
}

/**
 * Retention is about the text too: a statement shape outlives its events only as long as another
 * event still uses it. The team's chain head is locked for this one indexed delete, because an
 * ingesting batch holds that lock while its trigger re-uses existing texts: without it, a text could
 * be deleted under an event that is being committed with it.
 */
export async function pruneStatementTexts(pool: pg.Pool, teamId: string, hashes: Set<string>): Promise<void> {
  if (hashes.size === 0) return;
  const candidates = [...hashes];
  hashes.clear();
  const { client, release } = await checkOut(pool);
  try {
    await client.query("BEGIN");
    await client.query(`SELECT 1 FROM audit_chain_heads WHERE team_id = $1 FOR UPDATE`, [teamId]);
    await client.query(
      `DELETE FROM audit_statements s WHERE s.team_id = $1 AND s.shape_hash = ANY($2::text[])
         AND NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.team_id = $1 AND e.shape_hash = s.shape_hash)`,
      [teamId, candidates],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => release(true));
    throw error;
  } finally {
    release();
  }
}
