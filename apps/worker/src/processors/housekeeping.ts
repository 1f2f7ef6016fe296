import { type ChainKey, dropExpiredPartitions, ensurePartitions, listAuditPartitions, loadAuditChainKey, pruneAuditEvents } from "@portcullis/db/audit";
import { type HousekeepingJob, LAST_USED_HASH, REVOCATION_CHANNEL, housekeepingJobSchema } from "@portcullis/jobs";
import { UnrecoverableError, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type pg from "pg";
import { loadAuditRetentionDays } from "../env.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";

export interface HousekeepingDeps {
  pool: pg.Pool;
  redis: Redis;
  logger?: Logger;
  /** Rows per statement for every bulk delete/update: short transactions, no long locks. */
  chunkSize?: number;
  signal?: AbortSignal;
  /** AUDIT_CHAIN_KEY, to sign retention's cut points; undefined: read from the environment, null: none. */
  chainKey?: ChainKey | null;
  /** AUDIT_RETENTION_DAYS (0: keep); undefined: read from the environment. */
  retentionDays?: number;
  /** Months of audit_events partitions created ahead of the current one (default 3). */
  partitionsAhead?: number;
  /** The clock (tests). */
  now?: () => Date;
  /** The worker's Prometheus counters for partition drops. */
  metrics?: Pick<Metrics, "auditPartitionsDropped" | "auditPartitionStragglers">;
}

const chainKeyOf = (deps: HousekeepingDeps) => (deps.chainKey === undefined ? loadAuditChainKey() : (deps.chainKey ?? undefined));
const retentionDaysOf = (deps: HousekeepingDeps) => deps.retentionDays ?? loadAuditRetentionDays();
const nowOf = (deps: HousekeepingDeps) => deps.now?.() ?? new Date();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Deletes matching rows in chunks (`DELETE … WHERE id IN (SELECT … LIMIT n)`) until none are left. */
async function deleteInChunks(pool: pg.Pool, table: string, where: string, chunk: number, signal?: AbortSignal): Promise<number> {
  let total = 0;
  for (;;) {
    if (signal?.aborted) return total;
    const { rowCount } = await pool.query(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE ${where} LIMIT ${chunk})`);
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < chunk) return total;
  }
}

/**
 * Keys past their expiry are marked revoked (so lists show them as such) and announced on the
 * revocation channel, so gateways drop any cached copy at once rather than when their cache expires.
 */
export async function expireKeys(deps: HousekeepingDeps): Promise<{ expired: number }> {
  const chunk = deps.chunkSize ?? 1000;
  let expired = 0;
  for (;;) {
    const { rows } = await deps.pool.query<{ id: string; hash: string }>(
      `UPDATE api_keys SET revoked_at = expires_at WHERE id IN (
         SELECT id FROM api_keys WHERE revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= now() LIMIT ${chunk})
       RETURNING id, hash`,
    );
    for (const row of rows) {
      await deps.redis.publish(REVOCATION_CHANNEL, JSON.stringify({ kind: "api_key", apiKeyId: row.id, hash: row.hash }));
    }
    expired += rows.length;
    if (rows.length < chunk) break;
  }
  // Unused invitations, reset tokens and authorization codes are useless once expired.
  await deleteInChunks(deps.pool, "invitations", "accepted_at IS NULL AND expires_at < now() - interval '30 days'", chunk, deps.signal);
  await deleteInChunks(deps.pool, "password_reset_tokens", "expires_at < now() - interval '1 day'", chunk, deps.signal);
  return { expired };
}

export async function pruneSessions(deps: HousekeepingDeps): Promise<{ deleted: number }> {
  const deleted = await deleteInChunks(
    deps.pool,
    "sessions",
    "expires_at < now() OR revoked_at < now() - interval '1 day'",
    deps.chunkSize ?? 1000,
    deps.signal,
  );
  return { deleted };
}

/**
 * Expired OAuth tokens and codes are deleted a day after expiry: a rotated refresh token must stay
 * until then, because presenting it again is how reuse (theft) is detected and the grant revoked.
 */
export async function pruneOAuth(deps: HousekeepingDeps): Promise<{ tokens: number; codes: number }> {
  const chunk = deps.chunkSize ?? 1000;
  const tokens = await deleteInChunks(deps.pool, "oauth_tokens", "expires_at < now() - interval '1 day'", chunk, deps.signal);
  const codes = await deleteInChunks(deps.pool, "oauth_authorization_codes", "expires_at < now() - interval '1 hour'", chunk, deps.signal);
  return { tokens, codes };
}

/**
 * Moves the last-used times the gateways accumulate in Redis (LAST_USED_HASH: key id → ISO time) to
 * api_keys.last_used_at. The hash is renamed first (atomic), so times written meanwhile go to a
 * fresh hash and none is lost; a rename left over by a crashed flush is finished first.
 */
export async function flushLastUsed(deps: HousekeepingDeps): Promise<{ updated: number }> {
  const flushing = `${LAST_USED_HASH}:flushing`;
  const chunk = deps.chunkSize ?? 1000;
  let updated = 0;
  for (let round = 0; round < 2; round++) {
    if (!(await deps.redis.exists(flushing))) {
      try {
        await deps.redis.rename(LAST_USED_HASH, flushing);
      } catch (error) {
        if (/no such key/i.test(String(error))) return { updated };
        throw error;
      }
    }
    let cursor = "0";
    do {
      const [next, flat] = await deps.redis.hscan(flushing, cursor, "COUNT", chunk);
      cursor = next;
      const ids: string[] = [];
      const times: string[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const id = flat[i]!;
        const raw = flat[i + 1]!;
        const time = /^\d+$/.test(raw) ? new Date(Number(raw)) : new Date(raw);
        if (!UUID.test(id) || Number.isNaN(time.getTime())) continue;
        ids.push(id);
        times.push(time.toISOString());
      }
      if (ids.length) {
        const { rowCount } = await deps.pool.query(
          `UPDATE api_keys k SET last_used_at = u.t FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, t)
           WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.t)`,
          [ids, times],
        );
        updated += rowCount ?? 0;
      }
    } while (cursor !== "0");
    await deps.redis.del(flushing);
  }
  return { updated };
}

/**
 * Each team's audit events older than its retention, in bounded chunks (a chain prefix, anchored).
 * teams.audit_retention_days applies as it always did. AUDIT_RETENTION_DAYS reaches the chunked pruner
 * only below the oldest monthly partition still attached: there live the stragglers a partition drop
 * moved to DEFAULT (pruned once they lead their chain) and events older than any month, while the rows
 * of a month that is not wholly expired yet wait for its DROP rather than being deleted one by one.
 */
export async function applyAuditRetention(deps: HousekeepingDeps): Promise<{ deleted: number; teams: number }> {
  const instanceDays = retentionDaysOf(deps);
  const now = nowOf(deps).getTime();
  let instanceCutoff: number | undefined;
  if (instanceDays > 0) {
    const oldest = (await listAuditPartitions(deps.pool))[0];
    instanceCutoff = Math.min(now - instanceDays * 86_400_000, oldest?.from.getTime() ?? Infinity);
  }
  const { rows } = await deps.pool.query<{ id: string; days: number }>(
    `SELECT id, audit_retention_days AS days FROM teams WHERE audit_retention_days > 0 OR $1 ORDER BY id`,
    [instanceCutoff !== undefined],
  );
  let deleted = 0;
  const key = chainKeyOf(deps);
  for (const team of rows) {
    if (deps.signal?.aborted) break;
    // The later cutoff wins: whichever retention is shorter.
    const cutoff = Math.max(team.days > 0 ? now - team.days * 86_400_000 : -Infinity, instanceCutoff ?? -Infinity);
    const result = await pruneAuditEvents(deps.pool, team.id, new Date(cutoff), { chunkSize: deps.chunkSize ?? 5000, signal: deps.signal, key });
    deleted += result.deleted;
  }
  return { deleted, teams: rows.length };
}

/** The coming months' partitions of audit_events (hourly, and at worker start). */
export async function ensureAuditPartitions(deps: HousekeepingDeps): Promise<{ created: string[]; moved: number }> {
  const result = await ensurePartitions(deps.pool, { ahead: deps.partitionsAhead ?? 3, now: nowOf(deps) });
  if (result.created.length > 0) {
    deps.logger?.info({ created: result.created, movedFromDefault: result.moved }, "audit partitions created");
  }
  return result;
}

/**
 * Retention by DROP (AUDIT_RETENTION_DAYS): monthly partitions wholly older than it. Each drop is
 * logged with the events it removed and the stragglers it kept (moved to DEFAULT).
 */
export async function dropExpiredAuditPartitions(deps: HousekeepingDeps): Promise<{ dropped: { name: string; events: number; stragglers: number; anchors: number }[] }> {
  const days = retentionDaysOf(deps);
  if (days <= 0) return { dropped: [] };
  const before = new Date(nowOf(deps).getTime() - days * 86_400_000);
  const dropped = await dropExpiredPartitions(deps.pool, { before, key: chainKeyOf(deps), signal: deps.signal });
  for (const p of dropped) {
    deps.metrics?.auditPartitionsDropped.inc();
    deps.metrics?.auditPartitionStragglers.inc(p.stragglers);
    deps.logger?.info(
      { partition: p.name, events: p.events, stragglers: p.stragglers, anchorsMoved: p.anchors, retentionDays: days },
      "audit partition dropped by retention",
    );
  }
  return { dropped };
}

/**
 * The hourly audit retention job: partitions first (the months ahead exist before anything else
 * fails), then the partition drop, then the per-team chunked pruning. Each step runs even when an
 * earlier one failed (a lock not granted this hour); the job then fails with the first error.
 */
export async function auditRetention(deps: HousekeepingDeps): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  let failure: unknown;
  for (const [name, step] of [
    ["partitions", ensureAuditPartitions],
    ["dropped", dropExpiredAuditPartitions],
    ["pruned", applyAuditRetention],
  ] as const) {
    try {
      out[name] = await step(deps);
    } catch (error) {
      deps.logger?.warn({ step: name, err: (error as Error).message }, "audit retention step failed; retried next run");
      failure ??= error;
    }
  }
  if (failure) throw failure;
  return out;
}

const TASKS: Record<HousekeepingJob["task"], (deps: HousekeepingDeps) => Promise<unknown>> = {
  expire_keys: expireKeys,
  prune_sessions: pruneSessions,
  prune_oauth: pruneOAuth,
  flush_last_used: flushLastUsed,
  audit_retention: auditRetention,
};

/**
 * The worker builds this once, at start: the coming months' partitions are ensured then too, since a
 * scheduler that already exists waits a full hour before its next run (events of a month without its
 * partition would land in DEFAULT meanwhile, to be moved later under a table lock).
 */
export function housekeepingProcessor(deps: HousekeepingDeps) {
  void ensureAuditPartitions(deps).catch((error) => deps.logger?.warn({ err: (error as Error).message }, "audit partitions not ensured at start; retried hourly"));
  return async (job: Job): Promise<unknown> => {
    const parsed = housekeepingJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid housekeeping job: ${parsed.error.message}`);
    const result = await TASKS[parsed.data.task](deps);
    deps.logger?.debug({ task: parsed.data.task, result }, "housekeeping done");
    return result;
  };
}

/** How often each task runs (ms). */
export const HOUSEKEEPING_EVERY: Record<HousekeepingJob["task"], number> = {
  flush_last_used: 30_000,
  expire_keys: 60_000,
  prune_sessions: 3_600_000,
  prune_oauth: 3_600_000,
  audit_retention: 3_600_000,
};
