import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT } from "./paths.js";
import { parseYaml } from "./yaml.js";

/** The secrets docker-compose.yml requires from .env, with values of the right shapes. */
export function composeSecrets(): Record<string, string> {
  return {
    POSTGRES_PASSWORD: randomBytes(18).toString("base64url"),
    METADATA_DB_PASSWORD: randomBytes(18).toString("base64url"),
    REDIS_PASSWORD: randomBytes(18).toString("base64url"),
    PORTCULLIS_SECRET_KEYS: `k1:${randomBytes(32).toString("base64")}`,
    AUDIT_CHAIN_KEY: randomBytes(32).toString("hex"),
    NEXTAUTH_SECRET: randomBytes(24).toString("base64url"),
    GATEWAY_INTERNAL_TOKEN: randomBytes(24).toString("base64url"),
  };
}

export interface ComposeResult {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * `docker-compose -f docker-compose.yml config` in the repository, with `vars` as its .env (an env
 * file of our own: the checkout's .env belongs to the quick start) and nothing of ours inherited.
 */
export function composeConfig(vars: Record<string, string>, args: string[] = []): ComposeResult {
  const dir = mkdtempSync(path.join(tmpdir(), "pc-compose-"));
  const envFile = path.join(dir, "env");
  writeFileSync(envFile, Object.entries(vars).map(([k, v]) => `${k}=${v}\n`).join(""), { mode: 0o600 });
  try {
    const r = spawnSync("docker-compose", ["--env-file", envFile, "-f", "docker-compose.yml", ...args, "config"], {
      cwd: ROOT,
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir },
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | null>;
  ports?: unknown[];
  volumes?: unknown[];
  healthcheck?: { test?: string[] | string; interval?: string };
  depends_on?: Record<string, { condition?: string }>;
  profiles?: string[];
  restart?: string;
  read_only?: boolean;
  stop_grace_period?: string;
}
export interface ComposeModel {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export function resolvedCompose(vars: Record<string, string>, args: string[] = []): ComposeModel {
  const r = composeConfig(vars, args);
  if (r.status !== 0) throw new Error(`docker-compose config failed (${r.status}): ${r.stderr}`);
  return parseYaml(r.stdout) as ComposeModel;
}

/** A service's environment as the container gets it (nulls are unset variables). */
export function serviceEnv(service: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(service.environment ?? {})) if (v !== null && v !== undefined) env[k] = String(v);
  return env;
}
