/**
 * The servers gateway.bench.ts measures, each as its own process: the gateway as
 * `pnpm --filter @portcullis/gateway start` runs it (with a worker ingesting its audit), DBHub 1.4 on
 * Node 24 configured as its docs say for a read-only server with 1,000 rows at most, and the ceiling.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, testRedisUrl } from "@portcullis/db/testing";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const GATEWAY_DIR = path.resolve(HERE, "..");
// DBHub 1.4 requires Node >= 22.5: the Node 24 binary e2e/ installs from npm, unless told otherwise.
/** The Node 24 binary e2e/ installs from npm (DBHub's runtime, and the container image's: Dockerfile). */
export const NODE24 = process.env.BENCH_NODE24 ?? path.resolve(GATEWAY_DIR, "../../e2e/node_modules/node24/bin/node");
const DBHUB_NODE = process.env.BENCH_DBHUB_NODE ?? NODE24;
const nodeVersion = (binary: string) => execFileSync(binary, ["--version"]).toString().trim();

export async function waitForHttp(url: string, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited with ${child.exitCode}`);
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not come up`);
}

export interface GatewayEnv {
  metaUrl: string;
  secretKeys: string;
  spoolDir: string;
  queuePrefix: string;
}

/** `node`: the binary to run it on (default BENCH_GATEWAY_NODE, else this process's Node). */
export async function startGateway(env: GatewayEnv, linkId: string, children: ChildProcess[], node?: string): Promise<{ child: ChildProcess; url: string; node: string }> {
  const port = await freePort();
  const binary = node ?? (process.env.BENCH_GATEWAY_NODE || process.execPath);
  const child = spawn(binary, [...(process.env.BENCH_GATEWAY_NODE_ARGS?.split(" ").filter(Boolean) ?? []), "--import", "tsx", path.join(GATEWAY_DIR, "src/main.ts")], {
    cwd: GATEWAY_DIR,
    env: {
      ...process.env,
      DATABASE_URL: env.metaUrl,
      REDIS_URL: testRedisUrl(),
      PORTCULLIS_SECRET_KEYS: env.secretKeys,
      GATEWAY_PORT: String(port),
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_PUBLIC_URL: `http://localhost:${port}`,
      GATEWAY_AUDIT_SPOOL_DIR: env.spoolDir,
      GATEWAY_AUDIT_DURABILITY: "sync",
      GATEWAY_RATE_LIMIT_PER_MINUTE: "100000000",
      // Chinook on the loopback test cluster, reached as its superuser: allowed explicitly.
      TARGET_NETWORKS: "any",
      TARGET_ALLOW_POWERFUL_ROLES: "true",
      QUEUE_PREFIX: env.queuePrefix,
      LOG_LEVEL: "warn",
      NODE_ENV: "production",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  children.push(child);
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, child);
  return { child, url: `http://127.0.0.1:${port}/mcp/${linkId}`, node: nodeVersion(binary) };
}

export async function startWorker(env: GatewayEnv, children: ChildProcess[]): Promise<void> {
  const worker = spawn(process.execPath, ["--import", "tsx", path.join(GATEWAY_DIR, "../worker/src/main.ts")], {
    cwd: path.join(GATEWAY_DIR, "../worker"),
    env: { ...process.env, DATABASE_URL: env.metaUrl, REDIS_URL: testRedisUrl(), PORTCULLIS_SECRET_KEYS: env.secretKeys, QUEUE_PREFIX: env.queuePrefix, LOG_LEVEL: "warn", WORKER_METRICS_PORT: String(await freePort()), AI_PROVIDER: "none", NODE_ENV: "production" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  children.push(worker);
}

/**
 * DBHub over HTTP, no auth, from a dbhub.toml as its docs write it for a read-only execute_sql with
 * max_rows (1.4 refuses the old --readonly / --max-rows flags), plus its search_objects tool.
 */
export async function startDbhub(databaseUrl: string, workDir: string, children: ChildProcess[]): Promise<{ child: ChildProcess; url: string; node: string }> {
  // On Node 20, pnpm skips @azure/identity (engine >= 22), which tedious (its SQL Server driver)
  // requires at load: stand-ins on NODE_PATH let DBHub start; the PostgreSQL path does not touch them.
  const stubDir = path.join(workDir, "stubs");
  for (const pkg of ["identity", "core-auth"]) {
    await mkdir(path.join(stubDir, "@azure", pkg), { recursive: true });
    await writeFile(
      path.join(stubDir, "@azure", pkg, "index.js"),
      `class Unavailable { constructor() { throw new Error("Azure authentication is not available"); } }\n` +
        `module.exports = new Proxy({}, { get: (_t, name) => (name === "__esModule" ? false : name === "isTokenCredential" ? () => false : Unavailable) });\n`,
    );
  }
  const dsn = new URL(databaseUrl);
  dsn.searchParams.set("sslmode", "disable");
  const config = path.join(workDir, "dbhub.toml");
  await writeFile(
    config,
    `[[sources]]\nid = "default"\ndsn = ${JSON.stringify(dsn.toString())}\n\n` +
      `[[tools]]\nname = "execute_sql"\nsource = "default"\nreadonly = true\nmax_rows = 1000\n\n` +
      `[[tools]]\nname = "search_objects"\nsource = "default"\n`,
  );
  const node = existsSync(DBHUB_NODE) ? DBHUB_NODE : process.execPath;
  const port = await freePort();
  const child = spawn(node, [path.join(GATEWAY_DIR, "node_modules/@bytebase/dbhub/dist/index.js"), "--transport=http", `--port=${port}`, `--config=${config}`], {
    env: { ...process.env, NODE_PATH: stubDir, NODE_ENV: "production" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(child);
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, child);
  return { child, url: `http://127.0.0.1:${port}/mcp`, node: nodeVersion(node) };
}

/** The ceiling: HTTP + the statement through pg, and nothing else (no auth, policy, audit, SDK). */
export async function startCeiling(databaseUrl: string, children: ChildProcess[], node: string = process.execPath): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(node, ["--import", "tsx", path.join(HERE, "bare-pg-server.ts"), String(port), databaseUrl], { cwd: GATEWAY_DIR, stdio: ["ignore", "ignore", "inherit"] });
  children.push(child);
  await waitForHttp(`http://127.0.0.1:${port}/`, child);
  return { child, url: `http://127.0.0.1:${port}/mcp` };
}
