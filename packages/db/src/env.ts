import { z } from "zod";

/**
 * Environment shared by every process that touches the metadata database. Apps add their own
 * schemas on top; nothing else in this package reads process.env.
 */
const schema = z.object({
  DATABASE_URL: z
    .string({ error: "DATABASE_URL is not set: point it at the metadata PostgreSQL database" })
    .url({ error: "DATABASE_URL must be a postgresql:// URL" }),
  /**
   * Keys for connection secrets: "id1:base64key1,id2:base64key2". The first one seals new secrets;
   * all of them open old ones, so a key can be rotated in without downtime.
   */
  PORTCULLIS_SECRET_KEYS: z
    .string({ error: "PORTCULLIS_SECRET_KEYS is not set (see .env.example)" })
    .min(1, "PORTCULLIS_SECRET_KEYS is empty (see .env.example)"),
});

export type DbEnv = z.infer<typeof schema>;

let cached: DbEnv | undefined;

export function getDbEnv(source: NodeJS.ProcessEnv = process.env): DbEnv {
  if (source === process.env && cached) return cached;
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`Invalid environment:\n${problems.join("\n")}`);
  }
  if (source === process.env) cached = parsed.data;
  return parsed.data;
}

/** PORTCULLIS_WEBHOOK_ALLOW_HTTP=1: team webhooks may use http:// (local receivers in development and tests). */
export function webhookAllowsHttp(source: NodeJS.ProcessEnv = process.env): boolean {
  return source.PORTCULLIS_WEBHOOK_ALLOW_HTTP === "1";
}
