import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import {
  addConnection,
  createApiKey,
  createLink,
  createTeam,
  createUser,
  revokeApiKey,
} from "@portcullis/db/operations";
import { generateSecretKey, getKeyring } from "@portcullis/db/secrets";
import { parseTargetUrl } from "@portcullis/db/target";
import {
  createChinookDatabase,
  createMetadataDatabase,
  freePort,
  testRedisUrl,
  withClient,
  type TestDatabase,
} from "@portcullis/db/testing";
import { createRedis, REVOCATION_CHANNEL } from "../../packages/jobs/src/index.js";
import { LoadBalancer } from "./haproxy.js";
import { Load } from "./load.js";
import { NodeApp } from "./processes.js";
import { type AuditRowSeen, summarise } from "./summary.js";
import { callOnce, dropQueueKeys, metricSum, post, sleep, until } from "./scale-out-support.js";

/**
 * Issue 16 point 2: two gateway processes and two workers behind a real HAProxy (round robin), every
 * part its own process. Judged by effect: answers, HTTP statuses, metrics each instance reports for
 * itself, and the audit rows the workers wrote.
 */
const log = (line: string) =>
  process.stdout.write(`[scale-out ${new Date().toISOString().slice(11, 23)}] ${line}\n`);
const RATE_LIMIT = 100;

let work: string;
let meta: TestDatabase;
let target: TestDatabase;
let prisma: PrismaClient;
let lb: LoadBalancer;
let gateways: NodeApp[] = [];
let workers: NodeApp[] = [];
let spoolDir: string;
let ids = { teamId: "", userId: "", linkId: "" };
const secretKeys = generateSecretKey("k1");
const queuePrefix = `scale-${randomBytes(4).toString("hex")}`;
const publisher = createRedis(testRedisUrl(), "producer");

async function newKey(name: string): Promise<{ key: string; apiKeyId: string }> {
  const { key, record } = await createApiKey(prisma, {
    teamId: ids.teamId,
    linkId: ids.linkId,
    userId: ids.userId,
    name,
  });
  return { key, apiKeyId: record.id };
}

async function auditRows(where: string, args: unknown[]): Promise<AuditRowSeen[]> {
  const { rows } = await withClient(meta.url, (c) =>
    c.query<AuditRowSeen>(
      `SELECT request_id, sql, verdict::text AS verdict, kind, error FROM audit_events WHERE team_id = $1 AND ${where}`,
      [ids.teamId, ...args],
    ),
  );
  return rows;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "scale-out-"));
  spoolDir = path.join(work, "spool");
  [meta, target] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
  prisma = createPrismaClient(meta.url);
  const user = await createUser(prisma, { email: `scale-${randomBytes(3).toString("hex")}@example.com` });
  const team = await createTeam(prisma, { name: "scale-out", ownerId: user.id });
  const { password, ...rest } = parseTargetUrl(target.url);
  const connection = await addConnection(
    prisma,
    { teamId: team.id, name: "chinook", fields: { ...rest, password, sslMode: "disable" }, test: false },
    getKeyring(secretKeys),
  );
  const link = await createLink(prisma, {
    teamId: team.id,
    connectionId: connection.id,
    name: "scale-read",
    scope: { access: "read" } as never,
  });
  ids = { teamId: team.id, userId: user.id, linkId: link.id };

  const common = {
    DATABASE_URL: meta.url,
    REDIS_URL: testRedisUrl(),
    PORTCULLIS_SECRET_KEYS: secretKeys,
    QUEUE_PREFIX: queuePrefix,
    LOG_LEVEL: "info",
  };
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  gateways = ["a", "b"].map(
    (name, i) =>
      new NodeApp(
        `gateway-${name}`,
        "apps/gateway/src/main.ts",
        ports[i]!,
        {
          ...common,
          GATEWAY_PORT: String(ports[i]),
          GATEWAY_HOST: "127.0.0.1",
          // One spool directory for both, as on one host: each instance journals into its own
          // subdirectory, and a survivor adopts a dead one's.
          GATEWAY_AUDIT_SPOOL_DIR: spoolDir,
          GATEWAY_INTERNAL_TOKEN: "",
          GATEWAY_RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT),
          // Cached keys for ten minutes: only the broadcast can explain a revocation within a second.
          GATEWAY_AUTH_CACHE_TTL_MS: "600000",
          TARGET_NETWORKS: "any",
          TARGET_ALLOW_POWERFUL_ROLES: "true",
        },
        path.join(work, `gateway-${name}.log`),
      ),
  );
  // One chain key for both workers: they extend the same chain.
  const chainKey = randomBytes(32).toString("hex");
  workers = ["1", "2"].map(
    (name, i) =>
      new NodeApp(
        `worker-${name}`,
        "apps/worker/src/main.ts",
        ports[2 + i]!,
        {
          ...common,
          WORKER_METRICS_PORT: String(ports[2 + i]),
          AUDIT_CHAIN_KEY: chainKey,
        },
        path.join(work, `worker-${name}.log`),
      ),
  );
  await Promise.all([...gateways, ...workers].map((app) => app.start()));
  lb = await LoadBalancer.start(
    work,
    gateways.map((g) => ({ name: g.name, port: g.port })),
  );
  // Both servers through their health checks (rise 2 × 250 ms) before anything is judged.
  await sleep(1500);
  log(
    `up: gateways :${gateways.map((g) => g.port).join(" :")}, workers :${workers.map((w) => w.port).join(" :")}, haproxy ${lb.url}; logs in ${work}`,
  );
}, 240_000);

afterAll(async () => {
  await lb?.stop();
  await Promise.all([...gateways, ...workers].map((app) => app.stop()));
  await publisher.quit();
  await dropQueueKeys(testRedisUrl(), queuePrefix);
  await prisma?.$disconnect();
  await Promise.all([meta?.drop(), target?.drop().catch(() => {})]);
  if (process.env.CHAOS_KEEP_LOGS !== "1") await rm(work, { recursive: true, force: true });
}, 60_000);

const mcp = () => `${lb.url}/mcp/${ids.linkId}`;
const direct = (g: NodeApp) => `${g.url}/mcp/${ids.linkId}`;
const toolCalls = async (g: NodeApp) =>
  metricSum(await (await fetch(`${g.url}/metrics`)).text(), "portcullis_gateway_tool_calls_total");

test("any instance serves any request through the balancer, in both protocol eras; a 2025 session moves between instances", async () => {
  const { key } = await newKey("eras");
  const before = await Promise.all(gateways.map(toolCalls));
  const CALLS = 20;
  for (let i = 0; i < CALLS; i++) {
    const modern = i % 2 === 0;
    const r = await callOnce(mcp(), key, `SELECT ${i} AS n, name FROM genre WHERE genre_id = ${1 + i}`, {
      modern,
      requestId: `eras-${i}`,
    });
    expect(r.status, r.text).toBe(200);
    expect(r.json?.result?.isError, r.text).not.toBe(true);
    expect(r.text).toContain(`"n"`);
  }
  const served = (await Promise.all(gateways.map(toolCalls))).map((after, i) => after - before[i]!);
  log(`tool calls served per instance through round robin: ${served.join(", ")}`);
  expect(served.reduce((a, b) => a + b, 0)).toBe(CALLS);
  for (const n of served) expect(n).toBeGreaterThanOrEqual(CALLS / 2 - 2);

  // 2025: initialize on A, call and end the session on B, and A refuses the ended id.
  const init = await post(
    direct(gateways[0]!),
    {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "cross-instance", version: "7.1" },
      },
    },
    { authorization: `Bearer ${key}` },
  );
  expect(init.status).toBe(200);
  const session = init.headers.get("mcp-session-id")!;
  expect(session).toBeTruthy();
  const onB = await callOnce(direct(gateways[1]!), key, "SELECT 'moved' AS across", {
    session,
    requestId: "eras-session",
  });
  expect(onB.status, onB.text).toBe(200);
  expect(onB.text).toContain("moved");
  await until(
    "the session call's audit row",
    async () => (await auditRows("request_id = $2", ["eras-session"])).length === 1,
    20_000,
  );
  const { rows } = await withClient(meta.url, (c) =>
    c.query(
      "SELECT client_name, client_version FROM audit_events WHERE team_id = $1 AND request_id = 'eras-session'",
      [ids.teamId],
    ),
  );
  expect(rows).toEqual([{ client_name: "cross-instance", client_version: "7.1" }]);
  const ended = await fetch(direct(gateways[1]!), {
    method: "DELETE",
    headers: {
      authorization: `Bearer ${key}`,
      "mcp-protocol-version": "2025-11-25",
      "mcp-session-id": session,
    },
  });
  expect(ended.status).toBeLessThan(300);
  await until(
    "instance A refuses the ended session",
    async () => (await callOnce(direct(gateways[0]!), key, "SELECT 1", { session })).status === 404,
    2_000,
  );
});

test("a key revoked through the operation is refused by both instances within one second", async () => {
  const { key, apiKeyId } = await newKey("revoke");
  for (const g of gateways)
    for (let i = 0; i < 2; i++) expect((await callOnce(direct(g), key, `SELECT ${i}`)).status).toBe(200);
  const started = Date.now();
  await revokeApiKey(prisma, { apiKeyId }, (message) =>
    publisher.publish(REVOCATION_CHANNEL, JSON.stringify(message)),
  );
  const refusedAfter = await Promise.all(
    gateways.map(async (g) => {
      for (let n = 0; n < 500; n++) {
        if ((await callOnce(direct(g), key, "SELECT 1")).status === 401) return Date.now() - started;
        if (Date.now() - started > 3_000) break;
        await sleep(10);
      }
      return Infinity;
    }),
  );
  log(`revocation effective after ${refusedAfter.join(" ms, ")} ms (A, B)`);
  for (const ms of refusedAfter) expect(ms).toBeLessThan(1000);
  // And through the balancer, whichever instance takes it.
  for (let i = 0; i < 4; i++) expect((await callOnce(mcp(), key, "SELECT 1")).status).toBe(401);
});

test("a per-key rate limit is counted across instances: half the limit on each, then the next call is refused on both", async () => {
  // The limit's window is a fixed minute: start well inside one.
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 40_000) await sleep(60_000 - intoMinute + 200);
  const { key } = await newKey("rate");
  for (let i = 0; i < RATE_LIMIT; i++) {
    const r = await callOnce(direct(gateways[i % 2]!), key, `SELECT ${i} AS n`);
    expect(r.status, `call ${i + 1}: ${r.text}`).toBe(200);
  }
  // Each instance has served only half the limit itself, so a refusal can only come from the shared
  // count. An instance learns the others' counts when it flushes its own (every 100 ms, see
  // auth/rate-limit.ts): the one that flushed last refuses the (limit+1)th call at once, the other may
  // admit one call before its flush brings the total. Alternating, 300 ms apart, bounded to 6 calls.
  await sleep(400);
  const extras: { instance: string; status: number }[] = [];
  const refusedBy = new Set<string>();
  for (let n = 0; n < 6 && refusedBy.size < 2; n++) {
    const g = gateways[n % 2]!;
    const r = await callOnce(direct(g), key, `SELECT 'extra ${n}'`);
    extras.push({ instance: g.name, status: r.status });
    if (r.status === 429) {
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
      refusedBy.add(g.name);
    } else expect(r.status, r.text).toBe(200);
    await sleep(300);
  }
  log(
    `calls after the limit (${RATE_LIMIT}, ${RATE_LIMIT / 2} served by each): ${extras.map((e) => `${e.instance} ${e.status}`).join(", ")}`,
  );
  expect(refusedBy.size, "both instances refuse").toBe(2);
  expect(
    extras[0]!.status === 429 || extras[1]!.status === 429,
    "the (limit+1)th or (limit+2)th call is refused",
  ).toBe(true);
  expect(
    extras.filter((e) => e.status === 200).length,
    "calls admitted over the limit across both instances",
  ).toBeLessThanOrEqual(1);
});

test("audit exactly once: M calls through the balancer give M rows, none twice, written by both workers", async () => {
  const ingested = async () =>
    Promise.all(
      workers.map(async (w) =>
        metricSum(await (await fetch(`${w.url}/metrics`)).text(), "portcullis_audit_events_ingested_total"),
      ),
    );
  const before = await ingested();
  const M = 300;
  const run = randomBytes(3).toString("hex");
  const keys = await Promise.all(Array.from({ length: 6 }, (_, i) => newKey(`once-${i}`)));
  // Six concurrent clients, each under the per-key limit.
  await Promise.all(
    keys.map(async ({ key }, c) => {
      for (let i = c; i < M; i += keys.length) {
        const r = await callOnce(
          mcp(),
          key,
          `SELECT '${run}-${i}' AS call, name FROM genre WHERE genre_id = ${1 + (i % 25)}`,
          { requestId: `once-${run}-${i}`, modern: i % 3 === 0 },
        );
        expect(r.status, r.text).toBe(200);
      }
    }),
  );
  let rows: AuditRowSeen[] = [];
  await until(
    `${M} audit rows`,
    async () => (rows = await auditRows("request_id LIKE $2", [`once-${run}-%`])).length >= M,
    30_000,
  );
  await sleep(1500);
  rows = await auditRows("request_id LIKE $2", [`once-${run}-%`]);
  expect(rows.length).toBe(M);
  expect(new Set(rows.map((r) => r.request_id)).size).toBe(M);
  for (const row of rows) expect(row.sql).toContain(row.request_id.slice("once-".length));
  const perWorker = (await ingested()).map((after, i) => after - before[i]!);
  log(`audit events ingested per worker: ${perWorker.join(", ")}`);
  for (const n of perWorker) expect(n).toBeGreaterThan(0);
});

test("one gateway killed mid-load: clients see only retryable errors, and every answered call has exactly one audit row", async () => {
  const keys = await Promise.all(Array.from({ length: 8 }, (_, i) => newKey(`kill-${i}`)));
  // One client per key (each well under the per-key limit), all through the balancer.
  const loads = keys.map(
    ({ key }) => new Load({ gateways: [lb.url], linkId: ids.linkId, key, clients: 1, periodMs: 200 }),
  );
  for (const l of loads) l.start();
  await sleep(3_000);
  const killed = gateways[0]!;
  const killedPid = killed.pid!;
  for (const l of loads) l.phase = "gateway-a killed";
  log(`SIGKILL ${killed.name} (pid ${killedPid}) mid-load`);
  await killed.kill();
  await sleep(4_000);
  await Promise.all(loads.map((l) => l.stop()));
  const attempts = loads.flatMap((l) => l.attempts);
  const gaveUp = loads.reduce((n, l) => n + l.gaveUp, 0);
  const answered = new Set(attempts.filter((a) => a.outcome === "answered").map((a) => a.requestId));

  // The survivor adopts the killed instance's journal (its pid is gone) and re-sends what the workers lack.
  const runs = loads.map((l) => `chaos-${l.run}-%`);
  let rows: AuditRowSeen[] = [];
  const settle = Date.now();
  await until(
    "every answered call's audit row",
    async () => {
      rows = (await Promise.all(runs.map((r) => auditRows("request_id LIKE $2", [r])))).flat();
      const present = new Set(rows.map((r) => r.request_id));
      return [...answered].every((id) => present.has(id));
    },
    45_000,
  ).catch(() => {});
  await sleep(2_000);
  rows = (await Promise.all(runs.map((r) => auditRows("request_id LIKE $2", [r])))).flat();
  const summary = summarise(attempts, rows, gaveUp);
  log(
    `attempts ${summary.attempts}, answered ${summary.answered} (${JSON.stringify(summary.perVerdict)}), rows ${summary.rows}, failed attempts with a row ${summary.failedWithRow}; ` +
      `retryable errors seen ${JSON.stringify(summary.retryable)}; by phase ${JSON.stringify(summary.byPhase)}; settled in ${((Date.now() - settle) / 1000).toFixed(1)} s`,
  );
  const spool = await readdir(spoolDir);
  log(`spool after settling: ${spool.join(", ")}`);

  expect(attempts.length, "the load ran").toBeGreaterThan(150);
  expect(summary.nonRetryable, "clients saw only errors they can retry").toEqual({});
  expect(gaveUp).toBe(0);
  expect(summary.answeredWithoutRow, "answered calls without an audit row").toEqual([]);
  expect(summary.duplicated, "request ids with more than one row").toEqual([]);
  expect(summary.wrongRow).toEqual([]);
  expect(summary.unknownRows).toEqual([]);
  expect(summary.perVerdict.blocked).toBeGreaterThan(0);
  // The killed instance's journal directory was claimed by the survivor, not left behind.
  expect(spool.filter((entry) => entry.startsWith(`${killedPid}-`) || entry.startsWith(".claim-"))).toEqual(
    [],
  );
  expect(workers.flatMap((w) => w.crashes).concat(gateways[1]!.crashes)).toEqual([]);
}, 120_000);
