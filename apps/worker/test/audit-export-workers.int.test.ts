import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createAuditSink, getAuditSink, type AuditSinkView } from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { type Receiver, insertChain, seqRange, startReceiver } from "./audit-export-support.js";
import { createTeamRow, createWorkerFixture, SECRET_KEYS, waitFor } from "./support.js";

/**
 * Audit sinks with the real worker entry point in child processes, as deployments run it: two
 * workers deliver each event once (a lease per sink), and a worker killed in the middle of a delivery
 * is taken over from the cursor, nothing skipped.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const MAIN = path.join(ROOT, "apps/worker/src/main.ts");
const keyring = getKeyring(SECRET_KEYS);

let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let teamId: string;
const children: ChildProcess[] = [];
const receivers: Receiver[] = [];

function spawnWorker(extra: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: fixture.env.DATABASE_URL,
      REDIS_URL: fixture.env.REDIS_URL,
      PORTCULLIS_SECRET_KEYS: fixture.env.PORTCULLIS_SECRET_KEYS,
      QUEUE_PREFIX: fixture.prefix,
      WORKER_METRICS_PORT: "0",
      LOG_LEVEL: "warn",
      PORTCULLIS_WEBHOOK_ALLOW_PRIVATE: "1",
      AUDIT_EXPORT_POLL_MS: "100",
      AUDIT_EXPORT_BATCH_EVENTS: "50",
      AUDIT_EXPORT_RETRY_BASE_MS: "50",
      // Short, so a killed worker's sink is taken over within seconds (the default is 30 s or more); not
      // shorter: a lease that lapses between a batch's POST and its cursor move has the batch sent again
      // (at-least-once, by design), and this test counts every receipt — a loaded 2-core machine can
      // stall a process 1.5 s, which the earlier 1,500 ms lease did not survive.
      AUDIT_EXPORT_LEASE_MS: "5000",
      ...extra,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(child);
  return child;
}

const stop = (child: ChildProcess, signal: NodeJS.Signals) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill(signal);
  });

async function addSink(receiver: Receiver, name: string): Promise<AuditSinkView> {
  process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP = "1";
  const { sink, secret } = await createAuditSink(fixture.pool, { teamId, kind: "webhook", name, url: receiver.url, via: "cli" }, { keyring });
  receiver.secret = secret!;
  return sink;
}

beforeAll(async () => {
  fixture = await createWorkerFixture();
  teamId = await createTeamRow(fixture.pool);
  await insertChain(fixture.pool, teamId, 1000);
}, 60_000);

afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => stop(c, "SIGKILL")));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
  await fixture.pool.query("DELETE FROM audit_sinks");
});

afterAll(async () => {
  await fixture?.close();
});

test("two workers: every event reaches each sink exactly once, in order", async () => {
  const sinks: [Receiver, AuditSinkView][] = [];
  for (const name of ["one", "two", "three"]) {
    const receiver = await startReceiver();
    receivers.push(receiver);
    sinks.push([receiver, await addSink(receiver, name)]);
  }
  // The default lease: exactly once holds while no delivery outlives it (a loaded 2-core machine can stall 1.5 s).
  spawnWorker({ AUDIT_EXPORT_LEASE_MS: "30000" });
  spawnWorker({ AUDIT_EXPORT_LEASE_MS: "30000" });
  await waitFor(async () => {
    // The team's chain also grows by the sinks' own creation events, which the workers ingest.
    for (const [, sink] of sinks) if (Number((await getAuditSink(fixture.pool, { teamId, sinkId: sink.id })).cursorSeq) < 1003) return false;
    return true;
  }, 60_000, "both workers to deliver every sink", 200);
  for (const [receiver] of sinks) {
    expect(receiver.receipts.every((r) => r.status === 200)).toBe(true);
    expect(receiver.accepted()).toEqual(seqRange(1, 1003));
  }
}, 90_000);

test("a worker killed mid-delivery: the next one resends from the cursor; nothing is skipped", async () => {
  const receiver = await startReceiver();
  receivers.push(receiver);
  let hung = 0;
  // The 5th batch (201-250) hangs at the receiver: the worker is killed while it waits.
  receiver.respond = (_req, n) => (n === 4 ? (hung++, "hang") : { status: 200 });
  const sink = await addSink(receiver, "killed");
  const first = spawnWorker();
  await waitFor(async () => hung > 0, 30_000, "the delivery to hang");
  expect((await getAuditSink(fixture.pool, { teamId, sinkId: sink.id })).cursorSeq).toBe("200");
  await stop(first, "SIGKILL");
  spawnWorker();
  // 1,003 events before, plus this sink's creation event ingested by the workers.
  await waitFor(async () => (await getAuditSink(fixture.pool, { teamId, sinkId: sink.id })).cursorSeq === "1004", 60_000, "the second worker to finish", 200);
  expect(receiver.accepted()).toEqual(seqRange(1, 1004));
  expect(receiver.receipts.some((r) => r.key === `${sink.id}:201-250`)).toBe(true);
  const row = await getAuditSink(fixture.pool, { teamId, sinkId: sink.id });
  expect(row).toMatchObject({ deliveredCount: "1004", lag: "0", status: "active" });
}, 90_000);
