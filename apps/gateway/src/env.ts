import { availableParallelism } from "node:os";
import { z } from "zod";
import { trustProxySchema } from "@portcullis/db/client-ip";

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
  /**
   * Gateway processes sharing the port (node:cluster): 1 (unset) runs in this process; "auto" = one per
   * core (os.availableParallelism()). Read by main.ts only; each process is a whole gateway.
   */
  GATEWAY_PROCESSES: z
    .preprocess(
      (v) => (typeof v === "string" ? (v.trim() === "" ? undefined : v.trim()) : v),
      z.union([z.literal("auto"), z.coerce.number().int().min(1).max(256)]).optional(),
    )
    .transform((v) => (v === "auto" ? availableParallelism() : v)),
  GATEWAY_HOST: z.string().default("0.0.0.0"),
  GATEWAY_PUBLIC_URL: z.string().url().default("http://localhost:3001"),
  WEB_PUBLIC_URL: z.string().url().default("http://localhost:3000"),
  /** The audit journal: one directory per instance below this; shared by instances on one disk (see audit/journal.ts). */
  GATEWAY_AUDIT_SPOOL_DIR: z.string().default(".data/spool"),
  /**
   * sync (default): a tool call is answered only once its audit event is fdatasync'd in the journal.
   * async: answered at once, the event journalled just after; a crash can lose the last few ms of events.
   */
  GATEWAY_AUDIT_DURABILITY: z.enum(["sync", "async"]).default("sync"),
  /** Empty or unset disables the internal (playground) endpoint and its listener. */
  GATEWAY_INTERNAL_TOKEN: z.string().optional().transform((v) => (v ? v : undefined)),
  /**
   * The internal (Playground) endpoint has its own listener, never the public port: loopback by
   * default, so only processes on this machine (the dashboard) reach it even before the token.
   */
  GATEWAY_INTERNAL_PORT: z.coerce.number().int().min(0).max(65535).default(3003),
  GATEWAY_INTERNAL_HOST: z.string().default("127.0.0.1"),
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
  /** get_schema's full text up to this size; above it a summary with guidance (a model's context is the budget). */
  GATEWAY_SCHEMA_BUDGET_BYTES: positiveInt(32 * 1024),
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
  /**
   * How many reverse proxies in front of the gateway append to X-Forwarded-For (0 = ignore the header:
   * the socket's peer is the client). Shared with the dashboard; see @portcullis/db/client-ip.
   */
  TRUST_PROXY: z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : v), trustProxySchema),
  /** Replaced by TRUST_PROXY (a hop count); refused when set so a proxy setup does not silently change. */
  GATEWAY_TRUST_PROXY: z
    .string()
    .optional()
    .refine((v) => v === undefined || v === "" || v === "false" || v === "0", {
      message: "GATEWAY_TRUST_PROXY is replaced by TRUST_PROXY: the number of proxy hops to trust (0 = ignore X-Forwarded-For)",
    }),
  /**
   * Before authentication, per source IP, shared by all instances: requests per minute, and failed
   * authentications per minute after which the address is refused (429) without a lookup. Loopback
   * sources are exempt (this machine; behind a local proxy set TRUST_PROXY).
   */
  GATEWAY_IP_RATE_LIMIT_PER_MINUTE: positiveInt(12000),
  GATEWAY_AUTH_FAILURES_PER_IP_PER_MINUTE: positiveInt(60),
  /**
   * Failed authentications per link per minute (all sources) after which only credentials this
   * instance already verified are accepted on the link until the minute ends; the rest get 429.
   */
  GATEWAY_AUTH_FAILURES_PER_LINK_PER_MINUTE: positiveInt(600),
  /**
   * The operator's target policy, shared with the dashboard (read by @portcullis/db/target): the gateway
   * re-checks a connection's address and role each time it opens a pool for it.
   */
  TARGET_NETWORKS: z.string().optional(),
  TARGET_ALLOW_ADDRESSES: z.string().optional(),
  TARGET_STACK_DATABASES: z.string().optional(),
  TARGET_ALLOW_POWERFUL_ROLES: z.string().optional(),
  /** SQLCommenter tags (link, team, traceparent) on executed statements; off unless 1/true (telemetry/call-spans.ts). */
  PORTCULLIS_SQLCOMMENTER: z.string().optional().transform((v) => ["1", "true", "yes", "on"].includes((v ?? "").trim().toLowerCase())),
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

/** The OTEL_* variables, for @portcullis/telemetry (which validates the ones it decides on). */
export function loadOtelEnv(): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith("OTEL_")));
}
