import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { verifyAuditChain } from "@portcullis/db/audit";
import { testRedisUrl } from "@portcullis/db/testing";
import type { Queue } from "bullmq";
import { afterAll, beforeAll, expect, test } from "vitest";
import { auditQueue, countEvents, createTeamRow, createWorkerFixture, enqueueEvents, makeEvent, waitFor } from "./support.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const MAIN = path.join(ROOT, "apps/worker/src/main.ts");

let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let queue: Queue;
const children: ChildProcess[] = [];

/** The real entry point in a child process, as the start script runs it. */
function spawnWorker(): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: fixture.env.DATABASE_URL,
      REDIS_URL: fixture.env.REDIS_URL,
      PORTCULLIS_SECRET_KEYS: fixture.env.PORTCULLIS_SECRET_KEYS,
      QUEUE_PREFIX: fixture.prefix,
      WORKER_METRICS_PORT: "0",
      WORKER_METRICS_HOST: "127.0.0.1",
      LOG_LEVEL: "warn",
      // Short locks so the killed worker's jobs come back within seconds, not the default 30 s.
      AUDIT_LOCK_DURATION_MS: "3000",
      AUDIT_STALLED_INTERVAL_MS: "1000",
      AUDIT_BATCH_SIZE: "500",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(child);
  return child;
}

beforeAll(async () => {
  fixture = await createWorkerFixture();
  queue = auditQueue(testRedisUrl(), fixture.prefix);
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await queue?.obliterate({ force: true }).catch(() => {});
  await queue?.close();
  await fixture?.close();
});

test("a worker killed mid-batch (SIGKILL) and restarted loses nothing and stores nothing twice", async () => {
  const teams = [await createTeamRow(fixture.pool), await createTeamRow(fixture.pool)];
  const ids = { links: [randomUUID()], keys: [randomUUID(), randomUUID()] };
  const events = Array.from({ length: 12_000 }, (_, i) => makeEvent(teams[i % 2]!, i, ids));
  await enqueueEvents(queue, events);

  const first = spawnWorker();
  // Kill it while it is busy: some batches committed, others in flight, most still queued.
  await waitFor(async () => (await countEvents(fixture.pool)) >= 1000, 90_000, "the first batches", 20);
  first.kill("SIGKILL");
  await new Promise((resolve) => first.once("exit", resolve));
  const atKill = await countEvents(fixture.pool);
  expect(atKill).toBeLessThan(events.length);
  expect((await queue.getJobCounts("active")).active).toBeGreaterThan(0);

  const second = spawnWorker();
  await waitFor(
    async () => {
      const counts = await queue.getJobCounts("waiting", "active", "delayed");
      return (await countEvents(fixture.pool)) === events.length && (counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0) === 0;
    },
    120_000,
    "every event after the restart",
    250,
  );
  const { rows } = await fixture.pool.query(`SELECT id FROM audit_events`);
  expect(new Set(rows.map((r) => r.id))).toEqual(new Set(events.map((e) => e.id)));
  for (const team of teams) expect(await verifyAuditChain(fixture.pool, team)).toMatchObject({ ok: true, checked: 6000 });
  expect((await queue.getJobCounts("failed")).failed).toBe(0);

  // Graceful stop on SIGTERM: exits 0.
  second.kill("SIGTERM");
  const code = await new Promise((resolve) => second.once("exit", resolve));
  expect(code).toBe(0);
}, 240_000);
