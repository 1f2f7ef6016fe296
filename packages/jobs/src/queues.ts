import { z } from "zod";

/** Queue names and job payloads shared by producers (gateway, web) and consumers (worker). */
export const QUEUES = {
  /**
   * Audit events: `AUDIT_JOBS.batch` jobs (what the gateway sends: every event recorded in one flush,
   * one job) or `AUDIT_JOBS.event` jobs (one event, job id = event id: dead-letter replays). Storage is
   * idempotent on event id, so a replayed event or batch is stored once.
   */
  audit: "audit-events",
  /** Audit jobs that failed every retry, kept for the dashboard to show and an operator to replay. */
  auditDeadLetter: "audit-dead-letter",
  introspection: "schema-introspection",
  descriptions: "schema-descriptions",
  housekeeping: "housekeeping",
  /** One job per notification delivery (job id = notification_deliveries.id): a webhook POST or an e-mail. */
  notifications: "notifications",
  /** Audit sinks: a repeatable tick; each run delivers the due sinks it can lease (issue 16). */
  auditExport: "audit-export",
} as const;

export const AUDIT_JOBS = { event: "audit-event", batch: "audit-batch" } as const;

/** Events per batch job: one Redis job costs about as much as one event's row, so batches amortize it. */
export const AUDIT_BATCH_MAX_EVENTS = 500;

/** The payload of an `AUDIT_JOBS.batch` job; each event is validated on its own by the consumer. */
export const auditBatchJobSchema = z.object({ events: z.array(z.unknown()).min(1).max(AUDIT_BATCH_MAX_EVENTS) });
export type AuditBatchJob = z.infer<typeof auditBatchJobSchema>;

/**
 * Whether an audit job carries a batch: by name, or by shape (an `events` array and no event `id`),
 * since a batch dead-lettered by an older worker is replayed as an event job whose data is the batch.
 */
export function isAuditBatchJob(name: string, data: unknown): boolean {
  if (name === AUDIT_JOBS.batch) return true;
  return typeof data === "object" && data !== null && Array.isArray((data as { events?: unknown }).events) && !("id" in data);
}

/** Redis pub/sub channel on which key and token revocations are broadcast to every gateway. */
export const REVOCATION_CHANNEL = "portcullis:revocations";

export const revocationMessageSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("api_key"), apiKeyId: z.string(), hash: z.string().optional() }),
  z.object({ kind: z.literal("oauth_grant"), grantId: z.string() }),
  z.object({ kind: z.literal("link"), linkId: z.string() }),
  z.object({ kind: z.literal("connection"), connectionId: z.string() }),
  /** A 2025-era MCP session a client ended with DELETE (sha256 of its id): answered 404 by every gateway. */
  z.object({ kind: z.literal("session_ended"), sessionHash: z.string().max(100) }),
]);
export type RevocationMessage = z.infer<typeof revocationMessageSchema>;

export const introspectionJobSchema = z.object({
  connectionId: z.string().uuid(),
  reason: z.enum(["created", "on_demand", "scheduled"]),
});
export type IntrospectionJob = z.infer<typeof introspectionJobSchema>;

export const descriptionsJobSchema = z.object({
  connectionId: z.string().uuid(),
  /** Limit to these tables ("schema.table"); all visible tables when absent. */
  tables: z.array(z.string()).optional(),
  requestedById: z.string().uuid().optional(),
});
export type DescriptionsJob = z.infer<typeof descriptionsJobSchema>;

export const housekeepingJobSchema = z.object({
  task: z.enum(["expire_keys", "prune_sessions", "prune_oauth", "flush_last_used", "audit_retention"]),
});
export type HousekeepingJob = z.infer<typeof housekeepingJobSchema>;

/** Redis hash where gateways accumulate API key last-used times; the worker flushes it in batches. */
export const LAST_USED_HASH = "portcullis:last-used:api-keys";

/** A delivery's job: the row holds the target and the attempts; the job only names it (and its team, checked). */
export const notificationJobSchema = z.object({ deliveryId: z.string().uuid(), teamId: z.string().uuid() });
export type NotificationJob = z.infer<typeof notificationJobSchema>;
