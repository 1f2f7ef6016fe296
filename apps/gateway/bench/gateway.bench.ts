/**
 * `pnpm bench` (gateway part): the same 10-row read on Chinook through
 *   (a) pg directly, (b) the gateway with auth + policy + audit (into real Redis/BullMQ),
 *   (c) @bytebase/dbhub over HTTP with no auth,
 * each through its client (pg; the official MCP SDK client for b and c). Per target: p50/p99 of
 * sequential calls and throughput with 16 concurrent clients; several runs, medians reported.
 * Needs TEST_PG_URL / TEST_REDIS_URL (scripts/bench.sh starts the test services).
 */
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import pg from "pg";
import { Queue } from "bullmq";
import { createPrismaClient } from "@portcullis/db/client";
import { addConnection, createApiKey, createLink, createTeam, createUser } from "@portcullis/db/operations";
import { generateSecretKey, getKeyring } from "@portcullis/db/secrets";
import { parseTargetUrl } from "@portcullis/db/target";
import { createChinookDatabase, createMetadataDatabase, testRedisUrl } from "@portcullis/db/testing";
import { QUEUES } from "@portcullis/jobs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const GATEWAY_DIR = path.resolve(HERE, "..");
const SQL = "SELECT track_id, name, composer, milliseconds, unit_price FROM track ORDER BY track_id LIMIT 10";
// Many short rounds with the order rotated, rather than one long stretch per target: the machine is
// shared (2 cores), and background load then falls on every target alike.
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SEQUENTIAL_CALLS = Number(process.env.BENCH_SEQUENTIAL ?? 600);
const CONCURRENCY = 16;
const THROUGHPUT_MS = Number(process.env.BENCH_THROUGHPUT_MS ?? 2500);
const WARMUP_CALLS = 150;

interface Target {
  name: string;
  /** One "client" able to run the query; created per concurrent worker. */
  connect(): Promise<{ call(): Promise<void>; close(): Promise<void> }>;
}

interface Measurement {
  p50: number;
  p99: number;
  throughput: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function waitForHttp(url: string, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
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

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function measure(target: Target): Promise<Measurement> {
  // Sequential latency: one client, one call at a time.
  const single = await target.connect();
  for (let i = 0; i < WARMUP_CALLS; i++) await single.call();
  const latencies: number[] = [];
  for (let i = 0; i < SEQUENTIAL_CALLS; i++) {
    const t0 = performance.now();
    await single.call();
    latencies.push(performance.now() - t0);
  }
  await single.close();
  latencies.sort((a, b) => a - b);

  // Throughput: 16 clients calling back to back for a fixed time.
  const clients = await Promise.all(Array.from({ length: CONCURRENCY }, () => target.connect()));
  await Promise.all(clients.map(async (c) => {
    for (let i = 0; i < 20; i++) await c.call();
  }));
  let calls = 0;
  const started = performance.now();
  const deadline = started + THROUGHPUT_MS;
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < deadline) {
        await c.call();
        calls++;
      }
    }),
  );
  const elapsed = performance.now() - started;
  await Promise.all(clients.map((c) => c.close()));
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), throughput: (calls / elapsed) * 1000 };
}

function mcpTarget(name: string, url: string, tool: string, headers: Record<string, string>): Target {
  return {
    name,
    async connect() {
      const client = new Client({ name: "portcullis-bench", version: "1.0.0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
      return {
        async call() {
          const result = await client.callTool({ name: tool, arguments: { sql: SQL } });
          if (result.isError) throw new Error(`${name}: ${JSON.stringify(result.content)}`);
        },
        close: () => client.close(),
      };
    },
  };
}

/**
 * The same call as plain JSON-RPC over a keep-alive HTTP connection (no SDK client): shows how much
 * of each number is the client library rather than the server. Reported separately, never mixed in.
 */
function rawTarget(name: string, url: string, tool: string, headers: Record<string, string>, method = "tools/call"): Target {
  const target = new URL(url);
  return {
    name,
    async connect() {
      // One keep-alive connection per simulated client, like one MCP client each.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      let id = 0;
      const post = (payload: unknown): Promise<string> =>
        new Promise((resolve, reject) => {
          const body = JSON.stringify(payload);
          const req = http.request(
            {
              agent,
              host: target.hostname,
              port: target.port,
              path: target.pathname,
              method: "POST",
              headers: {
                "content-type": "application/json",
                accept: "application/json, text/event-stream",
                "mcp-protocol-version": "2025-11-25",
                "content-length": Buffer.byteLength(body),
                ...headers,
              },
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on("data", (c: Buffer) => chunks.push(c));
              res.on("end", () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`${name}: HTTP ${res.statusCode}`))));
            },
          );
          req.on("error", reject);
          req.end(body);
        });
      return {
        async call() {
          const text = await post(
            method === "tools/call" ? { jsonrpc: "2.0", id: ++id, method, params: { name: tool, arguments: { sql: SQL } } } : { jsonrpc: "2.0", id: ++id, method },
          );
          if (text.includes('"isError":true')) throw new Error(`${name}: ${text.slice(0, 300)}`);
        },
        close: async () => agent.destroy(),
      };
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  const [meta, chinook] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
  const spoolDir = await mkdtemp(path.join(tmpdir(), "gw-bench-spool-"));
  const stubDir = await mkdtemp(path.join(tmpdir(), "gw-bench-stub-"));
  const queuePrefix = `bench-${randomBytes(4).toString("hex")}`;
  const prisma = createPrismaClient(meta.url);
  const secretKeys = generateSecretKey("k1");
  try {
    const user = await createUser(prisma, { email: `bench-${randomBytes(3).toString("hex")}@example.com` });
    const team = await createTeam(prisma, { name: "bench", ownerId: user.id });
    const fields = { ...parseTargetUrl(chinook.url), sslMode: "disable" as const };
    const connection = await addConnection(prisma, { teamId: team.id, name: "chinook", fields, test: false }, getKeyring(secretKeys));
    const link = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "bench", scope: { access: "read", schemas: ["public"] } });
    const { key } = await createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: user.id, name: "bench" });

    // (b) the gateway, as its own process, exactly as `pnpm --filter @portcullis/gateway start` runs it.
    const gatewayPort = await freePort();
    const gateway = spawn(process.execPath, [...(process.env.BENCH_GATEWAY_NODE_ARGS?.split(" ").filter(Boolean) ?? []), "--import", "tsx", path.join(GATEWAY_DIR, "src/main.ts")], {
      cwd: GATEWAY_DIR,
      env: {
        ...process.env,
        DATABASE_URL: meta.url,
        REDIS_URL: testRedisUrl(),
        PORTCULLIS_SECRET_KEYS: secretKeys,
        GATEWAY_PORT: String(gatewayPort),
        GATEWAY_HOST: "127.0.0.1",
        GATEWAY_PUBLIC_URL: `http://localhost:${gatewayPort}`,
        GATEWAY_AUDIT_SPOOL_DIR: spoolDir,
        GATEWAY_RATE_LIMIT_PER_MINUTE: "100000000",
        QUEUE_PREFIX: queuePrefix,
        LOG_LEVEL: "warn",
        NODE_ENV: "production",
      },
      stdio: ["ignore", "inherit", "inherit"],
    });
    children.push(gateway);
    await waitForHttp(`http://127.0.0.1:${gatewayPort}/healthz`, gateway);

    // (c) DBHub over HTTP, no auth. On Node 20, pnpm skips @azure/identity (engine >= 22), which
    // tedious (its SQL Server driver) requires at load: stand-ins on NODE_PATH let DBHub start; the
    // PostgreSQL path does not touch them.
    for (const pkg of ["identity", "core-auth"]) {
      await mkdir(path.join(stubDir, "@azure", pkg), { recursive: true });
      await writeFile(
        path.join(stubDir, "@azure", pkg, "index.js"),
        `class Unavailable { constructor() { throw new Error("Azure authentication is not available"); } }\n` +
          `module.exports = new Proxy({}, { get: (_t, name) => (name === "__esModule" ? false : name === "isTokenCredential" ? () => false : Unavailable) });\n`,
      );
    }
    const dbhubPort = await freePort();
    const dbhubUrl = new URL(chinook.url);
    dbhubUrl.searchParams.set("sslmode", "disable");
    const dbhub = spawn(path.join(GATEWAY_DIR, "node_modules/.bin/dbhub"), ["--transport=http", `--port=${dbhubPort}`, `--dsn=${dbhubUrl.toString()}`], {
      env: { ...process.env, NODE_PATH: stubDir, NODE_ENV: "production" },
      stdio: ["ignore", "ignore", "inherit"],
    });
    children.push(dbhub);
    await waitForHttp(`http://127.0.0.1:${dbhubPort}/healthz`, dbhub);

    const direct: Target = {
      name: "direct pg",
      async connect() {
        const client = new pg.Client({ connectionString: chinook.url });
        await client.connect();
        return {
          async call() {
            await client.query(SQL);
          },
          close: () => client.end(),
        };
      },
    };
    const allTargets: Record<string, Target> = {
      pg: direct,
      gateway: mcpTarget("gateway (auth+policy+audit)", `http://127.0.0.1:${gatewayPort}/mcp/${link.id}`, "execute_sql", { authorization: `Bearer ${key}` }),
      dbhub: mcpTarget("dbhub 1.4 (no auth)", `http://127.0.0.1:${dbhubPort}/mcp`, "execute_sql", {}),
      "gateway-raw": rawTarget("gateway, raw JSON-RPC client", `http://127.0.0.1:${gatewayPort}/mcp/${link.id}`, "execute_sql", { authorization: `Bearer ${key}` }),
      // Diagnostics: HTTP + auth + SDK dispatch without a tool (ping).
      "gateway-ping": rawTarget("gateway, raw ping (no tool)", `http://127.0.0.1:${gatewayPort}/mcp/${link.id}`, "", { authorization: `Bearer ${key}` }, "ping"),
      "dbhub-raw": rawTarget("dbhub, raw JSON-RPC client", `http://127.0.0.1:${dbhubPort}/mcp`, "execute_sql", {}),
    };
    // BENCH_TARGETS picks targets (default: the three the contract compares, then the raw-client pair).
    const targets = (process.env.BENCH_TARGETS ?? "pg,gateway,dbhub,gateway-raw,dbhub-raw").split(",").map((n) => {
      const t = allTargets[n.trim()];
      if (!t) throw new Error(`unknown bench target ${n}`);
      return t;
    });

    const results = new Map<string, Measurement[]>(targets.map((t) => [t.name, []]));
    for (let run = 0; run < RUNS; run++) {
      // Rotate the order so no target always runs on a warmer (or hotter) machine.
      const order = targets.map((_, i) => targets[(i + run) % targets.length]!);
      for (const target of order) {
        const m = await measure(target);
        results.get(target.name)!.push(m);
        console.log(`run ${run + 1} ${target.name.padEnd(28)} p50 ${m.p50.toFixed(3)} ms  p99 ${m.p99.toFixed(3)} ms  ${m.throughput.toFixed(0)} calls/s`);
      }
    }

    if (targets.length < 3 || targets[1] !== allTargets.gateway || targets[2] !== allTargets.dbhub) return;
    const summary = targets.map((t) => {
      const ms = results.get(t.name)!;
      return { name: t.name, p50: median(ms.map((m) => m.p50)), p99: median(ms.map((m) => m.p99)), throughput: median(ms.map((m) => m.throughput)) };
    });
    const [pgRow, gw, hub] = summary.slice(0, 3) as [typeof summary[0], typeof summary[0], typeof summary[0]];
    console.log(`\nMedians of ${RUNS} runs; ${SEQUENTIAL_CALLS} sequential calls, ${CONCURRENCY} concurrent clients for ${THROUGHPUT_MS / 1000} s; query: ${SQL}\n`);
    console.log("| target | p50 (ms) | p99 (ms) | throughput @16 (calls/s) |");
    console.log("|---|---:|---:|---:|");
    for (const row of summary) console.log(`| ${row.name} | ${row.p50.toFixed(3)} | ${row.p99.toFixed(3)} | ${row.throughput.toFixed(0)} |`);
    const throughputRatio = gw.throughput / hub.throughput;
    const p50Ratio = gw.p50 / hub.p50;
    const overPg = gw.p50 - pgRow.p50;
    console.log("");
    console.log(`gateway/dbhub throughput: ${throughputRatio.toFixed(2)}x (target >= 2.5x) ${throughputRatio >= 2.5 ? "OK" : "MISSED"}`);
    console.log(`gateway/dbhub p50:        ${p50Ratio.toFixed(2)} (target <= 0.5) ${p50Ratio <= 0.5 ? "OK" : "MISSED"}`);
    console.log(`gateway p50 - direct pg:  ${overPg.toFixed(3)} ms (target <= 1 ms) ${overPg <= 1 ? "OK" : "MISSED"}`);

    const queue = new Queue(QUEUES.audit, { connection: { url: testRedisUrl() }, prefix: queuePrefix });
    const counts = await queue.getJobCounts("wait", "active", "completed", "failed", "delayed", "prioritized");
    console.log(`audit jobs queued in BullMQ during the run: ${Object.values(counts).reduce((a, b) => a + b, 0)}`);
    await queue.obliterate({ force: true });
    await queue.close();
  } finally {
    for (const child of children) child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    await prisma.$disconnect();
    await Promise.all([meta.drop(), chinook.drop(), rm(spoolDir, { recursive: true, force: true }), rm(stubDir, { recursive: true, force: true })]);
  }
}

await main();
