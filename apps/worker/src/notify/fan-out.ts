import { notificationJobOptions } from "@portcullis/jobs";
import type { Queue } from "bullmq";
import type pg from "pg";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { withTimeout } from "../retry.js";
import { notificationTargets } from "./targets.js";

export interface FanOutDeps {
  pool: pg.Pool;
  queue: Queue;
  metrics: Metrics;
  logger: Logger;
  /** First retry delay of a delivery (doubles each attempt). */
  backoffBaseMs: number;
  /** Outbox rows per transaction. */
  batch?: number;
  /** How long an enqueue may wait for Redis before the re-enqueue pass is left to do it. */
  enqueueTimeoutMs?: number;
}

interface PendingDelivery {
  id: string;
  team_id: string;
}

/**
 * Enqueues one job per delivery (job id = delivery id: a delivery already queued is not queued twice).
 * When Redis is away this fails or times out; the deliveries stay pending in PostgreSQL and the
 * re-enqueue pass queues them once Redis is back, so nothing written to the outbox is lost.
 */
async function enqueue(deps: FanOutDeps, deliveries: PendingDelivery[]): Promise<boolean> {
  if (deliveries.length === 0) return true;
  try {
    await withTimeout(
      deps.queue.addBulk(deliveries.map((d) => ({ name: "deliver", data: { deliveryId: d.id, teamId: d.team_id }, opts: notificationJobOptions(d.id, deps.backoffBaseMs) }))),
      deps.enqueueTimeoutMs ?? 5000,
    );
    return true;
  } catch (error) {
    deps.logger.warn({ err: (error as Error).message, deliveries: deliveries.length }, "notification jobs not enqueued; the re-enqueue pass will retry");
    return false;
  }
}

/**
 * Claims unprocessed outbox rows (FOR UPDATE SKIP LOCKED: two workers never take the same row), writes
 * one delivery per target, and marks the rows processed — all in one transaction, so a worker that
 * dies half-way leaves the rows unclaimed and the deliveries unwritten, and the unique
 * (event, subject, channel, target) index makes a second pass insert nothing twice. Returns the
 * number of outbox rows handled; call again while it returns a full batch.
 */
export async function fanOutOnce(deps: FanOutDeps): Promise<number> {
  const batch = deps.batch ?? 50;
  const client = await deps.pool.connect();
  let created: PendingDelivery[] = [];
  let claimed = 0;
  let broken = false;
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<{ id: string; team_id: string; event: string; subject_id: string }>(
      `SELECT id::text, team_id::text, event, subject_id::text FROM notification_outbox
        WHERE processed_at IS NULL ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [batch],
    );
    claimed = rows.length;
    const q = (text: string, values?: unknown[]) => client.query(text, values);
    for (const row of rows) {
      const targets = await notificationTargets(q, { teamId: row.team_id, event: row.event, subjectId: row.subject_id });
      if (targets.length === 0) continue;
      await client.query(
        `INSERT INTO notification_deliveries (team_id, event, subject_id, channel, target)
         SELECT $1::uuid, $2, $3::uuid, t.channel, t.target FROM unnest($4::text[], $5::text[]) AS t(channel, target)
         ON CONFLICT (event, subject_id, channel, target) DO NOTHING`,
        [row.team_id, row.event, row.subject_id, targets.map((t) => t.channel), targets.map((t) => t.target)],
      );
      // Pending ones only, including any a crashed pass wrote: enqueueing again is a no-op per job id.
      const pending = await client.query<PendingDelivery>(
        `SELECT id::text, team_id::text FROM notification_deliveries
          WHERE event = $1 AND subject_id = $2::uuid AND team_id = $3::uuid AND status = 'pending'`,
        [row.event, row.subject_id, row.team_id],
      );
      created = created.concat(pending.rows);
    }
    if (claimed > 0) await client.query(`UPDATE notification_outbox SET processed_at = clock_timestamp() WHERE id = ANY($1::uuid[])`, [rows.map((r) => r.id)]);
    await client.query("COMMIT");
  } catch (error) {
    try {
      await client.query("ROLLBACK");
    } catch {
      broken = true;
    }
    throw error;
  } finally {
    client.release(broken);
  }
  if (claimed > 0) deps.metrics.notificationEvents.inc(claimed);
  if (created.length > 0) deps.metrics.notificationDeliveriesCreated.inc(created.length);
  await enqueue(deps, created);
  return claimed;
}

/**
 * Pending deliveries whose job is gone (Redis was down at fan-out, or restarted empty) are queued
 * again; one whose job failed for good without the row saying so (the database was down at the end)
 * is marked failed. Older than `minAgeMs` only, so a delivery the fan-out is enqueueing is left to it.
 */
export async function requeueLostDeliveries(deps: FanOutDeps, minAgeMs = 10_000): Promise<number> {
  const { rows } = await deps.pool.query<PendingDelivery>(
    `SELECT id::text, team_id::text FROM notification_deliveries
      WHERE status = 'pending' AND created_at < clock_timestamp() - make_interval(secs => $1::double precision / 1000)
        AND created_at > clock_timestamp() - interval '7 days'
      ORDER BY created_at LIMIT 500`,
    [minAgeMs],
  );
  const lost: PendingDelivery[] = [];
  for (const row of rows) {
    const job = await deps.queue.getJob(row.id);
    if (!job) {
      lost.push(row);
      continue;
    }
    if ((await job.getState()) === "failed") {
      await deps.pool.query(
        `UPDATE notification_deliveries SET status = 'failed', last_error = COALESCE(last_error, $3)
          WHERE id = $1::uuid AND team_id = $2::uuid AND status = 'pending'`,
        [row.id, row.team_id, job.failedReason || "gave up"],
      );
    }
  }
  if (lost.length > 0 && (await enqueue(deps, lost))) {
    deps.metrics.notificationRequeued.inc(lost.length);
    deps.logger.info({ deliveries: lost.length }, "re-enqueued notification deliveries whose jobs were lost");
  }
  return lost.length;
}

