import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createPrismaClient } from "@portcullis/db/client";
import { migrate } from "@portcullis/db/migrate";
import { addConnection, createApiKey, createLink, createTeam, createUser } from "@portcullis/db/operations";
import { generateSecretKey, getKeyring } from "@portcullis/db/secrets";
import { parseTargetUrl } from "@portcullis/db/target";
import { createChinookDatabase, freePort, withClient, type TestDatabase } from "@portcullis/db/testing";
// Not a dependency of the e2e package: the queue names straight from their one definition.
import { QUEUES } from "../../packages/jobs/src/queues.js";
import { Load } from "./load.js";
import { KillablePostgres, KillableRedis, NodeApp, ROOT } from "./processes.js";
import { type AuditRowSeen, formatSummary, summarise } from "./summary.js";

/**
 * Issue 19's chaos test: a steady load of unique calls over two gateways while, in turn, Redis, the
 * worker, one gateway and the metadata PostgreSQL are killed with SIGKILL and restarted. Judged by
 * effect at the end: every answered call has exactly one audit row (request id, statement, verdict),
 * clients saw only retryable errors, and the team's audit chain verifies (`portcullis audit verify`).
 * Every part is real and of its own (the target database lives on the shared test cluster, never killed).
 */
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => process.stdout.write(`[chaos ${new Date().toISOString().slice(11, 23)}] ${line}\n`);

let metaPg: KillablePostgres;
let redis: KillableRedis;
let target: TestDatabase;
let work: string;
let gateways: NodeApp[] = [];
let worker: NodeApp;
let teamId = "";
let link = { id: "", key: "" };
const secretKeys = generateSecretKey("k1");
const chainKey = randomBytes(32).toString("hex");
const queuePrefix = `chaos-${randomBytes(4).toString("hex")}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "chaos-"));
  [metaPg, redis, target] = await Promise.all([KillablePostgres.create({ durable: true }), KillableRedis.create(), createChinookDatabase()]);
  await withClient(metaPg.url(), (c) => c.query("CREATE DATABASE portcullis"));
  const metaUrl = metaPg.url("portcullis");
  await migrate(metaUrl);

  // Rows through the shared operations the CLI and dashboard use, not hand-written INSERTs.
  const prisma = createPrismaClient(metaUrl);
  try {
    const user = await createUser(prisma, { email: `chaos-${randomBytes(3).toString("hex")}@example.com` });
    const team = await createTeam(prisma, { name: "chaos", ownerId: user.id });
    const { password, ...rest } = parseTargetUrl(target.url);
    const connection = await addConnection(prisma, { teamId: team.id, name: "chinook", fields: { ...rest, password, sslMode: "disable" }, test: false }, getKeyring(secretKeys));
    const created = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "chaos-read", scope: { access: "read" } as never });
    const { key } = await createApiKey(prisma, { teamId: team.id, linkId: created.id, userId: user.id, name: "chaos" });
    teamId = team.id;
    link = { id: created.id, key };
  } finally {
    await prisma.$disconnect();
  }

  const common = { DATABASE_URL: metaUrl, REDIS_URL: redis.url, PORTCULLIS_SECRET_KEYS: secretKeys, QUEUE_PREFIX: queuePrefix, LOG_LEVEL: "info" };
  const spoolDir = path.join(work, "spool");
  const [portA, portB, workerPort] = await Promise.all([freePort(), freePort(), freePort()]);
  gateways = [portA, portB].map(
    (port, i) =>
      new NodeApp(`gateway-${"ab"[i]}`, "apps/gateway/src/main.ts", port, {
        ...common,
        GATEWAY_PORT: String(port),
        GATEWAY_HOST: "127.0.0.1",
        // Shared: the instance that comes back after a kill replays what the killed one spooled.
        GATEWAY_AUDIT_SPOOL_DIR: spoolDir,
        GATEWAY_INTERNAL_TOKEN: "",
        // One key carries the whole load (~50 calls/s, 3,000 a minute): above the default per-key limit.
        GATEWAY_RATE_LIMIT_PER_MINUTE: "100000",
        TARGET_NETWORKS: "any",
        TARGET_ALLOW_POWERFUL_ROLES: "true",
      }, path.join(work, `gateway-${"ab"[i]}.log`)),
  );
  worker = new NodeApp("worker", "apps/worker/src/main.ts", workerPort, {
    ...common,
    WORKER_METRICS_PORT: String(workerPort),
    AUDIT_CHAIN_KEY: chainKey,
    // A killed worker's jobs come back after the lock expires: 5 s instead of 30 keeps the test short.
    AUDIT_LOCK_DURATION_MS: "5000",
    AUDIT_STALLED_INTERVAL_MS: "2000",
  }, path.join(work, "worker.log"));
  await Promise.all([...gateways.map((g) => g.start()), worker.start()]);
  log(`parts up: metadata PostgreSQL :${metaPg.port}, Redis :${redis.port} (${redis.args.join(" ")}), gateways :${portA} :${portB}, worker :${workerPort}; logs in ${work}`);
}, 240_000);

afterAll(async () => {
  await Promise.all([...gateways.map((g) => g.stop()), worker?.stop()]);
  await Promise.all([metaPg?.destroy(), redis?.destroy(), target?.drop().catch(() => {})]);
  if (process.env.CHAOS_KEEP_LOGS !== "1") await rm(work, { recursive: true, force: true });
}, 60_000);

async function auditRows(runId: string): Promise<AuditRowSeen[]> {
  const { rows } = await withClient(metaPg.url("portcullis"), (c) =>
    c.query<AuditRowSeen>("SELECT request_id, sql, verdict::text AS verdict, kind, error FROM audit_events WHERE team_id = $1 AND request_id LIKE $2", [teamId, `chaos-${runId}-%`]),
  );
  return rows;
}

async function phase(what: string, seconds: number): Promise<void> {
  log(`${what}: ${seconds} s of load`);
  await sleep(seconds * 1000);
}

/** The kills, in turn, with a few seconds of load after each restart; `mark` names each phase. */
async function chaos(mark: (phase: string) => void): Promise<void> {
  await phase("steady", 4);

  log("SIGKILL redis");
  mark("redis down");
  await redis.kill();
  await sleep(3000);
  await redis.start();
  mark("redis back");
  await phase("redis restarted", 4);

  log("SIGKILL worker");
  mark("worker down");
  await worker.kill();
  await sleep(2000);
  await worker.restart();
  mark("worker back");
  await phase("worker restarted", 4);

  log("SIGKILL gateway-a");
  mark("gateway-a down");
  await gateways[0]!.kill();
  await sleep(2000);
  await gateways[0]!.restart();
  mark("gateway-a back");
  await phase("gateway-a restarted", 4);

  mark("postgres down");
  const pid = await metaPg.kill();
  log(`SIGKILL metadata PostgreSQL postmaster (pid ${pid})`);
  await sleep(2000);
  await metaPg.start();
  mark("postgres back");
  await phase("PostgreSQL restarted (crash recovery)", 6);
}

test("every answered call keeps exactly one audit row while Redis, the worker, a gateway and PostgreSQL are killed in turn", async () => {
  const started = Date.now();
  const load = new Load({ gateways: gateways.map((g) => g.url), linkId: link.id, key: link.key, clients: 5, periodMs: 80 });
  load.start();
  try {
    await chaos((phase) => (load.phase = phase));
  } finally {
    await load.stop();
  }
  const loadSeconds = (Date.now() - started) / 1000;
  log(`load stopped after ${loadSeconds.toFixed(1)} s: ${load.attempts.length} attempts`);

  // Ingestion settles: every answered call's row present, and no new row for a few seconds.
  const answered = load.attempts.filter((a) => a.outcome === "answered");
  const answeredIds = new Set(answered.map((a) => a.requestId));
  const settleStarted = Date.now();
  let rows = await auditRows(load.run);
  let lastCount = -1;
  let stableSince = Date.now();
  while (Date.now() - settleStarted < 90_000) {
    rows = await auditRows(load.run);
    if (rows.length !== lastCount) {
      lastCount = rows.length;
      stableSince = Date.now();
    }
    const present = new Set(rows.map((r) => r.request_id));
    const missing = [...answeredIds].filter((id) => !present.has(id)).length;
    if (missing === 0 && Date.now() - stableSince > 3000) break;
    await sleep(500);
  }
  const settleSeconds = (Date.now() - settleStarted) / 1000;

  const summary = summarise(load.attempts, rows, load.gaveUp);
  // The worker rode out the outages: no audit job failed for good, no event was dead-lettered.
  const redisCount = async (...args: string[]) => Number((await run("redis-cli", ["-p", String(redis.port), ...args])).stdout.trim());
  const ingestion = {
    failedJobs: await redisCount("ZCARD", `${queuePrefix}:${QUEUES.audit}:failed`),
    deadLettered: await redisCount("LLEN", `${queuePrefix}:${QUEUES.auditDeadLetter}:wait`),
  };
  const verify = await run(process.execPath, ["--import", "tsx", "apps/cli/src/main.ts", "audit", "verify", "--team", teamId, "--json"], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: metaPg.url("portcullis"), REDIS_URL: redis.url, AUDIT_CHAIN_KEY: chainKey, PORTCULLIS_SECRET_KEYS: secretKeys },
  }).then(
    (r) => ({ code: 0, out: r.stdout }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` }),
  );
  const verification = (() => {
    try {
      return JSON.parse(verify.out) as { ok: boolean; checked: number; keyChecked?: boolean; checkpoint?: { status: string }; firstBroken?: unknown };
    } catch {
      return { ok: false, checked: 0, raw: verify.out.slice(0, 500) };
    }
  })();

  log(`\n${formatSummary(summary, { loadSeconds, settleSeconds, verification, ingestion })}`);
  const crashes = [...gateways, worker].flatMap((app) => app.crashes);
  if (crashes.length) log(`apps that died without being killed:\n${crashes.join("\n")}`);
  if (summary.problems.length || crashes.length) {
    log(`first problems:\n${summary.problems.slice(0, 25).join("\n")}`);
    for (const g of [...gateways, worker]) log(`${g.name} log tail:\n${(await readFile(g.logFile, "utf8").catch(() => "")).split("\n").slice(-15).join("\n")}`);
  }

  expect(crashes, "apps that died without being killed").toEqual([]);
  expect(load.attempts.length, "the load ran").toBeGreaterThan(1000);
  expect(summary.perVerdict.blocked, "refusals were part of the load").toBeGreaterThan(50);
  expect(summary.perVerdict.error, "database errors were part of the load").toBeGreaterThan(50);
  expect(summary.nonRetryable, "clients saw only errors they can retry").toEqual({});
  expect(load.gaveUp, "no call ran out of retries").toBe(0);
  expect(summary.answeredWithoutRow, "answered calls without an audit row").toEqual([]);
  expect(summary.wrongRow, "audit rows whose statement or verdict is not the call's").toEqual([]);
  expect(summary.duplicated, "request ids with more than one row").toEqual([]);
  expect(summary.unknownRows, "rows for request ids no client sent").toEqual([]);
  expect(summary.echoMismatch, "responses whose X-Request-Id is not the call's").toBe(0);
  expect(ingestion, "audit jobs failed for good / events dead-lettered").toEqual({ failedJobs: 0, deadLettered: 0 });
  expect(verification, `audit verify: ${verify.out.slice(0, 500)}`).toMatchObject({ ok: true, keyChecked: true });
}, 300_000);
