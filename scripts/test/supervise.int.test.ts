import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { connectClient, toolText } from "../../apps/gateway/test/fixtures.js";
import { createPrismaClient } from "../../packages/db/src/client.js";
import { migrate } from "../../packages/db/src/migrate/index.js";
import { addConnection, createApiKey, createLink, createTeam, createUser } from "../../packages/db/src/operations/index.js";
import { generateSecretKey, getKeyring } from "../../packages/db/src/secrets/index.js";
import { freePort, withClient } from "../../packages/db/src/testing/index.js";
import { countLiveWorkers, createRedis } from "../../packages/jobs/src/index.js";
import { ROOT, Supervisor, alive, deathTimes, httpOk, lib } from "./supervised-stack.js";

type Client = Awaited<ReturnType<typeof connectClient>>;

/**
 * scripts/supervise.mjs running the real gateway and worker over a PostgreSQL and a Redis of this
 * suite's own (started and restarted with scripts/lib.sh, as up.sh does; the shared test services are
 * never touched): a worker killed with SIGKILL comes back within its backoff while the gateway keeps
 * answering MCP calls, a dead Redis is restarted, a crash loop backs off, and SIGTERM stops the apps
 * before the stores, in order. Every answered call ends up as exactly one audit row.
 */
const BACKOFF = { initialMs: 500, maxMs: 4000, resetAfterMs: 20_000 };
let dir: string;
let pgPort: number;
let redisPort: number;
const redisPassword = "supervise-test-password";
let metaUrl: string;
let gatewayPort: number;
let workerPort: number;
let secretKeys: string;
let linkUrl: string;
let key: string;
let supervisor: Supervisor | undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "supervise-stores-"));
  // The `postgres` system user (root runs the cluster as it) must reach its data directory inside.
  await chmod(dir, 0o711);
  [pgPort, redisPort, gatewayPort, workerPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  await lib('start_postgres "$2" "$3" fast', path.join(dir, "pg"), String(pgPort));
  await lib('start_redis "$2" "$3" "$4"', path.join(dir, "redis"), String(redisPort), redisPassword);
  const admin = `postgresql://portcullis:portcullis@127.0.0.1:${pgPort}`;
  await withClient(`${admin}/postgres`, async (c) => {
    await c.query("CREATE DATABASE portcullis");
    await c.query("CREATE DATABASE target");
  });
  metaUrl = `${admin}/portcullis`;
  await migrate(metaUrl);
  secretKeys = generateSecretKey("k1");
  const prisma = createPrismaClient(metaUrl);
  try {
    const user = await createUser(prisma, { email: "supervise@example.com" });
    const team = await createTeam(prisma, { name: "supervise", ownerId: user.id });
    const connection = await addConnection(
      prisma,
      { teamId: team.id, name: "target", fields: { host: "127.0.0.1", port: pgPort, database: "target", username: "portcullis", password: "portcullis", sslMode: "disable" }, test: false },
      getKeyring(secretKeys),
    );
    const link = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "supervised", scope: { access: "read" } as never });
    const issued = await createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: user.id, name: "supervise" });
    key = issued.key;
    linkUrl = `http://127.0.0.1:${gatewayPort}/mcp/${link.id}`;
  } finally {
    await prisma.$disconnect();
  }
}, 120_000);

afterAll(async () => {
  await supervisor?.close();
  await lib('stop_redis "$2" "$3" "$4"', path.join(dir, "redis"), String(redisPort), redisPassword).catch(() => {});
  await lib('stop_postgres "$2"', path.join(dir, "pg")).catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

function stackEnv(): Record<string, string> {
  return {
    DATABASE_URL: metaUrl,
    REDIS_URL: `redis://:${redisPassword}@127.0.0.1:${redisPort}`,
    REDIS_PASSWORD: redisPassword,
    PORTCULLIS_SECRET_KEYS: secretKeys,
    QUEUE_PREFIX: "supervise",
    GATEWAY_PORT: String(gatewayPort),
    GATEWAY_HOST: "127.0.0.1",
    GATEWAY_PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
    WEB_PUBLIC_URL: "http://127.0.0.1:9",
    GATEWAY_AUDIT_SPOOL_DIR: path.join(dir, "spool"),
    GATEWAY_SHUTDOWN_GRACE_MS: "5000",
    GATEWAY_INTERNAL_TOKEN: "",
    TARGET_NETWORKS: "any",
    TARGET_ALLOW_POWERFUL_ROLES: "true",
    WORKER_METRICS_PORT: String(workerPort),
    // A killed worker's audit jobs return to the queue after the lock expires: short, for the test.
    AUDIT_LOCK_DURATION_MS: "2000",
    AUDIT_STALLED_INTERVAL_MS: "1000",
    AI_PROVIDER: "none",
    LOG_LEVEL: "info",
  };
}

const store = (name: string, pidFile: string, start: string, stop: string, storeDir: string, port: string) => ({
  name,
  pidFile,
  start: ["bash", "-c", `source "$1/scripts/lib.sh"; ${start}`, "supervise", ROOT, storeDir, port],
  stop: ["bash", "-c", `source "$1/scripts/lib.sh"; ${stop}`, "supervise", ROOT, storeDir, port],
});

/** One client calling execute_sql with unique statements back to back; counts what it saw. */
function load(client: Client) {
  const answered: number[] = [];
  const failed: { n: number; error: string }[] = [];
  let n = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const i = ++n;
      try {
        const result = await client.callTool({ name: "execute_sql", arguments: { sql: `SELECT ${i} AS supervise_n` } });
        if (result.isError) failed.push({ n: i, error: toolText(result) });
        else answered.push(i);
      } catch (error) {
        failed.push({ n: i, error: String(error) });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    answered,
    failed,
    async stop() {
      running = false;
      await loop;
    },
  };
}

test("a killed worker, Redis or PostgreSQL is restarted while the rest keeps running; SIGTERM stops apps, then Redis, then PostgreSQL", async () => {
  supervisor = await Supervisor.start(
    {
      backoff: BACKOFF,
      watchEveryMs: 250,
      apps: [
        { name: "gateway", command: [process.execPath, "--import", "tsx", "apps/gateway/src/main.ts"], cwd: ROOT, stopGroup: 1, graceMs: 15_000 },
        { name: "worker", command: [process.execPath, "--import", "tsx", "apps/worker/src/main.ts"], cwd: ROOT, stopGroup: 2, graceMs: 35_000 },
      ],
      stores: [
        store("redis", path.join(dir, "redis/redis.pid"), 'start_redis "$2" "$3" "$REDIS_PASSWORD"', 'stop_redis "$2" "$3" "$REDIS_PASSWORD"', path.join(dir, "redis"), String(redisPort)),
        store("postgres", path.join(dir, "pg/postmaster.pid"), 'start_postgres "$2" "$3" fast', 'stop_postgres "$2"', path.join(dir, "pg"), String(pgPort)),
      ],
    },
    stackEnv(),
  );
  const sup = supervisor;
  const gatewayPid = await sup.pidOf("gateway");
  const workerPid = await sup.pidOf("worker");
  const until = async (check: () => Promise<boolean>, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
    return true;
  };
  expect(await until(() => httpOk(`http://127.0.0.1:${gatewayPort}/healthz`), 30_000)).toBe(true);
  expect(await until(() => httpOk(`http://127.0.0.1:${workerPort}/healthz`), 30_000)).toBe(true);

  const client = await connectClient(linkUrl, key, "supervise-test");
  const calls = load(client);
  let healthFailures = 0;
  let healthChecks = 0;
  let probing = true;
  const prober = (async () => {
    while (probing) {
      healthChecks++;
      if (!(await httpOk(`http://127.0.0.1:${gatewayPort}/healthz`))) healthFailures++;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  await new Promise((r) => setTimeout(r, 1500));

  // The worker, killed: reported, restarted after the first backoff step, serving again.
  const beforeKill = sup.lines.length;
  const killedAt = Date.now();
  process.kill(workerPid, "SIGKILL");
  const report = await sup.waitLine(/worker was killed \(SIGKILL\) .* restarting in 0\.5 s/, beforeKill);
  const newWorkerPid = await sup.pidOf("worker", report.index);
  const restartedAfter = sup.lines.find((l, i) => i > report.index && l.text.includes(`pid ${newWorkerPid}`))!.at - killedAt;
  expect(newWorkerPid).not.toBe(workerPid);
  expect(restartedAfter).toBeGreaterThanOrEqual(450);
  expect(restartedAfter).toBeLessThan(3000);
  expect(await until(() => httpOk(`http://127.0.0.1:${workerPort}/healthz`), 30_000)).toBe(true);
  expect(alive(gatewayPid)).toBe(true);
  const answeredDuringWorkerOutage = calls.answered.length;

  // Redis, killed: the supervisor restarts it with lib.sh's start_redis; calls keep being answered.
  const redisPid = Number((await lib('cat "$2"', path.join(dir, "redis/redis.pid"))).trim());
  const beforeRedis = sup.lines.length;
  process.kill(redisPid, "SIGKILL");
  await sup.waitLine(/redis is down/, beforeRedis, 10_000);
  const back = await sup.waitLine(/redis restarted \(pid (\d+)\)/, beforeRedis, 20_000);
  expect(Number(back.match[1])).not.toBe(redisPid);
  await new Promise((r) => setTimeout(r, 1500));

  await calls.stop();
  probing = false;
  await prober;
  await client.close();
  console.log(
    `[supervise] worker back after ${restartedAfter} ms; ${calls.answered.length} calls answered (${answeredDuringWorkerOutage} before Redis was killed), ${calls.failed.length} failed; gateway /healthz ${healthChecks - healthFailures}/${healthChecks}`,
  );
  expect(calls.failed).toEqual([]);
  expect(calls.answered.length).toBeGreaterThan(40);
  expect(healthFailures).toBe(0);
  expect(alive(gatewayPid)).toBe(true);

  // Every answered call has exactly one audit row, written by the restarted worker.
  const rows = async () =>
    withClient(metaUrl, async (c) => {
      const { rows } = await c.query<{ n: number; total: number }>(
        "SELECT count(DISTINCT sql)::int AS n, count(*)::int AS total FROM audit_events WHERE sql LIKE 'SELECT % AS supervise_n' AND verdict = 'allowed'",
      );
      return rows[0]!;
    });
  expect(await until(async () => (await rows()).n >= calls.answered.length, 60_000)).toBe(true);
  expect(await rows()).toEqual({ n: calls.answered.length, total: calls.answered.length });

  // One live worker by its heartbeat once the killed one's beat has aged out (it said no goodbye).
  const redis = createRedis(stackEnv().REDIS_URL!, "worker");
  try {
    expect(await until(async () => (await countLiveWorkers(redis, "supervise")) === 1, 30_000)).toBe(true);
  } finally {
    redis.disconnect();
  }

  // PostgreSQL (metadata and target), killed: restarted by the supervisor; the gateway and the worker
  // ride it out in the same processes and are ready again, and calls are answered again.
  const postmaster = Number((await lib('head -1 "$2"', path.join(dir, "pg/postmaster.pid"))).trim());
  const beforePg = sup.lines.length;
  process.kill(postmaster, "SIGKILL");
  await sup.waitLine(/postgres is down/, beforePg, 10_000);
  await sup.waitLine(/postgres restarted \(pid \d+\)/, beforePg, 60_000);
  expect(await until(() => httpOk(`http://127.0.0.1:${workerPort}/readyz`), 30_000)).toBe(true);
  expect(await until(() => httpOk(`http://127.0.0.1:${gatewayPort}/readyz`), 30_000)).toBe(true);
  expect([alive(gatewayPid), alive(newWorkerPid)]).toEqual([true, true]);
  const again = await connectClient(linkUrl, key, "supervise-test");
  const after = await again.callTool({ name: "execute_sql", arguments: { sql: "SELECT 'after the restart' AS supervise_after" } });
  await again.close();
  expect(toolText(after)).toContain("after the restart");

  // SIGTERM: gateway first, then the worker, then Redis, then PostgreSQL; each process gone in that order.
  const pids = {
    gateway: gatewayPid,
    worker: newWorkerPid,
    redis: Number((await lib('cat "$2"', path.join(dir, "redis/redis.pid"))).trim()),
    postgres: Number((await lib('head -1 "$2"', path.join(dir, "pg/postmaster.pid"))).trim()),
  };
  for (const pid of Object.values(pids)) expect(alive(pid)).toBe(true);
  const beforeStop = sup.lines.length;
  const signalledAt = Date.now();
  sup.child.kill("SIGTERM");
  const [gone, exit] = await Promise.all([deathTimes(pids), sup.exited]);
  expect(exit.code).toBe(0);
  expect(Object.keys(gone).sort()).toEqual(["gateway", "postgres", "redis", "worker"]);
  expect(gone.gateway!).toBeLessThan(gone.worker!);
  expect(gone.worker!).toBeLessThan(gone.redis!);
  expect(gone.redis!).toBeLessThan(gone.postgres!);
  const order = sup.lines
    .slice(beforeStop)
    .map((l) => /(\w+) stopped \(/.exec(l.text)?.[1])
    .filter(Boolean);
  expect(order).toEqual(["gateway", "worker", "redis", "postgres"]);
  console.log(
    `[supervise] SIGTERM → gateway gone +${gone.gateway! - signalledAt} ms, worker +${gone.worker! - signalledAt} ms, redis +${gone.redis! - signalledAt} ms, postgres +${gone.postgres! - signalledAt} ms`,
  );
}, 240_000);

test("a crash loop backs off exponentially and is reported with the log's last lines", async () => {
  const looping = await Supervisor.start(
    {
      backoff: { initialMs: 250, maxMs: 2000, resetAfterMs: 20_000 },
      // The real worker with a configuration it refuses: it exits at start-up, every time.
      apps: [{ name: "worker", command: [process.execPath, "--import", "tsx", "apps/worker/src/main.ts"], cwd: ROOT, env: { DATABASE_URL: "not a url" } }],
    },
    { ...stackEnv(), WORKER_METRICS_PORT: String(await freePort()) },
  );
  try {
    const delays: { planned: number; measured: number }[] = [];
    let from = 0;
    for (let i = 0; i < 5; i++) {
      const exit = await looping.waitLine(/worker exited with code 1 after .*; restarting in ([\d.]+) s/, from, 30_000);
      const next = await looping.waitLine(/worker restarted \(pid \d+/, exit.index);
      delays.push({ planned: Number(exit.match[1]) * 1000, measured: next.at - exit.at });
      from = next.index;
    }
    console.log(`[supervise] crash-loop delays (planned → measured ms): ${delays.map((d) => `${d.planned}→${d.measured}`).join(", ")}`);
    expect(delays.map((d) => d.planned)).toEqual([250, 500, 1000, 2000, 2000]);
    for (const d of delays) {
      expect(d.measured).toBeGreaterThanOrEqual(d.planned - 20);
      expect(d.measured).toBeLessThan(d.planned + 1000);
    }
    const loop = await looping.waitLine(/worker is crash-looping: \d+ quick exits in a row/);
    const tail = looping.lines.slice(loop.index + 1, loop.index + 16).map((l) => l.text).join("\n");
    expect(tail).toContain("DATABASE_URL");
  } finally {
    await looping.close();
  }
}, 120_000);

test("an app that ignores SIGTERM is killed only after its grace period; a second signal kills at once", async () => {
  // A process that refuses to stop (as a hung drain would), printing when SIGTERM reaches it.
  const stubborn = [process.execPath, "-e", 'process.on("SIGTERM", () => console.log("ignoring SIGTERM")); console.log("up"); setInterval(() => {}, 1000);'];
  const graceful = await Supervisor.start({ apps: [{ name: "stubborn", command: stubborn, graceMs: 1500 }], echo: true }, {});
  try {
    const pid = await graceful.pidOf("stubborn");
    await graceful.waitLine(/\[stubborn\] up/);
    const sentAt = Date.now();
    graceful.child.kill("SIGTERM");
    await graceful.waitLine(/\[stubborn\] ignoring SIGTERM/);
    const [gone] = await Promise.all([deathTimes({ stubborn: pid }), graceful.exited]);
    expect(gone.stubborn! - sentAt).toBeGreaterThanOrEqual(1500);
    expect(gone.stubborn! - sentAt).toBeLessThan(4000);
    await graceful.waitLine(/stubborn did not stop within its 1\.5 s grace period; killing it/);
    await graceful.waitLine(/stubborn stopped \(signal SIGKILL/);
  } finally {
    await graceful.close();
  }

  const forced = await Supervisor.start({ apps: [{ name: "stubborn", command: stubborn, graceMs: 60_000 }], echo: true }, {});
  try {
    const pid = await forced.pidOf("stubborn");
    await forced.waitLine(/\[stubborn\] up/);
    forced.child.kill("SIGTERM");
    await forced.waitLine(/\[stubborn\] ignoring SIGTERM/);
    const secondAt = Date.now();
    forced.child.kill("SIGINT");
    const [gone, exit] = await Promise.all([deathTimes({ stubborn: pid }), forced.exited]);
    expect(gone.stubborn! - secondAt).toBeLessThan(1000);
    expect(exit.code).toBe(1);
    await forced.waitLine(/SIGINT again: forcing/);
  } finally {
    await forced.close();
  }
}, 60_000);

test("the apps' output joins the terminal once up.sh's readiness printout is done; a stop ends the printout", async () => {
  const ticker = [process.execPath, "-e", 'setInterval(() => console.log("tick"), 100);'];
  const printout = (ms: number) => spawn(process.execPath, ["-e", `setTimeout(() => {}, ${ms})`], { detached: true, stdio: "ignore" });
  const brief = printout(1500);
  const briefEnded = new Promise<number>((resolve) => brief.once("exit", () => resolve(Date.now())));
  const quiet = await Supervisor.start({ apps: [{ name: "ticker", command: ticker }] }, { PORTCULLIS_READY_PID: String(brief.pid) });
  try {
    const firstTick = await quiet.waitLine(/\[ticker\] tick/);
    expect(firstTick.at).toBeGreaterThanOrEqual(await briefEnded);
  } finally {
    await quiet.close();
  }

  const long = printout(60_000);
  const longEnded = new Promise<number>((resolve) => long.once("exit", () => resolve(Date.now())));
  const stopping = await Supervisor.start({ apps: [{ name: "ticker", command: ticker }] }, { PORTCULLIS_READY_PID: String(long.pid) });
  try {
    await stopping.pidOf("ticker");
    const sentAt = Date.now();
    stopping.child.kill("SIGTERM");
    expect((await longEnded) - sentAt).toBeLessThan(2000);
    expect((await stopping.exited).code).toBe(0);
    expect(stopping.lines.some((l) => l.text.includes("[ticker] tick"))).toBe(false);
  } finally {
    await stopping.close();
  }
}, 60_000);

test("a terminal that goes away (closed pipe) neither stops the stack nor makes the supervisor spin; SIGTERM still stops it in order", async () => {
  // An app that prints all the time, as the gateway does under load; the supervisor echoes it.
  const chatty = [process.execPath, "-e", 'setInterval(() => console.log("tick " + Date.now()), 10);'];
  const sup = await Supervisor.start({ apps: [{ name: "chatty", command: chatty, graceMs: 3000 }], echo: true }, {});
  try {
    const pid = await sup.pidOf("chatty");
    await sup.waitLine(/\[chatty\] tick/);
    // The reading end goes away, as when an SSH session drops or `up.sh | head` exits.
    sup.child.stdout!.destroy();
    const cpu = () => {
      const fields = readFileSync(`/proc/${sup.child.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks
    };
    await new Promise((r) => setTimeout(r, 500));
    const before = cpu();
    await new Promise((r) => setTimeout(r, 2000));
    const ticks = cpu() - before;
    // Echoing into a dead pipe in a loop burns a whole core (~200 ticks in 2 s); a quiet one is near 0.
    expect(ticks).toBeLessThan(40);
    expect(alive(pid)).toBe(true);
    const log = readFileSync(path.join(sup.dir, "logs", "supervisor.log"), "utf8");
    expect(log.length).toBeLessThan(10_000);
    expect(log).not.toMatch(/stopping/);
    sup.child.kill("SIGTERM");
    const [gone, exit] = await Promise.all([deathTimes({ chatty: pid }), sup.exited]);
    expect(gone.chatty).toBeGreaterThan(0);
    expect(exit.code).toBe(0);
    expect(readFileSync(path.join(sup.dir, "logs", "supervisor.log"), "utf8")).toMatch(/chatty stopped[\s\S]*stopped/);
  } finally {
    await sup.close();
  }
}, 60_000);
