import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "@portcullis/db/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type RunningWorker, startWorker } from "../src/app.js";
import { workerEnvSchema } from "../src/env.js";
import { askApproval, seedTeam, setWebhook, startReceiver } from "./notify-support.js";
import { createWorkerFixture, waitFor } from "./support.js";

let port: number;
let dir: string;
let redis: ChildProcess | undefined;
let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let worker: RunningWorker | undefined;

/** A Redis of this test's own, without persistence: restarted, it comes back empty (the worst case). */
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
  dir = await mkdtemp(path.join(tmpdir(), "pc-notify-redis-"));
  await startRedis();
  receiver = await startReceiver();
  fixture = await createWorkerFixture(
    { PORTCULLIS_WEBHOOK_ALLOW_PRIVATE: "1", NOTIFY_RETRY_BASE_MS: "100", NOTIFY_POLL_MS: "200", APPROVAL_SWEEP_EVERY_MS: "300" },
    `redis://127.0.0.1:${port}`,
  );
});

afterAll(async () => {
  await worker?.close();
  if (redis) await stopRedis();
  await receiver?.close();
  await rm(dir, { recursive: true, force: true });
  await fixture?.close();
});

test("requests written while Redis is down are notified once it returns, each exactly once", async () => {
  worker = await startWorker(fixture.env, { schedules: false, metricsServer: false, sweepEveryMs: 60_000, notifyRequeueAfterMs: 500 });
  const team = await seedTeam(fixture.pool);
  await setWebhook(fixture.pool, team.teamId, `${receiver.base}/r`, "portcullis", false);
  const first = await askApproval(fixture.pool, team);
  await waitFor(async () => receiver.at("/r").length === 1, 15_000, "the first notification");

  await stopRedis();
  const during = await Promise.all(Array.from({ length: 5 }, () => askApproval(fixture.pool, team)));
  // The fan-out needs only PostgreSQL: the deliveries are written (pending) while Redis is away.
  await waitFor(
    async () => {
      const { rows } = await fixture.pool.query(`SELECT count(*)::int AS n FROM notification_deliveries WHERE subject_id = ANY($1::uuid[]) AND status = 'pending'`, [
        during.map((r) => r.id),
      ]);
      return rows[0].n === 5;
    },
    10_000,
    "the deliveries to be written without Redis",
  );
  await new Promise((r) => setTimeout(r, 1000));
  expect(receiver.at("/r")).toHaveLength(1);

  await startRedis(); // empty: whatever was queued before is gone
  await waitFor(async () => receiver.at("/r").length >= 6, 30_000, "the notifications after Redis returned", 200);
  await new Promise((r) => setTimeout(r, 1500));
  const seen = receiver.at("/r").map((p) => JSON.parse(p.body).request.id as string);
  expect(seen.sort()).toEqual([first.id, ...during.map((r) => r.id)].sort());
  const { rows } = await fixture.pool.query(`SELECT status, attempts FROM notification_deliveries WHERE team_id = $1`, [team.teamId]);
  expect(rows).toHaveLength(6);
  expect(rows.every((r) => r.status === "delivered" && r.attempts === 1)).toBe(true);
});

test("a delivery whose job Redis lost (restarted empty during the backoff) is queued again and delivered", async () => {
  await worker?.close();
  // A long first backoff keeps the retry waiting in Redis while Redis goes away.
  worker = await startWorker(workerEnvSchema.parse({ ...fixture.env, PORTCULLIS_WEBHOOK_ALLOW_PRIVATE: "1", NOTIFY_RETRY_BASE_MS: "4000" }), {
    schedules: false,
    metricsServer: false,
    sweepEveryMs: 60_000,
    notifyRequeueAfterMs: 500,
  });
  const team = await seedTeam(fixture.pool);
  receiver.script("/lost", [503, 200]);
  await setWebhook(fixture.pool, team.teamId, `${receiver.base}/lost`, "portcullis", false);
  const request = await askApproval(fixture.pool, team);
  const row = async () => (await fixture.pool.query(`SELECT status, attempts FROM notification_deliveries WHERE subject_id = $1`, [request.id])).rows[0];
  await waitFor(async () => (await row())?.attempts === 1, 10_000, "the first (failed) attempt");
  expect(await row()).toMatchObject({ status: "pending", attempts: 1 });

  await stopRedis();
  await startRedis(); // the delayed retry is gone with it
  await waitFor(async () => (await row())?.status === "delivered", 20_000, "the re-enqueued delivery", 200);
  expect(await row()).toMatchObject({ status: "delivered", attempts: 2 });
  expect(receiver.at("/lost").map((p) => p.status)).toEqual([503, 200]);
  expect((await worker.metrics.notificationRequeued.get()).values[0]?.value).toBeGreaterThanOrEqual(1);
});
