import { randomBytes } from "node:crypto";
import { testRedisUrl } from "@portcullis/db/testing";

/**
 * The dashboard's settings for one test file: its own metadata database, the test Redis, fresh
 * secrets, plus what the file needs on top. Set before the dashboard's modules are imported (they
 * read their settings once).
 */
export function useDashboardEnv(metadataUrl: string, extra: Record<string, string> = {}): void {
  Object.assign(process.env, {
    DATABASE_URL: metadataUrl,
    REDIS_URL: testRedisUrl(),
    PORTCULLIS_SECRET_KEYS: `t:${randomBytes(32).toString("base64")}`,
    NEXTAUTH_SECRET: randomBytes(24).toString("hex"),
    ...extra,
  });
}
