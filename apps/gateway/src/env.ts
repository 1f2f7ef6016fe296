import { z } from "zod";

/**
 * The gateway's whole configuration, validated once at start-up. Nothing else in apps/gateway reads
 * process.env: tests build a `GatewayEnv` directly and start instances on port 0.
 */
const csv = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const schema = z.object({
  DATABASE_URL: z.string({ error: "DATABASE_URL is not set: the metadata PostgreSQL database" }).url(),
  REDIS_URL: z.string({ error: "REDIS_URL is not set" }).url(),
  PORTCULLIS_SECRET_KEYS: z.string({ error: "PORTCULLIS_SECRET_KEYS is not set (see .env.example)" }).min(1),
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(3001),
  GATEWAY_HOST: z.string().default("0.0.0.0"),
  GATEWAY_PUBLIC_URL: z.string().url().default("http://localhost:3001"),
  WEB_PUBLIC_URL: z.string().url().default("http://localhost:3000"),
  GATEWAY_AUDIT_SPOOL_DIR: z.string().default(".data/spool"),
  /** Empty or unset disables the internal (playground) endpoint. */
  GATEWAY_INTERNAL_TOKEN: z.string().optional().transform((v) => (v ? v : undefined)),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** BullMQ key prefix; must match the worker's. */
  QUEUE_PREFIX: z.string().default("bull"),
  /** Host names accepted in the Host header of /mcp requests ("*" = any). Loopback names are always accepted. */
  GATEWAY_ALLOWED_HOSTS: csv,
  /** Browser origins accepted on /mcp besides the gateway's and the dashboard's ("*" = any). */
  GATEWAY_ALLOWED_ORIGINS: csv,
  GATEWAY_MAX_BODY_BYTES: positiveInt(1024 * 1024),
  /** Serialized result rows per call are cut at this many bytes (the model's context is the budget). */
  GATEWAY_MAX_RESULT_BYTES: positiveInt(256 * 1024),
  /** Per API key, per fixed one-minute window, shared by all instances through Redis. */
  GATEWAY_RATE_LIMIT_PER_MINUTE: positiveInt(1200),
  /** Connections per target connection pool (per gateway instance). */
  GATEWAY_POOL_MAX: positiveInt(10),
  GATEWAY_POOL_IDLE_MS: positiveInt(60_000),
  /** Backstop TTL for cached key and link lookups; revocations arrive by pub/sub well before. */
  GATEWAY_AUTH_CACHE_TTL_MS: positiveInt(30_000),
  GATEWAY_SHUTDOWN_GRACE_MS: positiveInt(25_000),
  /** Audit events are sent to Redis in small batches; this bounds how long one waits. */
  GATEWAY_AUDIT_FLUSH_MS: positiveInt(20),
  /** Take the client address from X-Forwarded-For (only behind a proxy that sets it). */
  GATEWAY_TRUST_PROXY: z
    .enum(["true", "false", "1", "0", ""])
    .optional()
    .transform((v) => v === "true" || v === "1"),
});

export type GatewayEnv = z.infer<typeof schema>;
export type GatewayEnvInput = z.input<typeof schema>;

export function parseGatewayEnv(source: Record<string, string | undefined>): GatewayEnv {
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`Invalid gateway environment:\n${problems.join("\n")}`);
  }
  return parsed.data;
}

export function loadGatewayEnv(): GatewayEnv {
  return parseGatewayEnv(process.env);
}
