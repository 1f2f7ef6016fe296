import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { createServer } from "node:net";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { addConnection, createApiKey, createLink, createTeam, createUser } from "@portcullis/db/operations";
import { generateSecretKey, getKeyring } from "@portcullis/db/secrets";
import { parseTargetUrl } from "@portcullis/db/target";
import {
  createChinookDatabase,
  createMetadataDatabase,
  freePort,
  testRedisUrl,
  type TestDatabase,
} from "@portcullis/db/testing";
import { NodeApp, ROOT } from "./processes.js";
import { callOnce, childPids, dropQueueKeys, getFresh, metricSum, until } from "./scale-out-support.js";

/**
 * GATEWAY_PROCESSES=N: one gateway on one port as N processes under a primary (apps/gateway/src/cluster.ts),
 * started as `pnpm start` starts it. No worker runs: audit events stay in each process's journal, which
 * is what shows which process served (and that a killed one's journal was adopted).
 */
let work: string;
let meta: TestDatabase;
let target: TestDatabase;
let prisma: PrismaClient;
let ids = { teamId: "", userId: "", linkId: "" };
const secretKeys = generateSecretKey("k1");
const queuePrefix = `procs-${randomBytes(4).toString("hex")}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "gateway-processes-"));
  [meta, target] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
  prisma = createPrismaClient(meta.url);
  const user = await createUser(prisma, { email: `procs-${randomBytes(3).toString("hex")}@example.com` });
  const team = await createTeam(prisma, { name: "processes", ownerId: user.id });
  const { password, ...rest } = parseTargetUrl(target.url);
  const connection = await addConnection(
    prisma,
    { teamId: team.id, name: "chinook", fields: { ...rest, password, sslMode: "disable" }, test: false },
    getKeyring(secretKeys),
  );
  const link = await createLink(prisma, {
    teamId: team.id,
    connectionId: connection.id,
    name: "procs-read",
    scope: { access: "read" } as never,
  });
  ids = { teamId: team.id, userId: user.id, linkId: link.id };
}, 120_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await Promise.all([meta?.drop(), target?.drop().catch(() => {})]);
  // The audit jobs nobody consumed in this file.
  await dropQueueKeys(testRedisUrl(), queuePrefix);
  if (process.env.CHAOS_KEEP_LOGS !== "1") await rm(work, { recursive: true, force: true });
}, 60_000);

function gatewayEnv(port: number, spool: string): Record<string, string> {
  return {
    DATABASE_URL: meta.url,
    REDIS_URL: testRedisUrl(),
    PORTCULLIS_SECRET_KEYS: secretKeys,
    QUEUE_PREFIX: queuePrefix,
    LOG_LEVEL: "info",
    GATEWAY_PROCESSES: "2",
    GATEWAY_PORT: String(port),
    GATEWAY_HOST: "127.0.0.1",
    GATEWAY_AUDIT_SPOOL_DIR: spool,
    GATEWAY_INTERNAL_TOKEN: "",
    GATEWAY_RATE_LIMIT_PER_MINUTE: "100000",
    TARGET_NETWORKS: "any",
    TARGET_ALLOW_POWERFUL_ROLES: "true",
  };
}

async function newKey(name: string): Promise<{ key: string }> {
  const { key } = await createApiKey(prisma, {
    teamId: ids.teamId,
    linkId: ids.linkId,
    userId: ids.userId,
    name,
  });
  return { key };
}

test("GATEWAY_PROCESSES=2: one port, metrics of both processes aggregated, a killed process restarted, SIGTERM drains both", async () => {
  const port = await freePort();
  const clusterSpool = path.join(work, "spool");
  const app = new NodeApp(
    "gateway-cluster",
    "apps/gateway/src/main.ts",
    port,
    gatewayEnv(port, clusterSpool),
    path.join(work, "gateway-cluster.log"),
  );
  await app.start();
  try {
    const primary = app.pid!;
    await until("two gateway processes", async () => (await childPids(primary)).length === 2, 30_000);
    const first = await childPids(primary);
    const { key } = await newKey("cluster");
    const url = `${app.url}/mcp/${ids.linkId}`;
    const CALLS = 24;
    for (let i = 0; i < CALLS; i++)
      expect(
        (await callOnce(url, key, `SELECT ${i} AS n`, { modern: i % 2 === 1, fresh: true })).status,
      ).toBe(200);
    // Scrapes on fresh connections alternate between the processes; each reports both: the sum is
    // every call, every time (unaggregated, the two would report counts adding up to it).
    for (let i = 0; i < 4; i++)
      expect(
        metricSum((await getFresh(`${app.url}/metrics`)).text, "portcullis_gateway_tool_calls_total"),
      ).toBe(CALLS);
    for (let i = 0; i < 2; i++) expect((await getFresh(`${app.url}/readyz`)).status).toBe(200);

    process.kill(first[0]!, "SIGKILL");
    await until(
      "the killed process replaced",
      async () => {
        const now = await childPids(primary);
        if (now.length !== 2 || now.includes(first[0]!)) return false;
        // The replacement has started its journal, and the killed process's directory was adopted.
        const dirs = await readdir(clusterSpool);
        const replacement = now.find((pid) => !first.includes(pid))!;
        return (
          dirs.some((d) => d.startsWith(`${replacement}-`)) && !dirs.some((d) => d.startsWith(`${first[0]}-`))
        );
      },
      15_000,
    );
    // The replacement serves calls: their audit events land in its own journal directory.
    const replacement = (await childPids(primary)).find((pid) => !first.includes(pid))!;
    const replacementDir = (await readdir(clusterSpool)).find((d) => d.startsWith(`${replacement}-`))!;
    let servedByReplacement = false;
    for (let i = 0; i < 40 && !servedByReplacement; i++) {
      expect((await callOnce(url, key, `SELECT ${i} AS again`, { fresh: true })).status).toBe(200);
      servedByReplacement = (
        await readdir(path.join(clusterSpool, replacementDir)).catch(() => [] as string[])
      ).some((f) => f.startsWith("seg-"));
    }
    expect(servedByReplacement, "the replacement process answered calls").toBe(true);
    expect(app.crashes, "the primary itself stayed up").toEqual([]);
  } finally {
    await app.stop();
  }
  // A graceful stop leaves no live journal directory: each process released or removed its own.
  const left = await readdir(clusterSpool).catch(() => [] as string[]);
  for (const entry of left) {
    const owner = await readFile(path.join(clusterSpool, entry, "owner.json"), "utf8").catch(() => "{}");
    expect(JSON.parse(owner).released ?? false, `${entry} still owned`).toBe(true);
  }
}, 120_000);

test(`processes that keep failing before they listen make the primary give up with exit code 1`, async () => {
  // The port is taken by another program: every gateway process fails to listen.
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", resolve));
  const port = (squatter.address() as { port: number }).port;
  try {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "apps/gateway/src/main.ts")], {
      cwd: ROOT,
      env: { ...process.env, ...gatewayEnv(port, path.join(work, "spool-taken")) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
    const exit = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        resolve(-1);
      }, 90_000);
      child.once("exit", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    expect(exit, stderr.slice(-2_000)).toBe(1);
    expect(stderr).toMatch(/EADDRINUSE/);
  } finally {
    squatter.close();
  }
}, 120_000);

test("a stop signal to the whole process group (Ctrl-C, scripts/supervise.mjs) drains every process once: exit 0", async () => {
  const port = await freePort();
  const logFile = path.join(work, "gateway-group.log");
  const log = openSync(logFile, "a");
  // Its own process group, as supervise.mjs starts apps; the group is then signalled as a whole.
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "apps/gateway/src/main.ts")], {
    cwd: ROOT,
    env: { ...process.env, ...gatewayEnv(port, path.join(work, "spool-group")) },
    stdio: ["ignore", log, log],
    detached: true,
  });
  closeSync(log);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    await until(
      "the gateway answered",
      async () => (await getFresh(`http://127.0.0.1:${port}/readyz`)).status === 200,
      60_000,
    );
    await until("two gateway processes", async () => (await childPids(child.pid!)).length === 2, 30_000);
    const { key } = await newKey("group");
    expect(
      (await callOnce(`http://127.0.0.1:${port}/mcp/${ids.linkId}`, key, "SELECT 1 AS one", { fresh: true }))
        .status,
    ).toBe(200);
    process.kill(-child.pid!, "SIGTERM");
    const code = await Promise.race([
      exited,
      new Promise<string>((r) => setTimeout(() => r("still running after 40 s"), 40_000)),
    ]);
    const text = await readFile(logFile, "utf8");
    expect(code, text.slice(-3_000)).toBe(0);
    // Each process drained once: the primary's request did not count as a second signal.
    expect(text).not.toMatch(/exiting now/);
    expect(text.match(/"msg":"stopped"/g)?.length).toBe(2);
  } finally {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGKILL");
  }
}, 120_000);
