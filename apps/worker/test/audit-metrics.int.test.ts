import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AuditEventInput, ensurePartitions, ingestAuditBatch, listAuditPartitions } from "@portcullis/db/audit";
import { createAuditSink, getAuditSink } from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import { testRedisUrl } from "@portcullis/db/testing";
import { AUDIT_EXPORT_TICK_JOB, HOUSEKEEPING_JOB, QUEUES } from "@portcullis/jobs";
import { Queue } from "bullmq";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type RunningWorker, startWorker } from "../src/app.js";
import { sinkDirectory } from "../src/processors/audit-export-file.js";
import { type Receiver, startReceiver } from "./audit-export-support.js";
import { createTeamRow, createWorkerFixture, SECRET_KEYS, waitFor } from "./support.js";

/**
 * The worker's /metrics for retention and audit sinks, scraped from a running worker: a partition
 * DROP by the housekeeping job (one straggler kept), a file sink delivering past the gap it left, and
 * a webhook sink its receiver refuses (paused, lagging). Labels are sink kinds only.
 */
let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let worker: RunningWorker | undefined;
let receiver: Receiver;
let root: string;
const queues: Queue[] = [];
const keyring = getKeyring(SECRET_KEYS);

const monthsAgo = (n: number, day = 10) => {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - n, day, 12));
};
const ev = (teamId: string, time: Date): AuditEventInput => ({ id: randomUUID(), time: time.toISOString(), teamId, tool: "execute_sql", sql: `SELECT ${randomUUID()}`, verdict: "allowed" });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "pc-audit-metrics-"));
  fixture = await createWorkerFixture({ AUDIT_RETENTION_DAYS: "400", AUDIT_EXPORT_DIR: root, PORTCULLIS_WEBHOOK_ALLOW_PRIVATE: "true" });
  receiver = await startReceiver();
}, 60_000);
afterAll(async () => {
  await worker?.close();
  for (const q of queues) await q.close();
  await receiver?.close();
  await fixture?.close();
  await rm(root, { recursive: true, force: true });
});

function sample(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ""} `));
  return line === undefined ? Number.NaN : Number(line.split(" ").at(-1));
}

test("partition drops, stragglers, sink deliveries by outcome, skipped events, lag and paused sinks move on /metrics", async () => {
  await ensurePartitions(fixture.pool, { now: monthsAgo(20), ahead: 15 });
  const team = await createTeamRow(fixture.pool);
  await fixture.pool.query("UPDATE teams SET audit_retention_days = 0 WHERE id = $1", [team]);
  // 1..3 twenty months old (dropped), 4 recent, 5 a straggler of the old month (kept in DEFAULT).
  await ingestAuditBatch(fixture.pool, [ev(team, monthsAgo(20, 1)), ev(team, monthsAgo(20, 2)), ev(team, monthsAgo(20, 3)), ev(team, new Date())]);
  await ingestAuditBatch(fixture.pool, [ev(team, monthsAgo(20, 20))]);
  const expired = (await listAuditPartitions(fixture.pool)).filter((p) => p.to.getTime() <= Date.now() - 400 * 86_400_000).length;
  expect(expired).toBeGreaterThan(1);
  const file = (await createAuditSink(fixture.pool, { teamId: team, kind: "file", name: "archive", via: "cli" }, { keyring })).sink;
  process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP = "1";
  const hook = await createAuditSink(fixture.pool, { teamId: team, kind: "webhook", name: "siem", url: receiver.url, via: "cli" }, { keyring });
  receiver.secret = hook.secret!;
  // The receiver refuses the data: a 4xx pauses the sink at once.
  receiver.respond = () => ({ status: 400 });

  worker = await startWorker(fixture.env, { schedules: false, metricsServer: true, sweepEveryMs: 200 });
  const port = (worker.server!.address() as { port: number }).port;
  const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const before = await scrape();
  expect(sample(before, "portcullis_audit_partitions_dropped_total")).toBe(0);
  expect(sample(before, "portcullis_audit_partition_stragglers_total")).toBe(0);

  const connection = { url: testRedisUrl(), maxRetriesPerRequest: null };
  const housekeeping = new Queue(QUEUES.housekeeping, { connection, prefix: fixture.prefix });
  const exports = new Queue(QUEUES.auditExport, { connection, prefix: fixture.prefix });
  queues.push(housekeeping, exports);
  await housekeeping.add("audit_retention", HOUSEKEEPING_JOB.schema.parse({ task: "audit_retention" }), HOUSEKEEPING_JOB.options);
  await waitFor(async () => sample(await scrape(), "portcullis_audit_partitions_dropped_total") >= 1, 20_000, "a partition dropped");

  await waitFor(
    async () => {
      await exports.add(AUDIT_EXPORT_TICK_JOB.name, {}, AUDIT_EXPORT_TICK_JOB.options);
      // The two sinks' creation is audited too (through the outbox, by this worker): seqs 6 and 7.
      const outbox = (await fixture.pool.query("SELECT 1 FROM audit_outbox WHERE team_id = $1", [team])).rowCount;
      const [f, h] = await Promise.all([getAuditSink(fixture.pool, { teamId: team, sinkId: file.id }), getAuditSink(fixture.pool, { teamId: team, sinkId: hook.sink.id })]);
      return outbox === 0 && f.cursorSeq === "7" && f.lag === "0" && h.status === "paused";
    },
    20_000,
    "the file sink delivered, the webhook sink paused",
    200,
  ).catch(async (error) => {
    const rows = (await fixture.pool.query("SELECT kind, status, cursor_seq, last_error, paused_reason, failures FROM audit_sinks")).rows;
    throw new Error(`${(error as Error).message}: ${JSON.stringify(rows)} receipts ${JSON.stringify(receiver.receipts.map((r) => r.status))}`);
  });
  // The gauges follow on the worker's measuring timer.
  const after = await waitFor(async () => {
    const text = await scrape();
    return sample(text, "portcullis_audit_sink_paused", 'kind="webhook"') === 1 && sample(text, "portcullis_audit_sink_lag_events", 'kind="file"') === 0 ? text : undefined;
  }, 10_000, "the sink gauges");

  // Every month wholly older than AUDIT_RETENTION_DAYS went, counted once each; one straggler kept.
  expect((await listAuditPartitions(fixture.pool)).filter((p) => p.to.getTime() <= Date.now() - 400 * 86_400_000)).toEqual([]);
  expect(sample(after, "portcullis_audit_partitions_dropped_total")).toBe(expired);
  expect(sample(after, "portcullis_audit_partition_stragglers_total")).toBe(1);
  // The file sink: 1..3 were gone before it ran (a gap of 3); each delivered batch is one file.
  expect(sample(after, "portcullis_audit_sink_skipped_events_total", 'kind="file"')).toBe(3);
  const files = (await readdir(sinkDirectory(root, team, "archive"))).filter((n) => n.endsWith(".jsonl"));
  expect(files.length).toBeGreaterThanOrEqual(2);
  expect(sample(after, "portcullis_audit_sink_deliveries_total", 'kind="file",outcome="delivered"')).toBe(files.length);
  expect(sample(after, "portcullis_audit_sink_deliveries_total", 'kind="webhook",outcome="paused"')).toBe(1);
  expect(after).not.toMatch(/portcullis_audit_sink_deliveries_total\{kind="webhook",outcome="delivered"\}/);
  // The paused webhook sink has every event after its cursor (0) to go: the team's head, 7.
  expect(sample(after, "portcullis_audit_sink_lag_events", 'kind="webhook"')).toBe(7);
  expect(sample(after, "portcullis_audit_sink_paused", 'kind="file"')).toBe(0);
  // Bounded labels: no team or sink id anywhere in the sink series.
  const sinkSeries = after.split("\n").filter((l) => l.startsWith("portcullis_audit_sink_"));
  expect(sinkSeries.length).toBeGreaterThan(0);
  expect(sinkSeries.some((l) => l.includes(team) || l.includes(file.id) || l.includes(hook.sink.id))).toBe(false);
}, 60_000);
