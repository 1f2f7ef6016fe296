import { z } from "zod";
import { getKeyring, type SecretKeyring } from "../secrets/index.js";
import { approvalOptionsOf } from "./approvers.js";
import { inTransaction, type OperationsDb, parseInput, queryOf, toDate, uuidSchema } from "./sql-db.js";
import { webhookSecretContext, type WebhookFormat } from "./notification-settings.js";

export * from "./notification-settings.js";

/**
 * The notification outbox and the delivery log (issue 15). Rows of notification_outbox are written by
 * the operations that create or decide requests, in their transaction; the worker claims them, asks
 * notificationTargets where each goes, records one delivery per target and updates it as it retries.
 */

export const NOTIFICATION_EVENTS = [
  "write_request.created",
  "write_request.decided",
  "write_request.expired",
  "access_grant.requested",
  "access_grant.decided",
  "access_grant.expired",
] as const;
export type OutboxEvent = (typeof NOTIFICATION_EVENTS)[number];

export interface OutboxRow {
  id: string;
  teamId: string;
  event: OutboxEvent;
  subjectId: string;
  createdAt: Date;
  processedAt: Date | null;
}

type RawOutbox = { id: string; team_id: string; event: string; subject_id: string; created_at: unknown; processed_at: unknown };
const toOutbox = (r: RawOutbox): OutboxRow => ({
  id: r.id,
  teamId: r.team_id,
  event: r.event as OutboxEvent,
  subjectId: r.subject_id,
  createdAt: toDate(r.created_at)!,
  processedAt: toDate(r.processed_at),
});
const OUTBOX_COLUMNS = "id::text AS id, team_id::text AS team_id, event, subject_id::text AS subject_id, created_at, processed_at";

/**
 * Claims up to `limit` unprocessed rows, oldest first, and marks them processed — FOR UPDATE SKIP
 * LOCKED, so several workers never claim the same row. A worker that fails to fan a row out hands it
 * back with releaseNotificationOutbox.
 */
export async function claimNotificationOutbox(db: OperationsDb, limit: number): Promise<OutboxRow[]> {
  const n = parseInput(z.number().int().min(1).max(1000), limit);
  return inTransaction(db, async (q) => {
    const rows = await q<RawOutbox>(
      `UPDATE notification_outbox SET processed_at = clock_timestamp()
       WHERE id IN (SELECT id FROM notification_outbox WHERE processed_at IS NULL ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING ${OUTBOX_COLUMNS}`,
      [n],
    );
    return rows.map(toOutbox).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  });
}

/** Hands claimed rows back (the fan-out failed before their deliveries were recorded). */
export async function releaseNotificationOutbox(db: OperationsDb, ids: string[]): Promise<number> {
  const v = parseInput(z.array(uuidSchema).max(1000), ids);
  if (!v.length) return 0;
  return (await queryOf(db)("UPDATE notification_outbox SET processed_at = NULL WHERE id = ANY($1::uuid[]) RETURNING id", [v])).length;
}

export interface NotificationTargets {
  /**
   * Approvers' addresses for a new approval or access request (owners, admins, the link's approvers,
   * minus the requester unless self-approval), or the requester's for a decision, a confirmation or an expiry.
   */
  emails: string[];
  webhook: { url: string; format: WebhookFormat; secret: string } | null;
  /**
   * Set (with `webhook: null`) when the team has a webhook whose signing secret cannot be opened (a
   * retired key, an altered row): nothing unsigned is sent, but the e-mails still go, and the caller
   * records why the webhook got nothing.
   */
  webhookError: { url: string; message: string } | null;
  /** The request's link, for the message (null when the subject is gone). */
  linkId: string | null;
}

function openWebhook(
  keyring: SecretKeyring,
  teamId: string,
  settings: { webhook_url: string | null; webhook_format: string; c: string | null } | undefined,
): Pick<NotificationTargets, "webhook" | "webhookError"> {
  if (!settings?.webhook_url || !settings.c) return { webhook: null, webhookError: null };
  try {
    return { webhook: { url: settings.webhook_url, format: settings.webhook_format as WebhookFormat, secret: keyring.open(settings.c, webhookSecretContext(teamId)) }, webhookError: null };
  } catch {
    // The keyring's message may name key ids; the team is told only what to do about it.
    return { webhook: null, webhookError: { url: settings.webhook_url, message: "the team's webhook signing secret cannot be read; save the notification settings again to set a new one" } };
  }
}

/**
 * Where one outbox event goes. New requests go to those who can decide them; decisions and expiries go
 * back to the member who asked. E-mail only when the team left emailApprovers on; the webhook gets every event.
 * A subject that no longer exists (deleted link, team) has no targets.
 */
export async function notificationTargets(db: OperationsDb, row: Pick<OutboxRow, "teamId" | "event" | "subjectId">, keyring: SecretKeyring = getKeyring()): Promise<NotificationTargets> {
  const v = parseInput(z.object({ teamId: uuidSchema, event: z.enum(NOTIFICATION_EVENTS), subjectId: uuidSchema }), row);
  const q = queryOf(db);
  const table = v.event.startsWith("write_request.") ? "write_requests" : "access_grants";
  const kind = table === "write_requests" ? "s.kind::text" : "'approval'";
  const subject = (await q<{ link_id: string; user_id: string | null; scope: unknown; kind: string }>(
    `SELECT s.link_id::text AS link_id, s.user_id::text AS user_id, l.scope, ${kind} AS kind
     FROM ${table} s JOIN links l ON l.id = s.link_id AND l.team_id = s.team_id
     WHERE s.id = $1::uuid AND s.team_id = $2::uuid`,
    [v.subjectId, v.teamId],
  ))[0];
  if (!subject) return { emails: [], webhook: null, webhookError: null, linkId: null };
  const settings = (await q<{ webhook_url: string | null; webhook_format: string; c: string | null; email_approvers: boolean }>(
    "SELECT webhook_url, webhook_format, webhook_secret_ciphertext AS c, email_approvers FROM team_notification_settings WHERE team_id = $1::uuid",
    [v.teamId],
  ))[0];
  const emailOn = settings?.email_approvers ?? true;
  let emails: string[] = [];
  // A confirmation is the requester's to give (in their client or the dashboard): it goes to them, like a decision.
  const toDeciders = (v.event === "write_request.created" && subject.kind === "approval") || v.event === "access_grant.requested";
  if (emailOn && toDeciders) {
    const scope = typeof subject.scope === "string" ? JSON.parse(subject.scope) : subject.scope;
    const withoutRequester = !approvalOptionsOf(scope).selfApproval;
    const rows = await q<{ email: string }>(
      `SELECT DISTINCT u.email FROM memberships m JOIN users u ON u.id = m.user_id
       WHERE m.team_id = $1::uuid
         AND (m.role IN ('owner', 'admin')
           OR (m.role = 'member' AND EXISTS (SELECT 1 FROM link_approvers a WHERE a.link_id = $2::uuid AND a.user_id = m.user_id)))
         AND NOT ($3 AND m.user_id IS NOT DISTINCT FROM $4::uuid)
       ORDER BY u.email`,
      [v.teamId, subject.link_id, withoutRequester, subject.user_id],
    );
    emails = rows.map((r) => r.email);
  } else if (emailOn && subject.user_id) {
    const rows = await q<{ email: string }>(
      "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.team_id = $1::uuid AND m.user_id = $2::uuid",
      [v.teamId, subject.user_id],
    );
    emails = rows.map((r) => r.email);
  }
  return { emails, ...openWebhook(keyring, v.teamId, settings), linkId: subject.link_id };
}

export const DELIVERY_CHANNELS = ["webhook", "email"] as const;
export const DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;

export interface DeliveryRow {
  id: string;
  teamId: string;
  event: string;
  subjectId: string;
  channel: (typeof DELIVERY_CHANNELS)[number];
  target: string;
  status: (typeof DELIVERY_STATUSES)[number];
  attempts: number;
  lastError: string | null;
  responseStatus: number | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

type RawDelivery = Record<string, unknown>;
const DELIVERY_COLUMNS = `id::text AS id, team_id::text AS team_id, event, subject_id::text AS subject_id, channel, target, status, attempts,
  last_error, response_status, created_at, delivered_at`;
const toDelivery = (r: RawDelivery): DeliveryRow => ({
  id: String(r.id),
  teamId: String(r.team_id),
  event: String(r.event),
  subjectId: String(r.subject_id),
  channel: r.channel as DeliveryRow["channel"],
  target: String(r.target),
  status: r.status as DeliveryRow["status"],
  attempts: Number(r.attempts),
  lastError: r.last_error == null ? null : String(r.last_error),
  responseStatus: r.response_status == null ? null : Number(r.response_status),
  createdAt: toDate(r.created_at)!,
  deliveredAt: toDate(r.delivered_at),
});

const recordDeliveryInput = z.strictObject({
  teamId: uuidSchema,
  event: z.enum(NOTIFICATION_EVENTS),
  subjectId: uuidSchema,
  channel: z.enum(DELIVERY_CHANNELS),
  target: z.string().min(1).max(2048),
});

/** One delivery per (event, subject, channel, target): a replayed fan-out finds the existing row (created: false). */
export async function recordDelivery(db: OperationsDb, input: z.input<typeof recordDeliveryInput>): Promise<DeliveryRow & { created: boolean }> {
  const v = parseInput(recordDeliveryInput, input);
  const q = queryOf(db);
  const inserted = await q(
    `INSERT INTO notification_deliveries (team_id, event, subject_id, channel, target) VALUES ($1::uuid, $2, $3::uuid, $4, $5)
     ON CONFLICT (event, subject_id, channel, target) DO NOTHING RETURNING ${DELIVERY_COLUMNS}`,
    [v.teamId, v.event, v.subjectId, v.channel, v.target],
  );
  if (inserted[0]) return { ...toDelivery(inserted[0]), created: true };
  const existing = await q(
    `SELECT ${DELIVERY_COLUMNS} FROM notification_deliveries WHERE event = $1 AND subject_id = $2::uuid AND channel = $3 AND target = $4 AND team_id = $5::uuid`,
    [v.event, v.subjectId, v.channel, v.target, v.teamId],
  );
  if (!existing[0]) throw new Error("the delivery row vanished between insert and read");
  return { ...toDelivery(existing[0]), created: false };
}

const updateDeliveryInput = z.strictObject({
  teamId: uuidSchema,
  id: uuidSchema,
  status: z.enum(DELIVERY_STATUSES),
  attempts: z.number().int().min(0).max(1000),
  lastError: z.string().max(2000).nullish(),
  responseStatus: z.number().int().min(100).max(599).nullish(),
});

/** After an attempt: its count, the outcome, and delivered_at once delivered. */
export async function updateDelivery(db: OperationsDb, input: z.input<typeof updateDeliveryInput>): Promise<DeliveryRow | null> {
  const v = parseInput(updateDeliveryInput, input);
  const rows = await queryOf(db)(
    `UPDATE notification_deliveries SET status = $3, attempts = $4, last_error = $5, response_status = $6,
       delivered_at = CASE WHEN $3 = 'delivered' THEN clock_timestamp() ELSE delivered_at END
     WHERE id = $1::uuid AND team_id = $2::uuid RETURNING ${DELIVERY_COLUMNS}`,
    [v.id, v.teamId, v.status, v.attempts, v.lastError ?? null, v.responseStatus ?? null],
  );
  return rows[0] ? toDelivery(rows[0]) : null;
}

/** The team's delivery log, newest first. */
export async function listDeliveries(db: OperationsDb, input: { teamId: string; limit?: number }): Promise<DeliveryRow[]> {
  const v = parseInput(z.strictObject({ teamId: uuidSchema, limit: z.number().int().min(1).max(500).default(100) }), input);
  const rows = await queryOf(db)(`SELECT ${DELIVERY_COLUMNS} FROM notification_deliveries WHERE team_id = $1::uuid ORDER BY created_at DESC, id DESC LIMIT $2`, [
    v.teamId,
    v.limit,
  ]);
  return rows.map(toDelivery);
}
