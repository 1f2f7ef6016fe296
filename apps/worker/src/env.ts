import { z } from "zod";

/**
 * The worker's configuration, validated once at start-up; nothing else in apps/worker reads
 * process.env. Secrets (API keys, database URL) are never logged: `describeEnv` is what main logs.
 */
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() !== "" ? v.trim() : undefined));
const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);
const auditRetentionDays = int(0);

export const workerEnvSchema = z
  .object({
    DATABASE_URL: z.string({ error: "DATABASE_URL is not set: point it at the metadata PostgreSQL database" }).url(),
    REDIS_URL: z.string({ error: "REDIS_URL is not set" }).url({ error: "REDIS_URL must be a redis:// URL" }),
    PORTCULLIS_SECRET_KEYS: z.string().min(1, "PORTCULLIS_SECRET_KEYS is not set (see .env.example)"),
    WORKER_METRICS_PORT: int(3002),
    /** Metrics and health are for the operator's scraper, not the internet: loopback unless told otherwise. */
    WORKER_METRICS_HOST: z.string().default("127.0.0.1"),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    /** BullMQ key prefix; tests give each suite its own. */
    QUEUE_PREFIX: z.string().default("bull"),
    /** Events per audit write; larger batches amortise the transaction, smaller ones cut latency. */
    AUDIT_BATCH_SIZE: int(500, 1),
    /** Longest an event waits for its batch to fill (ms). */
    AUDIT_BATCH_WAIT_MS: int(25, 1),
    /** Parallel audit writers; teams are spread across them (each holds up to two connections). */
    AUDIT_WRITERS: int(3, 1),
    /**
     * Lock on an active audit job. If the worker dies, its jobs return to the queue once the lock
     * has expired and the stalled check (every AUDIT_STALLED_INTERVAL_MS) runs: lower means faster
     * recovery but more Redis traffic renewing locks.
     */
    AUDIT_LOCK_DURATION_MS: int(30_000, 1000),
    AUDIT_STALLED_INTERVAL_MS: int(30_000, 500),
    /**
     * Instance-wide audit retention (days): whole monthly partitions older than this are dropped (0:
     * keep everything). A team's own audit_retention_days, when shorter, still applies row by row.
     */
    AUDIT_RETENTION_DAYS: auditRetentionDays,

    AI_PROVIDER: z.enum(["openai", "anthropic", "openai-compatible", "none"]).default("none"),
    AI_MODEL: optionalString,
    OPENAI_API_KEY: optionalString,
    ANTHROPIC_API_KEY: optionalString,
    AI_BASE_URL: optionalString,
    /** Model calls per minute across this worker (descriptions are batched one call per table). */
    AI_REQUESTS_PER_MINUTE: int(30, 1),
    /** Per-call timeout (ms); a hung provider fails the job, which is retried with backoff. */
    AI_TIMEOUT_MS: int(60_000, 100),

    /** Cron for scheduled schema introspection of every connection (UTC). */
    INTROSPECTION_CRON: z.string().default("17 3 * * *"),

    /** The dashboard's public URL: notifications link to its approvals page. */
    WEB_PUBLIC_URL: z.string().url().default("http://localhost:3000"),
    /** Approval e-mails go through this server; unset, they are printed to the worker's log. */
    SMTP_URL: optionalString,
    EMAIL_FROM: z.string().default("Portcullis <no-reply@localhost>"),
    /** How often the notification outbox is polled (ms). */
    NOTIFY_POLL_MS: int(1000, 50).refine((v) => v <= 2000, "NOTIFY_POLL_MS is at most 2000"),
    /** First retry delay of a failed delivery (ms); it doubles on each of the 6 attempts. */
    NOTIFY_RETRY_BASE_MS: int(2000, 10),
    NOTIFY_WEBHOOK_TIMEOUT_MS: int(10_000, 100),
    /** Parallel deliveries per worker (each mostly waits on a receiver; they share 4 database connections). */
    NOTIFY_CONCURRENCY: int(8, 1),
    /** Webhooks to private, loopback and link-local addresses: refused unless 1 (tests, closed networks). */
    PORTCULLIS_WEBHOOK_ALLOW_PRIVATE: z
      .enum(["", "0", "1", "true", "false"])
      .optional()
      .transform((v) => v === "1" || v === "true"),
    /** Audit sinks (issue 16): the root under which file sinks write <team id>/<sink name>/*.jsonl; unset, file sinks wait. */
    AUDIT_EXPORT_DIR: optionalString,
    /** How often due audit sinks are looked for (ms), events per webhook batch, bytes per file. */
    AUDIT_EXPORT_POLL_MS: int(1000, 50),
    AUDIT_EXPORT_BATCH_EVENTS: int(500, 1).refine((v) => v <= 10_000, "AUDIT_EXPORT_BATCH_EVENTS is at most 10000"),
    AUDIT_EXPORT_FILE_MAX_BYTES: int(8 * 1024 * 1024, 1024),
    /** The JSON bytes of one webhook batch / pull page (at least one event): 500 huge events must not make a 100 MB POST. */
    AUDIT_EXPORT_BATCH_BYTES: int(4 * 1024 * 1024, 1024).refine((v) => v <= 256 * 1024 * 1024, "AUDIT_EXPORT_BATCH_BYTES is at most 268435456"),
    AUDIT_EXPORT_TIMEOUT_MS: int(10_000, 100),
    /** A failing sink's retries: exponential from the base with jitter, capped; paused after failing this long. */
    AUDIT_EXPORT_RETRY_BASE_MS: int(1000, 10),
    AUDIT_EXPORT_RETRY_MAX_MS: int(300_000, 10),
    AUDIT_EXPORT_PAUSE_AFTER_MS: int(24 * 3_600_000, 1000),
    /** How long a worker holds a sink without renewing (default 3 timeouts, at least 30 s); a killed worker's sinks wait this long. */
    AUDIT_EXPORT_LEASE_MS: z.coerce.number().int().min(500).optional(),
    /** The gateway's URLs, so audit sinks can refuse them (with the database, Redis, dashboard and metrics). */
    GATEWAY_PUBLIC_URL: z.string().url().default("http://localhost:3001"),
    GATEWAY_INTERNAL_PORT: int(3003, 1),
    /** How often pending write requests and access grants past their time are expired (ms). */
    APPROVAL_SWEEP_EVERY_MS: int(15_000, 100),
  })
  .superRefine((env, ctx) => {
    if (env.AI_PROVIDER === "openai" && !env.OPENAI_API_KEY)
      ctx.addIssue({ code: "custom", path: ["OPENAI_API_KEY"], message: "AI_PROVIDER=openai needs OPENAI_API_KEY" });
    if (env.AI_PROVIDER === "anthropic" && !env.ANTHROPIC_API_KEY)
      ctx.addIssue({ code: "custom", path: ["ANTHROPIC_API_KEY"], message: "AI_PROVIDER=anthropic needs ANTHROPIC_API_KEY" });
    if (env.AI_PROVIDER === "openai-compatible" && !env.AI_BASE_URL)
      ctx.addIssue({ code: "custom", path: ["AI_BASE_URL"], message: "AI_PROVIDER=openai-compatible needs AI_BASE_URL (e.g. http://localhost:11434/v1)" });
    if (env.AI_PROVIDER !== "none" && env.AI_PROVIDER !== "openai" && env.AI_PROVIDER !== "anthropic" && !env.AI_MODEL)
      ctx.addIssue({ code: "custom", path: ["AI_MODEL"], message: `AI_PROVIDER=${env.AI_PROVIDER} needs AI_MODEL` });
  });

export type WorkerEnv = z.infer<typeof workerEnvSchema>;

export function loadWorkerEnv(source: NodeJS.ProcessEnv = process.env): WorkerEnv {
  const parsed = workerEnvSchema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`Invalid worker environment:\n${problems.join("\n")}`);
  }
  return parsed.data;
}

/** AUDIT_RETENTION_DAYS alone, for housekeeping when it is not handed the parsed environment. */
export function loadAuditRetentionDays(source: NodeJS.ProcessEnv = process.env): number {
  return auditRetentionDays.parse(source.AUDIT_RETENTION_DAYS === "" ? undefined : source.AUDIT_RETENTION_DAYS);
}

/** What is safe to log about the configuration: no URLs with passwords, no keys. */
export function describeEnv(env: WorkerEnv): Record<string, unknown> {
  return {
    metricsPort: env.WORKER_METRICS_PORT,
    queuePrefix: env.QUEUE_PREFIX,
    auditBatchSize: env.AUDIT_BATCH_SIZE,
    auditWriters: env.AUDIT_WRITERS,
    auditRetentionDays: env.AUDIT_RETENTION_DAYS,
    aiProvider: env.AI_PROVIDER,
    aiModel: env.AI_MODEL ?? null,
    aiBaseUrl: env.AI_BASE_URL ? new URL(env.AI_BASE_URL).origin : null,
    webPublicUrl: env.WEB_PUBLIC_URL,
    smtp: env.SMTP_URL ? (URL.canParse(env.SMTP_URL) ? new URL(env.SMTP_URL).host : "set") : "log",
    webhookAllowPrivate: env.PORTCULLIS_WEBHOOK_ALLOW_PRIVATE,
  };
}
