import { randomBytes, randomUUID } from "node:crypto";
import { type AuditEventInput, ensurePartitions, ingestAuditBatch, listAuditPartitions, parseAuditChainKey, partitionOf, verifyAuditChain } from "@portcullis/db/audit";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type RunningWorker, startWorker } from "../src/app.js";
import { auditRetention } from "../src/processors/housekeeping.js";
import { createTeamRow, createWorkerFixture, waitFor } from "./support.js";

let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let redis: Redis;
const key = parseAuditChainKey(randomBytes(32).toString("hex"));
const DAY = 86_400_000;

beforeAll(async () => {
  fixture = await createWorkerFixture();
  redis = new Redis(fixture.env.REDIS_URL);
});
afterAll(async () => {
  redis?.disconnect();
  await fixture?.close();
});

const monthsAgo = (n: number, day = 10) => {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - n, day, 12));
};
const ev = (teamId: string, time: Date): AuditEventInput => ({ id: randomUUID(), time: time.toISOString(), teamId, tool: "execute_sql", sql: `SELECT ${randomUUID()}`, verdict: "allowed" });

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

test("the hourly audit_retention job drops expired months, keeps stragglers, prunes per team, and logs what it did", async () => {
  await ensurePartitions(fixture.pool, { now: monthsAgo(20), ahead: 15 });
  // T keeps forever itself; only AUDIT_RETENTION_DAYS applies. 1..3 and the straggler 7 are 20 months
  // old, 4..5 19 months, 6 five months.
  const t = await createTeamRow(fixture.pool);
  await fixture.pool.query(`UPDATE teams SET audit_retention_days = 0 WHERE id = $1`, [t]);
  await ingestAuditBatch(fixture.pool, [ev(t, monthsAgo(20, 1)), ev(t, monthsAgo(20, 2)), ev(t, monthsAgo(20, 3))], { key });
  await ingestAuditBatch(fixture.pool, [ev(t, monthsAgo(19, 1)), ev(t, monthsAgo(19, 2)), ev(t, monthsAgo(5))], { key });
  const straggler = ev(t, monthsAgo(20, 20));
  await ingestAuditBatch(fixture.pool, [straggler], { key });
  // U's own retention (30 days) is shorter: its two-month-old event goes row by row.
  const u = await createTeamRow(fixture.pool);
  await fixture.pool.query(`UPDATE teams SET audit_retention_days = 30 WHERE id = $1`, [u]);
  await ingestAuditBatch(fixture.pool, [ev(u, monthsAgo(2)), ev(u, new Date(Date.now() - 60_000))], { key });

  // V keeps forever itself; its event is just past AUDIT_RETENTION_DAYS but in a month not wholly
  // expired: it waits for that month's DROP, it is not deleted row by row.
  const days = 400;
  const v = await createTeamRow(fixture.pool);
  await fixture.pool.query(`UPDATE teams SET audit_retention_days = 0 WHERE id = $1`, [v]);
  const waiting = ev(v, new Date(Date.now() - days * DAY - 60_000));
  await ingestAuditBatch(fixture.pool, [waiting], { key });

  const { logger, lines } = capturingLogger();
  const result = await auditRetention({ pool: fixture.pool, redis, retentionDays: days, chainKey: key, logger, chunkSize: 100 });
  const cutoff = Date.now() - days * DAY;
  const remaining = await listAuditPartitions(fixture.pool);
  expect(remaining.every((p) => p.to.getTime() > cutoff)).toBe(true);
  const names = remaining.map((p) => p.name);
  expect(names).not.toContain(partitionOf(monthsAgo(20)).name);
  expect(names).not.toContain(partitionOf(monthsAgo(19)).name);
  expect(names).toContain(partitionOf(monthsAgo(10)).name);

  const dropped = lines.filter((l) => l.msg === "audit partition dropped by retention");
  expect(dropped.find((l) => l.partition === partitionOf(monthsAgo(20)).name)).toMatchObject({ events: 3, stragglers: 1, anchorsMoved: 1, retentionDays: days });
  expect(dropped.find((l) => l.partition === partitionOf(monthsAgo(19)).name)).toMatchObject({ events: 2, stragglers: 0, anchorsMoved: 1 });
  expect(result).toMatchObject({ partitions: { created: [] }, pruned: { deleted: 1 } });

  const { rows } = await fixture.pool.query<{ seq: number; part: string }>(
    `SELECT seq::int, tableoid::regclass::text AS part FROM audit_events WHERE team_id = $1 ORDER BY seq`,
    [t],
  );
  expect(rows).toEqual([
    { seq: 6, part: partitionOf(monthsAgo(5)).name },
    { seq: 7, part: "audit_events_default" },
  ]);
  expect(await verifyAuditChain(fixture.pool, t, { key })).toMatchObject({ ok: true, checked: 2, prunedThroughSeq: "5" });
  expect(await verifyAuditChain(fixture.pool, u, { key })).toMatchObject({ ok: true, checked: 1, prunedThroughSeq: "1" });
  const { rows: kept } = await fixture.pool.query(`SELECT tableoid::regclass::text AS part FROM audit_events WHERE id = $1`, [waiting.id]);
  expect(kept).toEqual([{ part: partitionOf(new Date(waiting.time)).name }]);
});

test("a starting worker creates the coming months' partitions", async () => {
  const ahead = partitionOf(new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 3, 1)));
  await fixture.pool.query(`DROP TABLE IF EXISTS ${ahead.name}`);
  expect((await listAuditPartitions(fixture.pool)).map((p) => p.name)).not.toContain(ahead.name);
  let worker: RunningWorker | undefined;
  try {
    worker = await startWorker(fixture.env, { schedules: false, metricsServer: false });
    await waitFor(async () => (await listAuditPartitions(fixture.pool)).some((p) => p.name === ahead.name), 10_000, `partition ${ahead.name}`);
  } finally {
    await worker?.close();
  }
});
