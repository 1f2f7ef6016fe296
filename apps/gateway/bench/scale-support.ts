/**
 * What the scale benches share: a metadata database with a team, connections and links made through
 * the real operations, the gateway as its own process (as `pnpm start` runs it), and one MCP call as a
 * plain JSON-RPC POST (no client library in the numbers). Needs TEST_PG_URL / TEST_REDIS_URL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createPrismaClient } from "@portcullis/db/client";
import { addConnection, createApiKey, createLink, createTeam, createUser } from "@portcullis/db/operations";
import { generateSecretKey, getKeyring } from "@portcullis/db/secrets";
import { parseTargetUrl } from "@portcullis/db/target";
import { createMetadataDatabase, freePort, processMemory, testRedisUrl, type TestDatabase } from "@portcullis/db/testing";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const GATEWAY_DIR = path.resolve(HERE, "..");

// The targets live on the loopback test cluster, reached as its superuser: allowed explicitly, as the
// other benches and the tests do.
const TARGET_ENV = { TARGET_NETWORKS: "any", TARGET_ALLOW_POWERFUL_ROLES: "true", TARGET_STACK_DATABASES: "*" };

/**
 * Drops a bench database, waiting at most 30 s: on the shared test cluster a DROP DATABASE can wait
 * minutes on ProcSignalBarrier behind another suite's long COPY, and a curve's numbers are already out.
 */
export async function dropBounded(db: { name: string; drop(): Promise<void> }): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), 30_000)));
  const outcome = await Promise.race([db.drop().then(() => "done" as const), waited]);
  clearTimeout(timer);
  if (outcome === "late") console.warn(`(drop of ${db.name} still waiting on the cluster after 30 s; left to finish on its own)`);
}

export interface ScaleSetup {
  meta: TestDatabase;
  prisma: ReturnType<typeof createPrismaClient>;
  secretKeys: string;
  teamId: string;
  userId: string;
  spoolDir: string;
  queuePrefix: string;
  addTarget(url: string, name: string): Promise<string>;
  /** A link on `connectionId` with `scope`, and a key for it. */
  addLink(connectionId: string, name: string, scope: object): Promise<{ linkId: string; key: string }>;
  close(): Promise<void>;
}

export async function setupScale(): Promise<ScaleSetup> {
  Object.assign(process.env, TARGET_ENV);
  const meta = await createMetadataDatabase();
  const prisma = createPrismaClient(meta.url);
  const secretKeys = generateSecretKey("k1");
  const keyring = getKeyring(secretKeys);
  const user = await createUser(prisma, { email: `scale-${randomBytes(3).toString("hex")}@example.com` });
  const team = await createTeam(prisma, { name: "scale", ownerId: user.id });
  const spoolDir = await mkdtemp(path.join(tmpdir(), "gw-scale-spool-"));
  return {
    meta,
    prisma,
    secretKeys,
    teamId: team.id,
    userId: user.id,
    spoolDir,
    queuePrefix: `scale-${randomBytes(4).toString("hex")}`,
    async addTarget(url, name) {
      const fields = { ...parseTargetUrl(url), sslMode: "disable" as const };
      const connection = await addConnection(prisma, { teamId: team.id, name, fields, test: false }, keyring);
      return connection.id;
    },
    async addLink(connectionId, name, scope) {
      const link = await createLink(prisma, { teamId: team.id, connectionId, name, scope });
      const { key } = await createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: user.id, name });
      return { linkId: link.id, key };
    },
    async close() {
      await prisma.$disconnect();
      await rm(spoolDir, { recursive: true, force: true });
      await dropBounded(meta);
    },
  };
}

export interface BenchGateway {
  base: string;
  child: ChildProcess;
  pid: number;
  memory(): { rss: number; peak: number } | undefined;
  /** Live heap after a full GC (the heap probe), in bytes. */
  liveHeap(): Promise<{ heapUsed: number; rss: number; external: number; arrayBuffers: number }>;
  /** A gauge or counter of /metrics (summed over label sets). */
  metric(name: string): Promise<number>;
  stop(): Promise<void>;
}

export async function startGateway(setup: ScaleSetup, extra: Record<string, string> = {}): Promise<BenchGateway> {
  const port = await freePort();
  const heapFile = path.join(setup.spoolDir, `heap-${port}.json`);
  const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", "--import", path.join(HERE, "scale-heap-probe.ts"), path.join(GATEWAY_DIR, "src/main.ts")], {
    cwd: GATEWAY_DIR,
    env: {
      ...process.env,
      ...TARGET_ENV,
      DATABASE_URL: setup.meta.url,
      REDIS_URL: testRedisUrl(),
      PORTCULLIS_SECRET_KEYS: setup.secretKeys,
      GATEWAY_PORT: String(port),
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_PUBLIC_URL: `http://localhost:${port}`,
      GATEWAY_AUDIT_SPOOL_DIR: path.join(setup.spoolDir, `spool-${port}`),
      GATEWAY_RATE_LIMIT_PER_MINUTE: "100000000",
      QUEUE_PREFIX: setup.queuePrefix,
      LOG_LEVEL: "warn",
      NODE_ENV: "production",
      BENCH_HEAP_FILE: heapFile,
      ...extra,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error("gateway did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    child,
    pid: child.pid!,
    memory: () => processMemory(child.pid),
    async liveHeap() {
      await rm(heapFile, { force: true });
      child.kill("SIGUSR2");
      for (let i = 0; i < 100 && !existsSync(heapFile); i++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 20));
      return JSON.parse(await readFile(heapFile, "utf8")) as { heapUsed: number; rss: number; external: number; arrayBuffers: number };
    },
    async metric(name) {
      const text = await (await fetch(`${base}/metrics`)).text();
      let sum = 0;
      for (const line of text.split("\n")) if (line.startsWith(name) && /^[a-z_]+(\{[^}]*\})? /.test(line) && line.split(/[{ ]/)[0] === name) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
      return sum;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

export interface ToolAnswer {
  ms: number;
  isError: boolean;
  structured: Record<string, unknown> | undefined;
  text: string;
  bytes: number;
}

let rpcId = 0;

/** One tools/call on the 2025-11-25 revision (stateless: no initialize), timed from send to full body. */
export async function callTool(base: string, linkId: string, key: string, tool: string, args: Record<string, unknown>): Promise<ToolAnswer> {
  const started = performance.now();
  const res = await fetch(`${base}/mcp/${linkId}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
      authorization: `Bearer ${key}`,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: ++rpcId, method: "tools/call", params: { name: tool, arguments: args } }),
  });
  const body = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`${tool}: HTTP ${res.status} ${body.slice(0, 300)}`);
  // JSON, or one SSE event whose data line holds the JSON-RPC answer.
  const json = body.trimStart().startsWith("{") ? body : body.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("");
  const message = JSON.parse(json) as { result?: { isError?: boolean; structuredContent?: Record<string, unknown>; content?: { text?: string }[] }; error?: { message: string } };
  if (!message.result) throw new Error(`${tool}: ${message.error?.message ?? body.slice(0, 300)}`);
  return {
    ms,
    isError: message.result.isError === true,
    structured: message.result.structuredContent,
    text: message.result.content?.map((c) => c.text ?? "").join("") ?? "",
    bytes: body.length,
  };
}

/** callTool that must succeed. */
export async function mustCall(base: string, linkId: string, key: string, tool: string, args: Record<string, unknown>): Promise<ToolAnswer> {
  const answer = await callTool(base, linkId, key, tool, args);
  if (answer.isError) throw new Error(`${tool} failed: ${answer.text.slice(0, 300)}`);
  return answer;
}
