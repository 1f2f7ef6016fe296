import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { freePort } from "@portcullis/db/testing";
import { tmpdir } from "node:os";
import path from "node:path";
import { verifyAuditChain } from "@portcullis/db/audit";
import { Redis } from "ioredis";
import type { Queue } from "bullmq";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type RunningWorker, startWorker } from "../src/app.js";
import { auditQueue, countEvents, createTeamRow, createWorkerFixture, enqueueEvents, makeEvent, waitFor } from "./support.js";

let port: number;
let dir: string;
let redis: ChildProcess | undefined;
let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let worker: RunningWorker | undefined;


/** A Redis of this test's own (the shared test Redis must not be restarted under other suites). */
async function startRedis(): Promise<void> {
  redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  await waitFor(async () => {
    const probe = new Redis(port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on("error", () => {});
    try {
      await probe.connect();
      return (await probe.ping()) === "PONG";
    } finally {
      probe.disconnect();
    }
  }, 10_000, "redis-server to start");
}

async function stopRedis(): Promise<void> {
  const child = redis!;
  child.kill("SIGKILL");
  if (child.exitCode === null) await new Promise((resolve) => child.once("exit", resolve));
  redis = undefined;
}

beforeAll(async () => {
  port = await freePort();
  dir = await mkdtemp(path.join(tmpdir(), "pc-redis-"));
  await startRedis();
  fixture = await createWorkerFixture({}, `redis://127.0.0.1:${port}`);
});

afterAll(async () => {
  await worker?.close();
  if (redis) await stopRedis();
  await rm(dir, { recursive: true, force: true });
  await fixture?.close();
});

test("the worker reconnects after Redis restarts and resumes consuming", async () => {
  const url = `redis://127.0.0.1:${port}`;
  const team = await createTeamRow(fixture.pool);
  worker = await startWorker(fixture.env, { schedules: false, metricsServer: true, sweepEveryMs: 500 });
  const metricsPort = (worker.server!.address() as { port: number }).port;

  let queue: Queue = auditQueue(url, fixture.prefix);
  await enqueueEvents(queue, Array.from({ length: 500 }, (_, i) => makeEvent(team, i)));
  await waitFor(async () => (await countEvents(fixture.pool, team)) === 500, 30_000, "the first events");
  await queue.close();

  await stopRedis();
  // While Redis is down the worker stays up and says it is not ready.
  await waitFor(async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status === 503, 10_000, "readiness to fail");
  await new Promise((r) => setTimeout(r, 1500));
  await startRedis();

  queue = auditQueue(url, fixture.prefix);
  try {
    // Redis came back empty (no persistence here): what the gateway replays from its spool lands now.
    await enqueueEvents(queue, Array.from({ length: 500 }, (_, i) => makeEvent(team, 1000 + i)));
    await waitFor(async () => (await countEvents(fixture.pool, team)) === 1000, 60_000, "the events sent after the restart", 200);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status === 200, 10_000, "readiness to recover");
    expect(await verifyAuditChain(fixture.pool, team)).toMatchObject({ ok: true, checked: 1000 });
  } finally {
    await queue.close();
  }
}, 120_000);
