import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/**
 * `./portcullis` (or `pnpm portcullis`) runs in the checkout next to the quick-start stack, so it reads the same
 * configuration the apps were started with: the repository's `.env`, then `stack.env` in the stack's
 * data directory (PORTCULLIS_DATA_DIR, `.data` by default: the DATABASE_URL and REDIS_URL
 * `scripts/up.sh` chose). Variables already in the environment win.
 */
export function loadLocalEnv(root = ROOT): void {
  const envFile = path.join(root, ".env");
  if (existsSync(envFile)) process.loadEnvFile(envFile);
  // Read after .env, so a PORTCULLIS_DATA_DIR kept there counts too (the caller's still wins).
  const stackEnv = path.join(path.resolve(root, process.env.PORTCULLIS_DATA_DIR || ".data"), "stack.env");
  if (existsSync(stackEnv)) process.loadEnvFile(stackEnv);
}
