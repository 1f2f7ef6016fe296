import { z } from "zod";
import { trustProxySchema } from "@portcullis/db/client-ip";

/**
 * The dashboard's configuration, validated once. Nothing else in apps/web reads process.env
 * (enforced by the root ESLint rule), so a missing variable fails here with a sentence, not later
 * with an undefined.
 */
const optional = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() !== "" ? v.trim() : undefined));

const schema = z.object({
  DATABASE_URL: z.string({ error: "DATABASE_URL is not set" }).url({ error: "DATABASE_URL must be a postgresql:// URL" }),
  REDIS_URL: z.string().url().default("redis://127.0.0.1:63799"),
  /** BullMQ key prefix; must match the gateway's and the worker's. */
  QUEUE_PREFIX: z.string().default("bull"),
  PORTCULLIS_SECRET_KEYS: z.string({ error: "PORTCULLIS_SECRET_KEYS is not set (see .env.example)" }).min(1),
  NEXTAUTH_SECRET: z.string({ error: "NEXTAUTH_SECRET is not set" }).min(16, "NEXTAUTH_SECRET must be at least 16 characters"),
  WEB_PUBLIC_URL: optional,
  NEXTAUTH_URL: optional,
  WEB_PORT: z.coerce.number().int().positive().default(3000),
  GATEWAY_PUBLIC_URL: z.string().url().default("http://localhost:3001"),
  GATEWAY_INTERNAL_URL: optional,
  /**
   * Where the dashboard's health check reads the gateway's /readyz; defaults to GATEWAY_PUBLIC_URL. In a
   * container network the public URL is often a name only the outside resolves (behind TLS and a load
   * balancer), so Compose and the Helm chart point it at the gateway's service instead.
   */
  GATEWAY_HEALTH_URL: z.url({ protocol: /^https?$/, error: "GATEWAY_HEALTH_URL must be an http(s):// URL" }).optional(),
  GATEWAY_INTERNAL_PORT: z.coerce.number().int().min(1).max(65535).default(3003),
  GATEWAY_INTERNAL_TOKEN: optional,
  SMTP_URL: optional,
  EMAIL_FROM: z.string().default("Portcullis <no-reply@localhost>"),
  GITHUB_ID: optional,
  GITHUB_SECRET: optional,
  GOOGLE_ID: optional,
  GOOGLE_SECRET: optional,
  /** Sign-in attempts allowed per IP and per email in a 15-minute window. */
  AUTH_RATE_LIMIT: z.coerce.number().int().positive().default(20),
  /** Sign-ups allowed per IP per hour. */
  SIGNUP_RATE_LIMIT: z.coerce.number().int().positive().default(20),
  /** Namespace of the dashboard's own Redis keys (rate-limit counters). */
  REDIS_KEY_PREFIX: z.string().default("portcullis"),
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  /**
   * Who may create an account: anyone (open), only someone holding a valid invitation (invite-only),
   * or nobody (closed: operators create users with `pnpm portcullis user create`). Applies to
   * GitHub/Google sign-ins that would create an account too.
   */
  SIGNUP_MODE: z.enum(["open", "invite-only", "closed"], { error: "SIGNUP_MODE must be open, invite-only or closed" }).default("open"),
  /** Reverse proxies in front of the dashboard that append to X-Forwarded-For (0: believe none). */
  TRUST_PROXY: z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : v), trustProxySchema),
  /** The pull route's page size in JSON bytes (at least one event); the worker's webhook batches use the same setting. */
  AUDIT_EXPORT_BATCH_BYTES: z.coerce.number().int().min(1024).max(256 * 1024 * 1024).default(4 * 1024 * 1024),
  /** Set by scripts/web-server.mjs, which puts the socket's peer address in x-portcullis-peer. */
  PORTCULLIS_PEER_HEADER: optional,
});

export type WebEnv = z.infer<typeof schema> & { publicUrl: string; gatewayInternalUrl: string; gatewayHealthUrl: string };

let cached: WebEnv | undefined;

export function env(): WebEnv {
  cached ??= parseWebEnv(process.env);
  return cached;
}

/** The dashboard's settings from a given source (tests pass their own; env() reads process.env once). */
export function parseWebEnv(source: Record<string, string | undefined>): WebEnv {
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`Invalid dashboard environment:\n${problems.join("\n")}`);
  }
  const data = parsed.data;
  const publicUrl = (data.WEB_PUBLIC_URL ?? data.NEXTAUTH_URL ?? `http://localhost:${data.WEB_PORT}`).replace(/\/$/, "");
  return {
    ...data,
    publicUrl,
    // The Playground endpoint has its own loopback listener (the gateway's GATEWAY_INTERNAL_PORT); the
    // public port answers 404 for it, so the public URL is no fallback. Same variable on both sides, so
    // a stack started on other ports never sends the internal token to whatever holds the default one.
    gatewayInternalUrl: (data.GATEWAY_INTERNAL_URL ?? `http://127.0.0.1:${data.GATEWAY_INTERNAL_PORT}`).replace(/\/$/, ""),
    GATEWAY_PUBLIC_URL: data.GATEWAY_PUBLIC_URL.replace(/\/$/, ""),
    gatewayHealthUrl: (data.GATEWAY_HEALTH_URL ?? data.GATEWAY_PUBLIC_URL).replace(/\/$/, ""),
  };
}
