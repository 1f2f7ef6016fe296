/**
 * Scale curve 4 — audit ingestion with 1 and 2 worker processes (BENCH_SCALE_WORKERS, default "1,2"):
 * real `apps/worker` processes (src/main.ts, as `pnpm start` runs them) on real Redis/BullMQ and
 * PostgreSQL, events from several teams enqueued as the gateway enqueues them (auditBatchJobs).
 *  - throughput: a backlog of BENCH_SCALE_EVENTS events (default 60,000), workers started, time until
 *    the last row is in audit_events;
 *  - lag: workers running, events enqueued at BENCH_SCALE_RATE events/s (default 2,000) in a job every
 *    20 ms for BENCH_SCALE_LAG_S seconds; lag = ingested_at (the writing transaction's start) − the
 *    event's time (stamped just before it is enqueued), so it slightly flatters the commit.
 * After each phase: every event present exactly once (count and distinct ids over the ids enqueued, and
 * nothing else in the table).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { auditBatchJobs, type AuditEventInput } from "@portcullis/jobs";
import { MACHINE_HEADERS, freePort, machineCells, median, percentile, printTable, startRound, testRedisUrl, type RoundMachine } from "@portcullis/db/testing";
import { auditQueue, createTeamRow, createWorkerFixture, makeEvent, waitFor } from "../test/support.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WORKER_DIR = path.resolve(HERE, "..");
const WORKERS = (process.env.BENCH_SCALE_WORKERS ?? "1,2").split(",").map(Number);
const EVENTS = Number(process.env.BENCH_SCALE_EVENTS ?? 60_000);
const RATE = Number(process.env.BENCH_SCALE_RATE ?? 2000);
const LAG_S = Number(process.env.BENCH_SCALE_LAG_S ?? 8);
const TEAMS = Number(process.env.BENCH_SCALE_TEAMS ?? 5);

type Fixture = Awaited<ReturnType<typeof createWorkerFixture>>;

async function startWorkers(fixture: Fixture, n: number): Promise<ChildProcess[]> {
  const children: ChildProcess[] = [];
  // Keyed as a deployment is (Compose requires it): the HMAC chain is part of each event's cost.
  const chainKey = randomBytes(32).toString("hex");
  const up: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const metricsPort = await freePort();
    const env: Record<string, string> = { ...(process.env as Record<string, string>), AI_PROVIDER: "none", NODE_ENV: "production", LOG_LEVEL: "warn" };
    for (const [k, v] of Object.entries(fixture.env)) if (v !== undefined && typeof v !== "object") env[k] = String(v);
    Object.assign(env, { DATABASE_URL: fixture.db.url, REDIS_URL: testRedisUrl(), QUEUE_PREFIX: fixture.prefix, WORKER_METRICS_PORT: String(metricsPort), AUDIT_CHAIN_KEY: chainKey, PORTCULLIS_SECRET_KEYS: process.env.BENCH_SECRET_KEYS ?? env.PORTCULLIS_SECRET_KEYS! });
    const child = spawn(process.execPath, ["--import", "tsx", path.join(WORKER_DIR, "src/main.ts")], { cwd: WORKER_DIR, env, stdio: ["ignore", "inherit", "inherit"] });
    children.push(child);
    // Up when its metrics endpoint answers: its queues are open by then.
    up.push(waitFor(async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined))?.ok, 60_000, `worker ${i + 1}`));
  }
  await Promise.all(up);
  return children;
}

async function stopWorkers(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }),
  );
}

/** Every id enqueued is in audit_events exactly once, and nothing else is. */
async function checkExactlyOnce(fixture: Fixture, ids: string[]): Promise<string> {
  const { rows } = await fixture.pool.query<{ total: string; matched: string; distinct_matched: string }>(
    `SELECT (SELECT count(*) FROM audit_events)::text AS total,
            count(*)::text AS matched, count(DISTINCT id)::text AS distinct_matched
     FROM audit_events WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  const r = rows[0]!;
  const ok = Number(r.total) === ids.length && Number(r.matched) === ids.length && Number(r.distinct_matched) === ids.length;
  if (!ok) throw new Error(`exactly-once check failed: enqueued ${ids.length}, table holds ${r.total}, matching ${r.matched} (${r.distinct_matched} distinct)`);
  return `${ids.length} / ${ids.length} once`;
}

interface Result {
  workers: number;
  eventsPerS: number;
  throughputCheck: string;
  throughputMachine: RoundMachine;
  workerCpuUsPerEvent: number;
  lagP50: number;
  lagP99: number;
  lagRate: number;
  lagCheck: string;
  lagMachine: RoundMachine;
}

async function measure(workers: number): Promise<Result> {
  const fixture = await createWorkerFixture({ LOG_LEVEL: "warn" });
  const queue = auditQueue(testRedisUrl(), fixture.prefix);
  let children: ChildProcess[] = [];
  try {
    const teams: string[] = [];
    for (let t = 0; t < TEAMS; t++) teams.push(await createTeamRow(fixture.pool));
    const ids = { links: Array.from({ length: 8 }, randomUUID), keys: Array.from({ length: 16 }, randomUUID) };

    // Throughput: the backlog first, as after an outage, with the queue paused (BullMQ's global pause)
    // until every worker is up, so each process starts on the same backlog and start-up is not timed.
    await queue.pause();
    const backlog: AuditEventInput[] = Array.from({ length: EVENTS }, (_, i) => makeEvent(teams[i % teams.length]!, i, ids));
    const jobs = auditBatchJobs(backlog);
    for (let i = 0; i < jobs.length; i += 100) await queue.addBulk(jobs.slice(i, i + 100));
    const count = async () => Number((await fixture.pool.query<{ n: string }>("SELECT count(*)::text AS n FROM audit_events")).rows[0]!.n);
    children = await startWorkers(fixture, workers);
    const already = await count();
    if (already !== 0) throw new Error(`${already} events were written while the queue was paused`);
    const round = startRound(children.map((c) => c.pid));
    const started = performance.now();
    await queue.resume();
    await waitFor(async () => (await count()) >= EVENTS, 600_000, "the backlog", 50);
    const seconds = (performance.now() - started) / 1000;
    const throughputMachine = round();
    const cpu = throughputMachine.cpuMs.reduce<number>((a, b) => a + (b ?? 0), 0);
    const throughputCheck = await checkExactlyOnce(fixture, backlog.map((e) => e.id));

    // Lag: a steady stream, a job every 20 ms, workers already running.
    const perJob = Math.max(1, Math.round((RATE * 20) / 1000));
    const streamed: string[] = [];
    const lagRound = startRound();
    const streamStart = performance.now();
    let n = EVENTS;
    for (let tick = 0; performance.now() - streamStart < LAG_S * 1000; tick++) {
      const due = streamStart + tick * 20;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const now = new Date().toISOString();
      const events = Array.from({ length: perJob }, () => ({ ...makeEvent(teams[n % teams.length]!, n++, ids), time: now }));
      streamed.push(...events.map((e) => e.id));
      await queue.addBulk(auditBatchJobs(events));
    }
    const actualRate = streamed.length / ((performance.now() - streamStart) / 1000);
    await waitFor(async () => Number((await fixture.pool.query<{ n: string }>("SELECT count(*)::text AS n FROM audit_events")).rows[0]!.n) >= EVENTS + streamed.length, 120_000, "the stream", 50);
    const lagMachine = lagRound();
    const { rows } = await fixture.pool.query<{ ms: number }>(`SELECT extract(epoch FROM ingested_at - time) * 1000 AS ms FROM audit_events WHERE id = ANY($1::uuid[])`, [streamed]);
    const lags = rows.map((r) => Number(r.ms));
    const lagCheck = await checkExactlyOnce(fixture, [...backlog.map((e) => e.id), ...streamed]);
    return {
      workers,
      eventsPerS: (EVENTS - already) / seconds,
      throughputCheck,
      throughputMachine,
      workerCpuUsPerEvent: (cpu * 1000) / (EVENTS - already),
      lagP50: median(lags),
      lagP99: percentile(lags, 99),
      lagRate: actualRate,
      lagCheck,
      lagMachine,
    };
  } finally {
    await stopWorkers(children);
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    // At most 30 s: on the shared test cluster a DROP DATABASE can wait minutes behind another suite.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([fixture.close(), new Promise((r) => (timer = setTimeout(r, 30_000)))]);
    clearTimeout(timer);
  }
}

export async function ingestCurve(): Promise<void> {
  const results: Result[] = [];
  for (const w of WORKERS) {
    results.push(await measure(w));
    const r = results.at(-1)!;
    console.log(`${w} worker(s): ${Math.round(r.eventsPerS)} events/s, lag p50 ${r.lagP50.toFixed(0)} ms`);
  }
  printTable(
    `Audit ingestion, ${TEAMS} teams, batch jobs as the gateway enqueues them (throughput: a ${EVENTS.toLocaleString("en")}-event backlog, queue paused until every worker is up, timed from its resume; lag: ingested_at − event time at a steady rate for ${LAG_S} s)`,
    ["worker processes", "events/s (backlog)", "worker CPU µs/event", "exactly once", ...MACHINE_HEADERS, "stream rate (events/s)", "lag p50 (ms)", "lag p99 (ms)", "exactly once (all)", ...MACHINE_HEADERS],
    results.map((r) => [
      String(r.workers),
      r.eventsPerS.toFixed(0),
      r.workerCpuUsPerEvent.toFixed(0),
      r.throughputCheck,
      ...machineCells(r.throughputMachine),
      r.lagRate.toFixed(0),
      r.lagP50.toFixed(0),
      r.lagP99.toFixed(0),
      r.lagCheck,
      ...machineCells(r.lagMachine),
    ]),
  );
}

// BENCH_SCALE=0 skips the scale curves (gateway and worker alike).
if (import.meta.url === `file://${process.argv[1]}` && process.env.BENCH_SCALE !== "0") {
  await ingestCurve();
  process.exit(0);
}
