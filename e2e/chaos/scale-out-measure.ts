/**
 * Calls/s of one gateway with GATEWAY_PROCESSES=1 and =2 on this machine: 16 raw JSON-RPC clients
 * (keep-alive, node:http), 5 s per round, the SQL text different on every call (no verdict-cache hits).
 * A measurement, not a test: `source scripts/test-services.sh; node --import tsx e2e/chaos/scale-out-measure.ts`.
 * ROUNDS (default 3) rounds per setting, alternating; prints each round and the medians.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { createPrismaClient } from "@portcullis/db/client";
import { addConnection, createApiKey, createLink, createTeam, createUser } from "@portcullis/db/operations";
import { generateSecretKey, getKeyring } from "@portcullis/db/secrets";
import { parseTargetUrl } from "@portcullis/db/target";
import {
  createChinookDatabase,
  createMetadataDatabase,
  freePort,
  testRedisUrl,
} from "@portcullis/db/testing";
import { NodeApp } from "./processes.js";
import { childPids, dropQueueKeys, sleep, until } from "./scale-out-support.js";

const CLIENTS = 16;
const SECONDS = 5;
const ROUNDS = Number(process.env.ROUNDS ?? 3);
/** Queue prefixes used (one per round), removed from the shared test Redis at the end. */
const prefixes: string[] = [];

const work = await mkdtemp(path.join(tmpdir(), "scale-measure-"));
const [meta, target] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
const secretKeys = generateSecretKey("k1");
const prisma = createPrismaClient(meta.url);
const user = await createUser(prisma, { email: `measure-${randomBytes(3).toString("hex")}@example.com` });
const team = await createTeam(prisma, { name: "measure", ownerId: user.id });
const { password, ...rest } = parseTargetUrl(target.url);
const connection = await addConnection(
  prisma,
  { teamId: team.id, name: "chinook", fields: { ...rest, password, sslMode: "disable" }, test: false },
  getKeyring(secretKeys),
);
const link = await createLink(prisma, {
  teamId: team.id,
  connectionId: connection.id,
  name: "measure",
  scope: { access: "read" } as never,
});
const { key } = await createApiKey(prisma, {
  teamId: team.id,
  linkId: link.id,
  userId: user.id,
  name: "measure",
});
await prisma.$disconnect();

/** CPU seconds (user + system) of a process and its live children, from /proc. */
async function cpuSeconds(pid: number): Promise<{ total: number; own: number }> {
  const { readFile } = await import("node:fs/promises");
  const one = async (p: number) => {
    const stat = await readFile(`/proc/${p}/stat`, "utf8").catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100 || 0;
  };
  const own = await one(pid);
  let total = own;
  for (const child of await childPids(pid)) total += await one(child);
  return { total, own };
}

async function round(
  processes: number,
): Promise<{
  callsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  cpuMsPerCall: number;
  primaryMsPerCall: number;
  clientMsPerCall: number;
}> {
  const port = await freePort();
  const app = new NodeApp(
    `gateway-${processes}`,
    "apps/gateway/src/main.ts",
    port,
    {
      DATABASE_URL: meta.url,
      REDIS_URL: testRedisUrl(),
      PORTCULLIS_SECRET_KEYS: secretKeys,
      QUEUE_PREFIX: prefixes[prefixes.push(`measure-${randomBytes(3).toString("hex")}`) - 1]!,
      LOG_LEVEL: "warn",
      GATEWAY_PROCESSES: String(processes),
      GATEWAY_PORT: String(port),
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_AUDIT_SPOOL_DIR: path.join(work, `spool-${port}`),
      GATEWAY_INTERNAL_TOKEN: "",
      GATEWAY_RATE_LIMIT_PER_MINUTE: "10000000",
      TARGET_NETWORKS: "any",
      TARGET_ALLOW_POWERFUL_ROLES: "true",
    },
    path.join(work, `gateway-${port}.log`),
  );
  await app.start();
  if (processes > 1)
    await until("all processes up", async () => (await childPids(app.pid!)).length === processes, 30_000);
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  let n = 0;
  const call = () =>
    new Promise<number>((resolve) => {
      const i = n++;
      const body = JSON.stringify({
        jsonrpc: "2.0",
        id: i,
        method: "tools/call",
        params: {
          name: "execute_sql",
          arguments: { sql: `SELECT ${i} AS call, name FROM genre WHERE genre_id = ${1 + (i % 25)}` },
        },
      });
      const started = performance.now();
      const req = request(
        `${app.url}/mcp/${link.id}`,
        {
          method: "POST",
          agent,
          headers: {
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            "mcp-protocol-version": "2025-11-25",
            authorization: `Bearer ${key}`,
            "content-length": Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode === 200 ? performance.now() - started : -1));
        },
      );
      req.on("error", () => resolve(-1));
      req.end(body);
    });
  // Warm-up: pools, catalog, JIT.
  const warmEnd = Date.now() + 1_500;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (Date.now() < warmEnd) await call();
    }),
  );
  const latencies: number[] = [];
  let errors = 0;
  const cpuBefore = await cpuSeconds(app.pid!);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let k = 0; k < 1_000_000 && Date.now() < end; k++) {
        const ms = await call();
        if (ms < 0) errors++;
        else latencies.push(ms);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpuAfter = await cpuSeconds(app.pid!);
  const client = process.cpuUsage(clientBefore);
  const cpu = cpuAfter.total - cpuBefore.total;
  const calls = Math.max(1, latencies.length);
  agent.destroy();
  await app.stop();
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return {
    callsPerSecond: latencies.length / elapsed,
    p50: at(0.5),
    p99: at(0.99),
    errors,
    cpuMsPerCall: (cpu * 1000) / calls,
    // With GATEWAY_PROCESSES=1 the "primary" is the gateway itself.
    primaryMsPerCall: ((cpuAfter.own - cpuBefore.own) * 1000) / calls,
    clientMsPerCall: (client.user + client.system) / 1000 / calls,
  };
}

const results: Record<number, Awaited<ReturnType<typeof round>>[]> = { 1: [], 2: [] };
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const processes of [1, 2]) {
      const result = await round(processes);
      results[processes]!.push(result);
      console.log(
        `round ${r + 1} GATEWAY_PROCESSES=${processes}: ${result.callsPerSecond.toFixed(0)} calls/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ` +
          `gateway CPU ${result.cpuMsPerCall.toFixed(3)} ms/call (primary process ${result.primaryMsPerCall.toFixed(3)}), client CPU ${result.clientMsPerCall.toFixed(3)} ms/call, errors ${result.errors}, load ${loadavg()
            .map((l) => l.toFixed(2))
            .join(" ")}`,
      );
      await sleep(500);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const processes of [1, 2]) {
    const rs = results[processes]!;
    console.log(
      `median GATEWAY_PROCESSES=${processes}: ${median(rs.map((r) => r.callsPerSecond)).toFixed(0)} calls/s, p50 ${median(rs.map((r) => r.p50)).toFixed(2)} ms, ` +
        `p99 ${median(rs.map((r) => r.p99)).toFixed(2)} ms, gateway CPU ${median(rs.map((r) => r.cpuMsPerCall)).toFixed(3)} ms/call`,
    );
  }
} finally {
  // No worker consumes these rounds' audit jobs: their queues are dropped with the rest.
  for (const prefix of prefixes) await dropQueueKeys(testRedisUrl(), prefix);
  await Promise.all([meta.drop(), target.drop().catch(() => {})]);
  await rm(work, { recursive: true, force: true });
}
