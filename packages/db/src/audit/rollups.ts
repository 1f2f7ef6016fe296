import type pg from "pg";

/**
 * Activity's hourly rollups (migration 20261210100000_audit_rollups): triggers on audit_events fold
 * every inserted or deleted batch into audit_rollups / audit_rollup_tables, so the charts read a few
 * thousand rollup rows for a week instead of millions of events. Since 20261210100400 only the slices
 * that earn their rows are kept: the whole team, link, member and tool (table counts: team and link
 * only); the other filters' charts read the events of their window. What lives here is what readers and
 * operators need next to that: the latency histogram's arithmetic (the same buckets as the SQL
 * function audit_latency_bucket) and the rebuild after partitions were dropped, which fires no trigger.
 */

/** Bucket 0 is [0, 0.1) ms; bucket i >= 1 is [0.1 * 1.25^(i-1), 0.1 * 1.25^i) ms; 80 is the last. */
export const LATENCY_BASE_MS = 0.1;
export const LATENCY_RATIO = 1.25;
export const LATENCY_MAX_BUCKET = 80;
/**
 * A percentile read from the histogram is the geometric middle of the bucket holding its rank: at most
 * sqrt(1.25) - 1 ≈ 11.8% from any value in that bucket. The charts' legend says so.
 */
export const LATENCY_BUCKET_ERROR = Math.sqrt(LATENCY_RATIO) - 1;

/** The bucket of a duration, as audit_latency_bucket computes it in SQL. */
export function latencyBucket(ms: number): number {
  if (!(ms >= LATENCY_BASE_MS)) return 0;
  return Math.min(LATENCY_MAX_BUCKET, 1 + Math.floor(Math.log(ms / LATENCY_BASE_MS) / Math.log(LATENCY_RATIO)));
}

/** [low, high) of a bucket in ms. */
export function latencyBucketBounds(lb: number): [number, number] {
  if (lb <= 0) return [0, LATENCY_BASE_MS];
  return [LATENCY_BASE_MS * LATENCY_RATIO ** (lb - 1), lb >= LATENCY_MAX_BUCKET ? Infinity : LATENCY_BASE_MS * LATENCY_RATIO ** lb];
}

/** The value a bucket stands for: its geometric middle (half the base for the first). */
export function latencyBucketValue(lb: number): number {
  if (lb <= 0) return LATENCY_BASE_MS / 2;
  return LATENCY_BASE_MS * LATENCY_RATIO ** (lb - 0.5);
}

/**
 * The p-quantile (0 < p <= 1) of a histogram (bucket → count): the bucket holding the rank
 * ceil(p · n), as the value of its middle. Null for an empty histogram.
 */
export function histogramPercentile(histogram: ReadonlyMap<number, number>, p: number): number | null {
  let total = 0;
  for (const n of histogram.values()) total += n;
  if (total <= 0) return null;
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (const lb of [...histogram.keys()].sort((a, b) => a - b)) {
    seen += histogram.get(lb)!;
    if (seen >= rank) return latencyBucketValue(lb);
  }
  return null;
}

/**
 * Recomputes the rollups of the whole UTC hours covering [from, to) from the events stored there now.
 * Retention that drops or detaches audit_events partitions (no DELETE trigger fires) calls this for
 * the dropped range, so the charts stop counting events that are gone. Briefly holds ingestion's
 * folds (EXCLUSIVE lock on the rollup tables) so no batch is counted twice or lost. Returns the number
 * of rollup rows written.
 */
export async function rebuildAuditRollups(db: pg.Pool | pg.PoolClient | pg.Client, from: Date, to: Date): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`SELECT audit_rollups_rebuild($1, $2)::text AS n`, [from, to]);
  return Number(rows[0]?.n ?? 0);
}
