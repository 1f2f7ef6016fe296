import type pg from "pg";
import { GENESIS_HASH } from "./canonical.js";
import { type ChainKey, anchorMac } from "./chain-key.js";
import { checkOut } from "./checkout.js";
import { pruneStatementTexts } from "./retention.js";

/**
 * audit_events is partitioned by month of the producer's time (migration 20261210090000): monthly
 * partitions audit_events_pYYYYMM over [first of the month, first of the next) in UTC, and
 * audit_events_default for everything outside them. Only partitions named this way are ever created or
 * dropped here; anything else attached to the table is left alone.
 */
export const PARTITION_PREFIX = "audit_events_p";
export const DEFAULT_PARTITION = "audit_events_default";
const NAME = /^audit_events_p(\d{4})(\d{2})$/;

/** Serialises partition maintenance across workers ("pcauditp" in ASCII). */
const PARTITION_LOCK = "8098991135164375408";

export interface AuditPartition {
  name: string;
  from: Date;
  to: Date;
}

export const monthStart = (d: Date): Date => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
const addMonths = (d: Date, n: number): Date => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1));

export function partitionOf(month: Date): AuditPartition {
  const from = monthStart(month);
  const name = `${PARTITION_PREFIX}${from.getUTCFullYear().toString().padStart(4, "0")}${(from.getUTCMonth() + 1).toString().padStart(2, "0")}`;
  return { name, from, to: addMonths(from, 1) };
}

type Db = pg.Pool | pg.PoolClient;

/** The monthly partitions attached now, oldest first. */
export async function listAuditPartitions(db: Db): Promise<AuditPartition[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'audit_events'::regclass`,
  );
  const out: AuditPartition[] = [];
  for (const { name } of rows) {
    const m = NAME.exec(name);
    if (m) out.push(partitionOf(new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1))));
  }
  return out.sort((a, b) => a.from.getTime() - b.from.getTime());
}

/**
 * Every stored column but the generated ones, read from the catalog so a column added later moves with
 * its rows without anyone remembering this file.
 */
async function insertableColumns(client: pg.PoolClient): Promise<string> {
  const { rows } = await client.query<{ cols: string }>(
    `SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) AS cols FROM pg_attribute
     WHERE attrelid = 'audit_events'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''`,
  );
  return rows[0]!.cols;
}

export interface EnsureOptions {
  /** Months after the current one to create (default 3): a worker down for a while still finds them. */
  ahead?: number;
  /** "Now" (tests); default the clock. */
  now?: Date;
  /** Longest wait for the table lock (ms) before giving up until the next run. */
  lockTimeoutMs?: number;
}

export interface EnsureResult {
  created: string[];
  /** Events moved out of the DEFAULT partition into a month created for them. */
  moved: number;
}

/**
 * Creates the partitions of the current month and `ahead` months after it. Idempotent, and safe with
 * several workers calling at once: a transaction-scoped advisory lock serialises them and the second
 * finds the partitions made. The common case (all exist) is one catalog read and no lock.
 *
 * PostgreSQL refuses a new partition while DEFAULT holds rows of its range (events whose producer clock
 * ran ahead), so those rows are moved into it in the same transaction, through the parent, so every
 * trigger on audit_events sees a delete and an insert. The table is locked for that moment only; a
 * lock not granted within lockTimeoutMs gives up (the next hourly run tries again, months ahead).
 */
export async function ensurePartitions(pool: pg.Pool, options: EnsureOptions = {}): Promise<EnsureResult> {
  const ahead = options.ahead ?? 3;
  const first = monthStart(options.now ?? new Date());
  const wanted = Array.from({ length: ahead + 1 }, (_, i) => partitionOf(addMonths(first, i)));
  const have = new Set((await listAuditPartitions(pool)).map((p) => p.name));
  if (wanted.every((p) => have.has(p.name))) return { created: [], moved: 0 };

  const { client, release } = await checkOut(pool);
  try {
    await client.query("BEGIN");
    await client.query(`SELECT pg_advisory_xact_lock(${PARTITION_LOCK})`);
    const present = new Set((await listAuditPartitions(client)).map((p) => p.name));
    const missing = wanted.filter((p) => !present.has(p.name));
    let moved = 0;
    if (missing.length > 0) {
      await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.trunc(options.lockTimeoutMs ?? 5000))}`);
      await client.query("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE");
      const cols = await insertableColumns(client);
      await client.query(`CREATE TEMP TABLE pc_moving (LIKE audit_events) ON COMMIT DROP`);
      for (const p of missing) {
        const range = [p.from.toISOString(), p.to.toISOString()];
        // No partition covers the range yet, so this deletes from DEFAULT only.
        const out = await client.query(
          `WITH d AS (DELETE FROM audit_events WHERE time >= $1::timestamptz AND time < $2::timestamptz RETURNING *)
           INSERT INTO pc_moving SELECT * FROM d`,
          range,
        );
        await client.query(`CREATE TABLE ${p.name} PARTITION OF audit_events FOR VALUES FROM ('${range[0]}') TO ('${range[1]}')`);
        if (out.rowCount) {
          await client.query(`INSERT INTO audit_events (${cols}) SELECT ${cols} FROM pc_moving`);
          await client.query("TRUNCATE pc_moving");
          moved += out.rowCount;
        }
      }
    }
    await client.query("COMMIT");
    return { created: missing.map((p) => p.name), moved };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => release(true));
    throw error;
  } finally {
    release();
  }
}

export interface DropOptions {
  /** Partitions whose upper bound is at or before this are dropped. */
  before: Date;
  /** AUDIT_CHAIN_KEY: each moved anchor is signed with it, as retention.ts signs its cuts. */
  key?: ChainKey;
  /** Longest wait for the table lock (ms) per attempt; three attempts per partition. */
  lockTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface DroppedPartition {
  name: string;
  /** Events dropped with the partition. */
  events: number;
  /** Events re-inserted into DEFAULT because they were above their team's prunable prefix. */
  stragglers: number;
  /** Teams whose retention anchor moved. */
  anchors: number;
}

/**
 * Retention by DROP: every monthly partition wholly older than `before`, oldest first.
 *
 * The hash chain stays verifiable. Per team, the anchor (audit_chain_anchors) moves to the last seq of
 * the run that continues the current anchor inside the partition: everything up to it is gone, nothing
 * after it is. Events in the partition above that run are stragglers (an outbox or journal replayed
 * after an outage carries its old time but a new seq): dropping them would leave a hole verify reports
 * as tampering, so they are taken out through the parent before the partition is detached and put back
 * after (landing in DEFAULT, no partition covering their month any more), where the chunked per-team
 * pruner removes them once they lead their chain.
 *
 * Locks, in the order every other writer takes them, so none can deadlock with this: the advisory lock
 * (other maintainers), the anchors of the partition's teams (per-team pruners), their chain heads
 * (ingestion of those teams waits here, before touching audit_events), SHARE on the partition (no insert
 * into it from here on), and last ACCESS EXCLUSIVE on audit_events for the detach, bounded by
 * lockTimeoutMs so queries never queue long behind it. verifyAuditChain locks audit_events before its
 * snapshot, so it sees the partition and the old anchor or neither.
 */
export async function dropExpiredPartitions(pool: pg.Pool, options: DropOptions): Promise<DroppedPartition[]> {
  const expired = (await listAuditPartitions(pool)).filter((p) => p.to.getTime() <= options.before.getTime());
  const dropped: DroppedPartition[] = [];
  for (const p of expired) {
    if (options.signal?.aborted) break;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await dropPartition(pool, p, options);
        if (result) dropped.push(result);
        break;
      } catch (error) {
        // 55P03 lock_not_available (lock_timeout), 40P01 deadlock, or new teams arrived mid-way: retry.
        const code = (error as { code?: string }).code;
        if (attempt >= 3 || !(code === "55P03" || code === "40P01" || error instanceof TeamsChanged)) throw error;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }
  return dropped;
}

class TeamsChanged extends Error {}

async function dropPartition(pool: pg.Pool, p: AuditPartition, options: DropOptions): Promise<DroppedPartition | null> {
  const { client, release } = await checkOut(pool);
  const texts = new Map<string, string[]>();
  let result: DroppedPartition | null = null;
  try {
    await client.query("BEGIN");
    await client.query(`SELECT pg_advisory_xact_lock(${PARTITION_LOCK})`);
    if (!(await listAuditPartitions(client)).some((q) => q.name === p.name)) {
      await client.query("COMMIT");
      return null;
    }
    const part = p.name;
    const teams = (await client.query<{ team_id: string }>(`SELECT DISTINCT team_id::text FROM ${part}`)).rows.map((r) => r.team_id);
    await client.query(
      `INSERT INTO audit_chain_anchors (team_id, pruned_through_seq, pruned_through_hash)
       SELECT t, 0, $2 FROM unnest($1::uuid[]) AS t ON CONFLICT (team_id) DO NOTHING`,
      [teams, GENESIS_HASH],
    );
    await client.query(`SELECT 1 FROM audit_chain_anchors WHERE team_id = ANY($1::uuid[]) ORDER BY team_id FOR UPDATE`, [teams]);
    await client.query(`SELECT 1 FROM audit_chain_heads WHERE team_id = ANY($1::uuid[]) ORDER BY team_id FOR UPDATE`, [teams]);
    await client.query(`LOCK TABLE ${part} IN SHARE MODE`);
    // A team whose first event here arrived after the read above holds no lock of ours: start over.
    const late = await client.query(`SELECT 1 FROM ${part} WHERE team_id <> ALL($1::uuid[]) LIMIT 1`, [teams]);
    if (late.rowCount) throw new TeamsChanged(`events of another team reached ${part} meanwhile`);

    // Per team, the run of seqs continuing its anchor (anchor+1, anchor+2, …) inside the partition:
    // seq - row_number() is constant along a run without gaps, and equals the anchor on this one.
    const cuts = await client.query<{ team_id: string; seq: string; hash: string; n: string }>(
      `WITH a AS (SELECT team_id, pruned_through_seq AS a FROM audit_chain_anchors WHERE team_id = ANY($1::uuid[])),
       r AS (SELECT p.team_id, p.seq, p.hash, a.a, p.seq - row_number() OVER (PARTITION BY p.team_id ORDER BY p.seq) AS g
             FROM ${part} p JOIN a USING (team_id) WHERE p.seq > a.a)
       SELECT DISTINCT ON (team_id) team_id::text, seq::text, hash, count(*) OVER (PARTITION BY team_id)::text AS n
       FROM r WHERE g = a ORDER BY team_id, seq DESC`,
      [teams],
    );
    const cut = new Map(cuts.rows.map((c) => [c.team_id, c]));
    const textRows = await client.query<{ team_id: string; hashes: string[] }>(
      `SELECT team_id::text, array_agg(DISTINCT shape_hash) AS hashes FROM ${part} WHERE shape_hash IS NOT NULL GROUP BY team_id`,
    );
    for (const r of textRows.rows) texts.set(r.team_id, r.hashes);

    // Stragglers: above the run (or, without one, above the anchor). Taken out through the parent.
    const range = [p.from.toISOString(), p.to.toISOString()];
    await client.query(`CREATE TEMP TABLE pc_stragglers (LIKE audit_events) ON COMMIT DROP`);
    const moved = await client.query(
      `WITH keep AS (
         SELECT a.team_id, coalesce(c.seq, a.pruned_through_seq) AS above
         FROM audit_chain_anchors a LEFT JOIN unnest($3::uuid[], $4::int8[]) AS c(team_id, seq) ON c.team_id = a.team_id
         WHERE a.team_id = ANY($5::uuid[])
       ), d AS (
         DELETE FROM audit_events e USING keep
         WHERE e.time >= $1::timestamptz AND e.time < $2::timestamptz AND e.team_id = keep.team_id AND e.seq > keep.above
         RETURNING e.*
       ) INSERT INTO pc_stragglers SELECT * FROM d`,
      [...range, [...cut.keys()], [...cut.values()].map((c) => c.seq), teams],
    );
    const events = Number((await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${part}`)).rows[0]!.n);

    await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.trunc(options.lockTimeoutMs ?? 2000))}`);
    await client.query(`ALTER TABLE audit_events DETACH PARTITION ${part}`);
    if (moved.rowCount) {
      const cols = await insertableColumns(client);
      await client.query(`INSERT INTO audit_events (${cols}) SELECT ${cols} FROM pc_stragglers`);
    }
    for (const c of cut.values()) {
      await client.query(
        `UPDATE audit_chain_anchors SET pruned_through_seq = $2, pruned_through_hash = $3,
           pruned_count = pruned_count + $4, pruned_mac = $5, updated_at = now() WHERE team_id = $1`,
        [c.team_id, c.seq, c.hash, c.n, options.key ? anchorMac(options.key, c.team_id, c.seq, c.hash) : null],
      );
    }
    await client.query(`DROP TABLE ${part}`);
    // Dropping a partition fires no delete trigger: Activity's rollups of that month are recomputed
    // from what is left there (the stragglers, now in DEFAULT), in the same transaction as the drop.
    await client.query(`SELECT audit_rollups_rebuild($1::timestamptz, $2::timestamptz)`, range);
    await client.query("COMMIT");
    result = { name: part, events, stragglers: moved.rowCount ?? 0, anchors: cut.size };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => release(true));
    throw error;
  } finally {
    release();
  }
  // Statement texts no remaining event of the team uses, as the chunked pruner does after its deletes.
  for (const [teamId, hashes] of texts) await pruneStatementTexts(pool, teamId, new Set(hashes));
  return result;
}
