import { NOTIFICATION_EVENTS, type OperationsDb, notificationTargets, recordDelivery, updateDelivery } from "@portcullis/db/operations";
import type { SecretKeyring } from "@portcullis/db/secrets";
import { notificationJobOptions } from "@portcullis/jobs";
import type { Queue } from "bullmq";
import type pg from "pg";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { isTransientDbError, withTimeout } from "../retry.js";

export interface FanOutDeps {
  pool: pg.Pool;
  queue: Queue;
  metrics: Metrics;
  logger: Logger;
  /** Opens the team's webhook secret (notificationTargets checks it opens before a webhook delivery is queued). */
  keyring: SecretKeyring;
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
      deps.enqueueTimeoutMs ?? 2000,
    );
    return true;
  } catch (error) {
    deps.logger.warn({ err: (error as Error).message, deliveries: deliveries.length }, "notification jobs not enqueued; the re-enqueue pass will retry");
    return false;
  }
}

/**
 * Where a webhook delivery is recorded as going: the origin only. The path of a Slack incoming webhook
 * (and of many others) is its credential, and the delivery log is shown on the dashboard.
 */
export function webhookTarget(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname === "/" && !u.search ? u.origin : `${u.origin}/…`;
  } catch {
    return "invalid webhook URL";
  }
}

const KNOWN_EVENTS: ReadonlySet<string> = new Set(NOTIFICATION_EVENTS);

/**
 * Claims unprocessed outbox rows (FOR UPDATE SKIP LOCKED: two workers never take the same row), records
 * one delivery per target, and marks the rows processed — all in one transaction, so a worker that
 * dies half-way leaves the rows unclaimed and nothing recorded, and the unique
 * (event, subject, channel, target) index makes a second pass record nothing twice. (D's
 * claimNotificationOutbox marks rows processed in a transaction of its own, which a crash before the
 * deliveries are recorded would lose; the targets and the delivery rows are D's operations, run here on
 * this transaction's connection.) Returns the number of outbox rows handled.
 */
export async function fanOutOnce(deps: FanOutDeps): Promise<number> {
  const batch = deps.batch ?? 50;
  // The usual poll finds nothing: one indexed probe (the partial index on unprocessed rows), no transaction.
  const probe = await deps.pool.query(`SELECT 1 FROM notification_outbox WHERE processed_at IS NULL LIMIT 1`);
  if (probe.rows.length === 0) return 0;
  const client = await deps.pool.connect();
  // D's notificationTargets and recordDelivery issue single statements through queryOf (no transaction
  // of their own), so on this connection they run inside the claim's transaction.
  const tx = client as unknown as OperationsDb;
  const created: PendingDelivery[] = [];
  const done: string[] = [];
  let broken = false;
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<{ id: string; team_id: string; event: string; subject_id: string }>(
      `SELECT id::text, team_id::text, event, subject_id::text FROM notification_outbox
        WHERE processed_at IS NULL ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [batch],
    );
    for (const row of rows) {
      if (!KNOWN_EVENTS.has(row.event)) {
        deps.logger.warn({ outboxId: row.id, event: row.event }, "notification outbox row with an unknown event; skipped");
        done.push(row.id);
        continue;
      }
      await client.query("SAVEPOINT outbox_row");
      try {
        const event = row.event as (typeof NOTIFICATION_EVENTS)[number];
        const targets = await notificationTargets(tx, { teamId: row.team_id, event, subjectId: row.subject_id }, deps.keyring);
        const list = [
          ...targets.emails.map((target) => ({ channel: "email" as const, target })),
          ...(targets.webhook ? [{ channel: "webhook" as const, target: webhookTarget(targets.webhook.url) }] : []),
        ];
        for (const t of list) {
          const delivery = await recordDelivery(tx, { teamId: row.team_id, event, subjectId: row.subject_id, ...t });
          // Pending ones only, including any a crashed pass recorded: enqueueing again is a no-op per job id.
          if (delivery.status === "pending") created.push({ id: delivery.id, team_id: delivery.teamId });
        }
        if (targets.webhookError) {
          // Nothing unsigned is sent; the e-mails above still go. The delivery log says why the webhook
          // got nothing, so the team sees it on the dashboard and not only in this log.
          deps.logger.error({ outboxId: row.id, event: row.event, teamId: row.team_id, err: targets.webhookError.message }, "webhook not sent: its signing secret cannot be read");
          const failed = await recordDelivery(tx, { teamId: row.team_id, event, subjectId: row.subject_id, channel: "webhook", target: webhookTarget(targets.webhookError.url) });
          if (failed.created) await updateDelivery(tx, { teamId: row.team_id, id: failed.id, status: "failed", attempts: 0, lastError: targets.webhookError.message });
        }
        await client.query("RELEASE SAVEPOINT outbox_row");
        done.push(row.id);
      } catch (error) {
        await client.query("ROLLBACK TO SAVEPOINT outbox_row");
        // A transient failure leaves the row for the next poll; anything else (a malformed row) would
        // fail the same way forever, so the row is closed and logged.
        if (isTransientDbError(error)) throw error;
        deps.logger.error({ outboxId: row.id, event: row.event, err: (error as Error).message }, "notification not fanned out");
        done.push(row.id);
      }
    }
    if (done.length > 0) await client.query(`UPDATE notification_outbox SET processed_at = clock_timestamp() WHERE id = ANY($1::uuid[])`, [done]);
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
  if (done.length > 0) deps.metrics.notificationEvents.inc(done.length);
  if (created.length > 0) deps.metrics.notificationDeliveriesCreated.inc(created.length);
  await enqueue(deps, created);
  return done.length;
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

