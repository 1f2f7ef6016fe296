import { execFileSync } from "node:child_process";
import path from "node:path";

/**
 * Vitest global setup for integration suites: when TEST_PG_URL / TEST_REDIS_URL are not given (a
 * developer running `npx vitest` by hand), start the project-local test services the same way
 * scripts/test.sh does, so every integration suite runs against real PostgreSQL and Redis.
 */
export default function setup(): void {
  if (process.env.TEST_PG_URL && process.env.TEST_REDIS_URL) return;
  const root = path.resolve(import.meta.dirname, "..");
  const out = execFileSync(
    "bash",
    ["-c", 'source scripts/test-services.sh >&2; printf "%s\\n%s\\n" "$TEST_PG_URL" "$TEST_REDIS_URL"'],
    { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  const [pgUrl, redisUrl] = out.trim().split("\n");
  process.env.TEST_PG_URL = pgUrl;
  process.env.TEST_REDIS_URL = redisUrl;
}
