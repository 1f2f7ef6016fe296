import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/**
 * `pnpm portcullis` runs in the checkout next to the quick-start stack, so it reads the same
 * configuration the apps were started with: the repository's `.env`, then `.data/stack.env` (the
 * DATABASE_URL and REDIS_URL `scripts/up.sh` chose). Variables already in the environment win.
 */
export function loadLocalEnv(root = ROOT): void {
  for (const file of [path.join(root, ".env"), path.join(root, ".data", "stack.env")]) {
    if (existsSync(file)) process.loadEnvFile(file);
  }
}
