import { randomBytes } from "node:crypto";
import { migrate } from "@portcullis/db/migrate";
import { testRedisUrl, withClient } from "@portcullis/db/testing";
import { QUEUES, auditBatchJobs } from "@portcullis/jobs";
import { Queue } from "bullmq";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { TempCluster } from "../../gateway/test/pg-cluster.js";
import { type RunningWorker, startWorker } from "../src/app.js";
import { workerEnvSchema } from "../src/env.js";
import { SECRET_KEYS, auditQueue, countEvents, createTeamRow, makeEvent, waitFor } from "./support.js";

/**
 * The metadata PostgreSQL is down for longer than an audit job's retries last: the job's last attempt
 * meets the outage, and its events must still be stored once the database is back — not failed, not
 * dead-lettered (they are valid; only the database was away). The job is given one attempt so its last
 * attempt comes within seconds; in production (10 attempts with backoff) it is the same after ~17 min.
 */
let cluster: TempCluster;
let pool: pg.Pool;
let worker: RunningWorker;
let queue: Queue;
let deadLetter: Queue;
const prefix = `t${randomBytes(4).toString("hex")}`;

beforeAll(async () => {
  cluster = await TempCluster.create();
  await withClient(cluster.url(), (c) => c.query("CREATE DATABASE meta"));
  await migrate(cluster.url("meta"));
  pool = new pg.Pool({ connectionString: cluster.url("meta"), max: 2 });
  pool.on("error", () => {});
  const env = workerEnvSchema.parse({
    DATABASE_URL: cluster.url("meta"),
    REDIS_URL: testRedisUrl(),
    PORTCULLIS_SECRET_KEYS: SECRET_KEYS,
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: "silent",
  });
  worker = await startWorker(env, { metricsServer: false, schedules: false, sweepEveryMs: 500 });
  queue = auditQueue(testRedisUrl(), prefix);
  deadLetter = new Queue(QUEUES.auditDeadLetter, { connection: { url: testRedisUrl(), maxRetriesPerRequest: null }, prefix });
}, 60_000);

afterAll(async () => {
  await worker?.close();
  await pool?.end();
  for (const q of [queue, deadLetter]) {
    await q?.obliterate({ force: true }).catch(() => {});
    await q?.close();
  }
  await cluster?.destroy();
});

test("a job whose last attempt meets a database outage is delayed, then stored: nothing failed, nothing dead-lettered", async () => {
  const teamId = await createTeamRow(pool);
  const events = Array.from({ length: 50 }, (_, i) => makeEvent(teamId, i));
  await pool.end();
  await cluster.stop();

  const [job] = auditBatchJobs(events);
  await queue.add(job!.name, job!.data, { ...job!.opts, attempts: 1, removeOnComplete: true, removeOnFail: false });
  // The attempt runs its in-process retries (a few seconds) against the stopped database, then ends.
  const state = await waitFor(
    async () => {
      const s = await queue.getJobState(job!.opts.jobId);
      return s === "delayed" || s === "failed" ? s : undefined;
    },
    20_000,
    "the job's only attempt to end",
    100,
  );
  expect(state).toBe("delayed");
  // Past a dead-letter sweep (every 500 ms here): nothing was moved.
  await new Promise((r) => setTimeout(r, 1_000));
  expect(await deadLetter.count()).toBe(0);

  await cluster.start();
  pool = new pg.Pool({ connectionString: cluster.url("meta"), max: 2 });
  pool.on("error", () => {});
  await waitFor(async () => (await countEvents(pool, teamId)) === 50, 30_000, "the events stored after the outage", 250);
  expect(await queue.getFailedCount()).toBe(0);
  expect(await deadLetter.count()).toBe(0);
  const { rows } = await pool.query<{ n: number }>("SELECT count(DISTINCT id)::int AS n FROM audit_events WHERE team_id = $1", [teamId]);
  expect(rows[0]!.n).toBe(50);
}, 90_000);
