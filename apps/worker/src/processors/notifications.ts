import type { SecretKeyring } from "@portcullis/db/secrets";
import { notificationJobSchema } from "@portcullis/jobs";
import { UnrecoverableError, type Job } from "bullmq";
import type pg from "pg";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { type Mailer, isPermanentMailError } from "../notify/email.js";
import { loadFacts } from "../notify/facts.js";
import { emailMessage, portcullisPayload, slackPayload } from "../notify/format.js";
import { openWebhookSecret } from "../notify/settings.js";
import { type WebhookResult, sendWebhook } from "../notify/webhook.js";

export interface NotificationsDeps {
  pool: pg.Pool;
  keyring: SecretKeyring;
  mailer: Mailer;
  metrics: Metrics;
  logger: Logger;
  webPublicUrl: string;
  webhookTimeoutMs: number;
  allowPrivateWebhooks: boolean;
}

interface DeliveryRow {
  id: string;
  team_id: string;
  event: string;
  subject_id: string;
  channel: "webhook" | "email";
  target: string;
  status: string;
  created_at: Date;
}

/** Errors kept on the row are cut: a receiver's error page is not the dashboard's business. */
const short = (text: string | null) => (text === null ? null : text.slice(0, 1000));

async function record(pool: pg.Pool, row: DeliveryRow, status: "pending" | "delivered" | "failed", result: Pick<WebhookResult, "status" | "error">) {
  // Conditional on pending: a late duplicate of a job (stalled and retried) never overwrites the outcome.
  await pool.query(
    `UPDATE notification_deliveries
        SET attempts = attempts + 1, status = $3, response_status = $4, last_error = $5,
            delivered_at = CASE WHEN $3 = 'delivered' THEN clock_timestamp() ELSE delivered_at END
      WHERE id = $1::uuid AND team_id = $2::uuid AND status = 'pending'`,
    [row.id, row.team_id, status, result.status, short(result.error)],
  );
}

async function sendToWebhook(deps: NotificationsDeps, row: DeliveryRow, body: (format: string) => string): Promise<WebhookResult> {
  const { rows } = await deps.pool.query<{ webhook_url: string | null; webhook_format: string; webhook_secret_ciphertext: string | null }>(
    `SELECT webhook_url, webhook_format, webhook_secret_ciphertext FROM team_notification_settings WHERE team_id = $1::uuid`,
    [row.team_id],
  );
  const settings = rows[0];
  if (!settings?.webhook_url) return { outcome: "failed", status: null, error: "the team's webhook was removed before this was sent" };
  // Unsigned notifications could be forged by anyone who learns the URL: none is sent without a secret.
  const secret = settings.webhook_secret_ciphertext ? openWebhookSecret(deps.keyring, row.team_id, settings.webhook_secret_ciphertext) : null;
  if (!secret) return { outcome: "failed", status: null, error: "the team's webhook has no readable signing secret; save the notification settings again" };
  return sendWebhook({
    url: settings.webhook_url,
    secret,
    event: row.event,
    deliveryId: row.id,
    body: body(settings.webhook_format),
    timeoutMs: deps.webhookTimeoutMs,
    allowPrivate: deps.allowPrivateWebhooks,
  });
}

async function sendEmail(deps: NotificationsDeps, to: string, message: { subject: string; text: string }): Promise<WebhookResult> {
  try {
    const { delivered } = await deps.mailer.send({ to, ...message });
    return { outcome: "delivered", status: null, error: delivered === "log" ? "log: SMTP_URL is not set, so the message was printed to the worker's log" : null };
  } catch (error) {
    const code = (error as { responseCode?: number }).responseCode ?? null;
    return { outcome: isPermanentMailError(error) ? "failed" : "retry", status: code, error: (error as Error).message };
  }
}

/**
 * One delivery: read the row (skipped unless still pending), read the subject now, send, and record
 * the attempt. A retryable failure throws so BullMQ tries again with backoff; the last attempt, or a
 * permanent failure, marks the row failed and completes the job.
 */
export function notificationsProcessor(deps: NotificationsDeps) {
  return async (job: Job): Promise<{ outcome: string }> => {
    const parsed = notificationJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid notification job: ${parsed.error.message}`);
    const { rows } = await deps.pool.query<DeliveryRow>(
      `SELECT id::text, team_id::text, event, subject_id::text, channel, target, status, created_at
         FROM notification_deliveries WHERE id = $1::uuid AND team_id = $2::uuid`,
      [parsed.data.deliveryId, parsed.data.teamId],
    );
    const row = rows[0];
    if (!row || row.status !== "pending") return { outcome: row ? `already ${row.status}` : "gone" };

    const facts = await loadFacts(deps.pool, { teamId: row.team_id, event: row.event, subjectId: row.subject_id, webPublicUrl: deps.webPublicUrl });
    let result: WebhookResult;
    if (!facts) result = { outcome: "failed", status: null, error: "the request or grant no longer exists" };
    else if (row.channel === "webhook")
      result = await sendToWebhook(deps, row, (format) =>
        JSON.stringify(format === "slack" ? slackPayload(facts) : portcullisPayload(facts, row.id, new Date(row.created_at).toISOString())),
      );
    else result = await sendEmail(deps, row.target, emailMessage(facts));

    const attempts = job.opts.attempts ?? 1;
    const last = job.attemptsMade + 1 >= attempts;
    const status = result.outcome === "delivered" ? "delivered" : result.outcome === "failed" || last ? "failed" : "pending";
    await record(deps.pool, row, status, result);
    deps.metrics.notificationsSent.inc({ channel: row.channel, outcome: status === "pending" ? "retry" : status });
    if (status === "pending") throw new Error(result.error ?? "delivery failed; retrying");
    if (status === "failed") deps.logger.warn({ deliveryId: row.id, channel: row.channel, event: row.event, err: result.error }, "notification not delivered");
    return { outcome: status };
  };
}
