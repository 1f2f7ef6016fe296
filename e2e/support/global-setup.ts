import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createChinookDatabase, createMetadataDatabase, freePort } from "@portcullis/db/testing";
import pg from "pg";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// One directory per run: concurrent runs (two engineers, one tree) never read each other's pids or logs.
const RUN_ID = `${new Date().toISOString().replace(/[-:.TZ]/g, "").slice(0, 14)}-${process.pid}`;
const STATE_DIR = path.join(ROOT, "e2e", ".state", RUN_ID);
const STATE_FILE = path.join(STATE_DIR, "stack.json");


async function waitFor(url: string, name: string, child: ChildProcess, timeoutMs = 120_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode}; see ${path.join(STATE_DIR, `${name}.log`)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status < 500) return;
    } catch {
      // not up yet
    }
    if (Date.now() - started > timeoutMs) throw new Error(`${name} did not answer at ${url} within ${timeoutMs / 1000} s; see ${path.join(STATE_DIR, `${name}.log`)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

function start(name: string, command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): ChildProcess {
  const log = createWriteStream(path.join(STATE_DIR, `${name}.log`));
  const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

/**
 * Starts the whole stack once for the run. Processes are started detached (their own process group)
 * so teardown can stop each group by its pid, and nothing else.
 */
export default async function globalSetup(): Promise<void> {
  mkdirSync(STATE_DIR, { recursive: true });
  if (!process.env.TEST_PG_URL || !process.env.TEST_REDIS_URL) {
    const out = execFileSync("bash", ["-c", 'source scripts/test-services.sh >&2; printf "%s\\n%s\\n" "$TEST_PG_URL" "$TEST_REDIS_URL"'], {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    const [pgUrl, redisUrl] = out.trim().split("\n");
    process.env.TEST_PG_URL = pgUrl;
    process.env.TEST_REDIS_URL = redisUrl;
  }
  const [meta, chinook] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
  const chinookUrl = await chinookAsOrdinaryRole(chinook.url);

  // The SSH bastion of e2e/connections.spec.ts gets its loopback port now, so the target policy below
  // can allow exactly that address (the stack refuses loopback targets otherwise, and test traffic
  // stays on loopback: never this machine's private-range addresses).
  const [webPort, gatewayPort, workerPort, internalPort, sshBastionPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const webUrl = `http://localhost:${webPort}`;
  const gatewayUrl = `http://localhost:${gatewayPort}`;
  // A private Redis key space per run: BullMQ queues and rate limits of other runs never mix in.
  const queuePrefix = `e2e${randomBytes(3).toString("hex")}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    DATABASE_URL: meta.url,
    REDIS_URL: process.env.TEST_REDIS_URL,
    PORTCULLIS_SECRET_KEYS: `e2e:${randomBytes(32).toString("base64")}`,
    NEXTAUTH_SECRET: randomBytes(24).toString("hex"),
    NEXTAUTH_URL: webUrl,
    WEB_PUBLIC_URL: webUrl,
    WEB_PORT: String(webPort),
    GATEWAY_PUBLIC_URL: gatewayUrl,
    // The gateway's internal (Playground) endpoint has its own loopback port, apart from the public one.
    GATEWAY_INTERNAL_URL: `http://127.0.0.1:${internalPort}`,
    GATEWAY_INTERNAL_PORT: String(internalPort),
    GATEWAY_INTERNAL_HOST: "127.0.0.1",
    GATEWAY_INTERNAL_TOKEN: randomBytes(24).toString("hex"),
    GATEWAY_PORT: String(gatewayPort),
    GATEWAY_HOST: "127.0.0.1",
    GATEWAY_AUDIT_SPOOL_DIR: path.join(STATE_DIR, "spool"),
    WORKER_METRICS_PORT: String(workerPort),
    WORKER_METRICS_HOST: "127.0.0.1",
    QUEUE_PREFIX: queuePrefix,
    AI_PROVIDER: "none",
    LOG_LEVEL: "warn",
    NEXT_TELEMETRY_DISABLED: "1",
    // Sign-in is rate limited per IP; the suite signs in many times from 127.0.0.1.
    AUTH_RATE_LIMIT: "500",
    SIGNUP_RATE_LIMIT: "500",
    // Rate-limit counters of this run only (the test Redis is shared by every suite).
    REDIS_KEY_PREFIX: queuePrefix,
    // The specs' target databases live on the test cluster, which also holds this run's metadata
    // database: that one server is allowed as a target, and any of its databases but the metadata one
    // (which the target policy refuses whatever this says); and the specs' SSH bastion, the first hop
    // the dashboard dials (the database behind it is dialled by the bastion).
    TARGET_ALLOW_ADDRESSES: `127.0.0.1:${new URL(process.env.TEST_PG_URL!).port || "5432"},127.0.0.1:${sshBastionPort}`,
    TARGET_STACK_DATABASES: "*",
  };

  const webDir = path.join(ROOT, "apps", "web");
  const nextBin = path.join(webDir, "node_modules", "next", "dist", "bin", "next");
  // One run at a time owns .next-e2e (reusable with E2E_SKIP_BUILD=1); a concurrent run builds into
  // a private directory instead of rebuilding under the other run's server.
  let distDir = ".next-e2e";
  let ownsLock = false;
  const lockDir = path.join(webDir, ".next-e2e.lock");
  const holder = (() => {
    try {
      return Number(readFileSync(path.join(lockDir, "pid"), "utf8"));
    } catch {
      return 0;
    }
  })();
  const holderAlive = (() => {
    try {
      return holder > 0 && (process.kill(holder, 0), true);
    } catch {
      return false;
    }
  })();
  // A lock left by a run that died (no live holder) is taken over.
  if (!existsSync(lockDir) || !holderAlive) {
    mkdirSync(lockDir, { recursive: true });
    writeFileSync(path.join(lockDir, "pid"), String(process.pid));
    ownsLock = true;
  } else {
    distDir = `.next-e2e-${randomBytes(4).toString("hex")}`;
  }
  env.PORTCULLIS_NEXT_DIST_DIR = distDir;
  if (process.env.E2E_SKIP_BUILD !== "1" || !ownsLock || !existsSync(path.join(webDir, distDir, "BUILD_ID"))) {
    execFileSync(process.execPath, [nextBin, "build", "--webpack"], { cwd: webDir, env, stdio: "inherit" });
  }
  const tsx = path.join(ROOT, "node_modules", ".bin", "tsx");
  const children = {
    // As scripts/up.sh runs it: the launcher hands the app the socket's peer address (next start
    // passes on only X-Forwarded-For, which any client writes).
    web: start("web", process.execPath, [path.join(ROOT, "scripts", "web-server.mjs")], webDir, { ...env, WEB_HOST: "127.0.0.1" }),
    gateway: start("gateway", tsx, ["apps/gateway/src/main.ts"], ROOT, env),
    worker: start("worker", tsx, ["apps/worker/src/main.ts"], ROOT, env),
  };
  const state = {
    webDir,
    distDir,
    ownsLock,
    pids: Object.fromEntries(Object.entries(children).map(([k, c]) => [k, c.pid])),
    databases: [meta.name, chinook.name],
    webUrl,
    gatewayUrl,
  };
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
  process.env.E2E_STATE_FILE = STATE_FILE;
  try {
    await Promise.all([
      waitFor(`${webUrl}/api/health`, "web", children.web),
      waitFor(`${gatewayUrl}/healthz`, "gateway", children.gateway),
      waitFor(`http://127.0.0.1:${workerPort}/healthz`, "worker", children.worker),
    ]);
  } catch (error) {
    // A stack that did not come up must not outlive the run (teardown does not run after a failed setup).
    for (const child of Object.values(children)) {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    throw error;
  }

  // What the specs read (Playwright hands globalSetup's process.env to its workers).
  Object.assign(process.env, {
    E2E_WEB_URL: webUrl,
    E2E_GATEWAY_URL: gatewayUrl,
    E2E_CHINOOK_URL: chinookUrl,
    // startSshd({ port }) in the spec: the one loopback port TARGET_ALLOW_ADDRESSES lets through.
    E2E_SSH_BASTION_PORT: String(sshBastionPort),
    // Specs that save connections themselves (through @portcullis/db) apply the same target policy.
    TARGET_ALLOW_ADDRESSES: env.TARGET_ALLOW_ADDRESSES,
    TARGET_STACK_DATABASES: env.TARGET_STACK_DATABASES,
    DATABASE_URL: meta.url,
    REDIS_URL: env.REDIS_URL,
    PORTCULLIS_SECRET_KEYS: env.PORTCULLIS_SECRET_KEYS,
    QUEUE_PREFIX: queuePrefix,
    E2E_STATE_FILE: STATE_FILE,
    E2E_WEB_LOG: path.join(STATE_DIR, "web.log"),
  });
}

/**
 * The specs add Chinook as a user would: through a least-privilege role. The test cluster's own user
 * is a superuser, which the target policy refuses (as it should); one role for every run, since roles
 * belong to the cluster and would outlive the databases.
 */
async function chinookAsOrdinaryRole(superuserUrl: string): Promise<string> {
  const role = "e2e_chinook";
  const password = "e2e chinook role (test cluster only)";
  const client = new pg.Client({ connectionString: superuserUrl });
  await client.connect();
  try {
    await client.query(`DO $$ BEGIN CREATE ROLE ${role} LOGIN PASSWORD '${password}'; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    await client.query(`GRANT ALL ON SCHEMA public TO ${role}`);
    await client.query(`GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role}`);
    await client.query(`GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
  } finally {
    await client.end();
  }
  const url = new URL(superuserUrl);
  url.username = role;
  url.password = password;
  return url.toString();
}
