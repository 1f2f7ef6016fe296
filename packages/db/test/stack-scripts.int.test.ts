import { execFile } from "node:child_process";
import { chmod, cp, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../src/testing/index.js";

/**
 * scripts/lib.sh as up.sh uses it, on a scratch checkout (its own ROOT, .env, .data, ports): the
 * secrets it writes and their file modes, and what the metadata cluster and Redis it prepares let an
 * outsider do. Issue 12: `.env` was world-readable and the cluster's superuser was portcullis/portcullis.
 */
const run = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, "../../..");
let root: string;
const started: string[] = [];

async function lib(script: string, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run("bash", ["-c", `set -euo pipefail; source "${root}/scripts/lib.sh"; ${script}`], {
    cwd: root,
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return stdout;
}

async function sqlState(url: string, sql = "SELECT 1"): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query(sql);
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

function envValue(text: string, name: string): string | undefined {
  return new RegExp(`^${name}=(.*)$`, "m").exec(text)?.[1];
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "stack-"));
  // Like a checkout: the `postgres` user (root runs the cluster as it) must be able to pass through.
  await chmod(root, 0o755);
  await mkdir(path.join(root, "scripts"));
  await cp(path.join(REPO, "scripts/lib.sh"), path.join(root, "scripts/lib.sh"));
  await cp(path.join(REPO, ".env.example"), path.join(root, ".env.example"));
  // bootstrap_metadata runs packages/db's CLI from ROOT.
  await symlink(path.join(REPO, "packages"), path.join(root, "packages"));
  await symlink(path.join(REPO, "node_modules"), path.join(root, "node_modules"));
});

afterAll(async () => {
  for (const stop of started.reverse()) await lib(stop).catch(() => {});
  await rm(root, { recursive: true, force: true });
});

describe("scripts/lib.sh", () => {
  it("writes a new .env readable by its owner only, with every secret random", async () => {
    await lib("ensure_env_file");
    const info = await stat(path.join(root, ".env"));
    expect(info.mode & 0o777).toBe(0o600);
    expect((await stat(path.join(root, ".data"))).mode & 0o077).toBe(0o011);
    const text = await readFile(path.join(root, ".env"), "utf8");
    expect(envValue(text, "METADATA_DB_PASSWORD")).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(envValue(text, "REDIS_PASSWORD")).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(envValue(text, "AUDIT_CHAIN_KEY")).toMatch(/^[0-9a-f]{64}$/);
    expect(envValue(text, "DEMO_PASSWORD")).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(envValue(text, "NEXTAUTH_SECRET")!.length).toBeGreaterThanOrEqual(32);
    expect(envValue(text, "PORTCULLIS_SECRET_KEYS")).toMatch(/^k1:/);
  });

  it("upgrades an .env of the old scheme: 0600, missing secrets added, the rest untouched", async () => {
    const old = "PORTCULLIS_SECRET_KEYS=k1:AAAA\nNEXTAUTH_SECRET=kept-as-it-was-0123456789\nWEB_PORT=3000\n";
    await writeFile(path.join(root, ".env"), old, { mode: 0o644 });
    await lib("ensure_env_file");
    expect((await stat(path.join(root, ".env"))).mode & 0o777).toBe(0o600);
    const text = await readFile(path.join(root, ".env"), "utf8");
    expect(text.startsWith(old)).toBe(true);
    expect(envValue(text, "METADATA_DB_PASSWORD")).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(envValue(text, "REDIS_PASSWORD")).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const again = await lib("ensure_env_file; cat .env");
    expect(again).toBe(text);
  });

  it("an old-scheme cluster (superuser portcullis/portcullis) comes out with no superuser login over TCP and a plain app role", async () => {
    const port = await freePort();
    const data = path.join(root, ".data", "pg");
    // The old scheme: the cluster as earlier versions created it, the apps connected as its superuser.
    await lib(`start_postgres "${data}" ${port}`);
    started.push(`stop_postgres "${data}"`);
    const oldUrl = `postgresql://portcullis:portcullis@127.0.0.1:${port}/postgres`;
    expect(await sqlState(oldUrl)).toBe("ok");

    const password = "an-app-password-of-32-characters";
    const out = await lib(`bootstrap_metadata "${data}" ${port} "${password}"; echo "URL=$DATABASE_URL"`);
    const appUrl = /URL=(.*)/.exec(out)![1]!;
    expect(appUrl).toBe(`postgresql://portcullis_app:${password}@127.0.0.1:${port}/portcullis`);
    expect(await sqlState(oldUrl)).toBe("28P01");
    expect(await sqlState(appUrl)).toBe("ok");
    expect(await sqlState(appUrl, "SELECT rolpassword FROM pg_authid")).toBe("42501");
    expect(await sqlState(appUrl, "COPY (SELECT 1) TO PROGRAM 'true'")).toBe("42501");
    expect(await sqlState(appUrl, "DO $$ BEGIN IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN RAISE 'superuser'; END IF; END $$")).toBe("ok");
    // A second run (every up.sh) keeps working, with the password .env holds.
    await lib(`bootstrap_metadata "${data}" ${port} "${password}"`);
    expect(await sqlState(appUrl)).toBe("ok");
  });

  it("Redis requires the password, and an old one running without gets it set live", async () => {
    const port = await freePort();
    const dir = path.join(root, ".data", "redis");
    await lib(`start_redis "${dir}" ${port}`);
    started.push(`stop_redis "${dir}" ${port} redis-password-0123456789abcdef`);
    expect((await run("redis-cli", ["-p", String(port), "ping"])).stdout.trim()).toBe("PONG");
    await lib(`start_redis "${dir}" ${port} redis-password-0123456789abcdef`);
    expect((await run("redis-cli", ["-p", String(port), "ping"])).stdout.trim()).toMatch(/NOAUTH/);
    const authed = await run("redis-cli", ["--no-auth-warning", "-p", String(port), "ping"], { env: { ...process.env, REDISCLI_AUTH: "redis-password-0123456789abcdef" } });
    expect(authed.stdout.trim()).toBe("PONG");
    await lib(`stop_redis "${dir}" ${port} redis-password-0123456789abcdef`);

    // Started by us with the password: in a 0600 config file, not on the command line.
    await lib(`start_redis "${dir}" ${port} redis-password-0123456789abcdef`);
    expect((await stat(path.join(dir, "redis.conf"))).mode & 0o777).toBe(0o600);
    const { stdout: ps } = await run("ps", ["-eo", "args"]);
    expect(ps).not.toContain("redis-password-0123456789abcdef");
    expect((await run("redis-cli", ["-p", String(port), "ping"])).stdout.trim()).toMatch(/NOAUTH/);
  });
});
