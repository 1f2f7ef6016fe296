import { PortcullisError } from "@portcullis/db/errors";
import { getNotificationSettings, listDeliveries, saveNotificationSettings, webhookUrlSchema as dataWebhookUrlSchema, WEBHOOK_FORMATS } from "@portcullis/db/operations";
import { z } from "zod";
import { requireRole, type TeamContext } from "../../lib/authz";
import { getPrisma } from "../../lib/db";
import type { NotificationSettingsProps } from "./notifications-form";

// The data layer's rule (https only unless PORTCULLIS_WEBHOOK_ALLOW_HTTP, no credentials, bounded),
// applied at the action boundary too so a bad URL is a field error, not a thrown one.
export const webhookUrlSchema = () => dataWebhookUrlSchema().nullable();
export const webhookFormatSchema = z.enum(WEBHOOK_FORMATS);

/**
 * What the settings page may hold: the channel and whether a signing secret exists — never the
 * secret (the data layer does not even read the ciphertext for this).
 */
export async function notificationSettingsView(ctx: TeamContext): Promise<NotificationSettingsProps> {
  requireRole(ctx, "admin");
  const s = await getNotificationSettings(getPrisma(), { teamId: ctx.team.id });
  return { webhookUrl: s.webhookUrl, webhookFormat: s.webhookFormat, emailApprovers: s.emailApprovers, hasSecret: s.webhookSecretSet };
}

export interface DeliveryView {
  id: string;
  event: string;
  channel: string;
  target: string;
  status: string;
  attempts: number;
  lastError: string | null;
  responseStatus: number | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

export async function recentDeliveries(ctx: TeamContext, limit = 50): Promise<DeliveryView[]> {
  requireRole(ctx, "admin");
  const rows = await listDeliveries(getPrisma(), { teamId: ctx.team.id, limit });
  return rows.map(({ id, event, channel, target, status, attempts, lastError, responseStatus, createdAt, deliveredAt }) => ({ id, event, channel, target, status, attempts, lastError, responseStatus, createdAt, deliveredAt }));
}

/** Saves the channels; a new webhook (or a rotation) makes a signing secret, returned this once. */
export async function saveSettings(
  ctx: TeamContext,
  input: { webhookUrl: string | null; webhookFormat: "portcullis" | "slack"; emailApprovers: boolean; rotateSecret?: boolean },
): Promise<{ secret: string | null }> {
  requireRole(ctx, "admin");
  const saved = await saveNotificationSettings(getPrisma(), {
    teamId: ctx.team.id,
    actorUserId: ctx.user.userId,
    webhookUrl: input.webhookUrl,
    webhookFormat: input.webhookFormat,
    emailApprovers: input.emailApprovers,
    rotateSecret: input.rotateSecret ?? false,
    via: "dashboard",
    sourceIp: ctx.sourceIp ?? null,
  });
  return { secret: saved.secret };
}

export async function rotateSecret(ctx: TeamContext): Promise<{ secret: string }> {
  const current = await notificationSettingsView(ctx);
  if (!current.webhookUrl) throw new PortcullisError("invalid_input", "set a webhook URL first; its signing secret is made with it");
  const { secret } = await saveSettings(ctx, { webhookUrl: current.webhookUrl, webhookFormat: current.webhookFormat, emailApprovers: current.emailApprovers, rotateSecret: true });
  if (!secret) throw new Error("rotation returned no secret");
  return { secret };
}
