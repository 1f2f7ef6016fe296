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
} as const;

export const AUDIT_JOBS = { event: "audit-event", batch: "audit-batch" } as const;

/** Events per batch job: one Redis job costs about as much as one event's row, so batches amortize it. */
export const AUDIT_BATCH_MAX_EVENTS = 500;

/** The payload of an `AUDIT_JOBS.batch` job; each event is validated on its own by the consumer. */
export const auditBatchJobSchema = z.object({ events: z.array(z.unknown()).min(1).max(AUDIT_BATCH_MAX_EVENTS) });
export type AuditBatchJob = z.infer<typeof auditBatchJobSchema>;

/**
 * Audit events as batch jobs of at most `perJob` events. The job id derives from the first event's id,
 * so resending the same chunk while the first is still queued adds nothing; any other repeat is dropped
 * by the worker, which stores each event id once.
 */
export function auditBatchJobs<E extends { id: string }>(events: E[], perJob = AUDIT_BATCH_MAX_EVENTS): { name: string; data: { events: E[] }; opts: { jobId: string } }[] {
  const jobs = [];
  for (let i = 0; i < events.length; i += perJob) {
    const chunk = events.slice(i, i + perJob);
    jobs.push({ name: AUDIT_JOBS.batch, data: { events: chunk }, opts: { jobId: `batch-${chunk[0]!.id}` } });
  }
  return jobs;
}

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

/** Attempts per delivery: with a 2 s base the last retry comes about a minute after the first try. */
export const NOTIFICATION_ATTEMPTS = 6;

/**
 * Options of a delivery's job. The job id is the delivery id, so enqueueing the same delivery twice (the
 * fan-out and the re-enqueue pass racing, two workers) adds one job while the first is kept.
 */
export function notificationJobOptions(deliveryId: string, backoffBaseMs: number) {
  return {
    jobId: deliveryId,
    attempts: NOTIFICATION_ATTEMPTS,
    backoff: { type: "exponential" as const, delay: backoffBaseMs },
    // Kept for a day after completion so a late re-enqueue of the same id is still a no-op.
    removeOnComplete: { age: 86_400, count: 10_000 },
    removeOnFail: { age: 7 * 86_400 },
  };
}
