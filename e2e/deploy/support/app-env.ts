import { parseGatewayEnv } from "../../../apps/gateway/src/env.js";
import { loadWorkerEnv } from "../../../apps/worker/src/env.js";
import { parseWebEnv } from "../../../apps/web/src/lib/env.js";
import { getDbEnv } from "../../../packages/db/src/env.js";

export type Role = "web" | "gateway" | "worker" | "migrate";
export const APP_ROLES = ["web", "gateway", "worker"] as const;

/** Each role's own start-up validation: the parser the app runs on its environment. */
const parsers: Record<Role, (env: Record<string, string | undefined>) => unknown> = {
  gateway: (env) => parseGatewayEnv(env),
  worker: (env) => loadWorkerEnv(env),
  web: (env) => parseWebEnv(env),
  // The migration runner (packages/db/src/migrate/cli.ts) needs DATABASE_URL only.
  migrate: (env) => getDbEnv({ ...env, PORTCULLIS_SECRET_KEYS: env.PORTCULLIS_SECRET_KEYS ?? "-" }),
};

/** Throws the app's own message when `env` would stop it at start-up. */
export function validateRoleEnv(role: Role, env: Record<string, string | undefined>): void {
  parsers[role](env);
}

/**
 * The variables a role's schema requires, read from the schema itself: validate an empty environment
 * and collect the names it complains about (nothing hard-coded that could drift from the apps).
 */
export function requiredVars(role: Role): string[] {
  try {
    parsers[role]({});
    return [];
  } catch (error) {
    const names = [...(error as Error).message.matchAll(/^\s+- ([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!);
    if (names.length === 0) throw error;
    return [...new Set(names)].sort();
  }
}
