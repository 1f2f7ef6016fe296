import { randomBytes, randomUUID } from "node:crypto";
import { configChangeEvent, parseAuditChainKey, readCheckpoint, readDivergedCheckpoints, recordConfigChange, verifyAuditChain } from "@portcullis/db/audit";
import { testRedisUrl } from "@portcullis/db/testing";
import { QUEUES, createRedis } from "@portcullis/jobs";
import { Queue, type Worker } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createMetrics } from "../src/metrics.js";
import { type AuditBatcher, createAuditWorker } from "../src/processors/audit-ingest.js";
import { auditQueue, countEvents, createTeamRow, createWorkerFixture, enqueueEvents, makeEvent, waitFor } from "./support.js";

// The audit worker as app.ts runs it, with a chain key and real Redis (checkpoints) and PostgreSQL.
let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let redis: Redis;
let queue: Queue;
let deadLetter: Queue;
let worker: Worker;
let batcher: AuditBatcher;
const metrics = createMetrics();
const key = parseAuditChainKey(randomBytes(32).toString("hex"));

beforeAll(async () => {
  fixture = await createWorkerFixture();
  redis = createRedis(testRedisUrl(), "worker");
  queue = auditQueue(testRedisUrl(), fixture.prefix);
  deadLetter = new Queue(QUEUES.auditDeadLetter, { connection: redis, prefix: fixture.prefix });
  ({ worker, batcher } = createAuditWorker({
    pool: fixture.pool,
    connection: redis,
    prefix: fixture.prefix,
    batchSize: 200,
    batchWaitMs: 10,
    writers: 2,
    metrics,
    deadLetter,
    chainKey: key,
    outboxEveryMs: 100,
  }));
});

afterAll(async () => {
  await worker?.close();
  await batcher?.drain();
  await queue?.obliterate({ force: true }).catch(() => {});
  await queue?.close();
  await deadLetter?.obliterate({ force: true }).catch(() => {});
  await deadLetter?.close();
  redis?.disconnect();
  await fixture?.close();
});

const storedCount = (teamId: string, n: number) => waitFor(async () => (await countEvents(fixture.pool, teamId)) >= n, 20_000, `${n} events stored`);

test("deleting the newest events and rewinding the head is caught by the checkpoint the worker keeps in Redis", async () => {
  const team = await createTeamRow(fixture.pool);
  await enqueueEvents(queue, Array.from({ length: 30 }, (_, i) => makeEvent(team, i)), 10);
  await storedCount(team, 30);
  const checkpoint = await waitFor(async () => {
    const c = await readCheckpoint(redis, team);
    return c?.seq === "30" ? c : undefined;
  }, 5000, "checkpoint at seq 30");
  expect(checkpoint.hash).toMatch(/^k1:/);
  expect(await verifyAuditChain(fixture.pool, team, { key, checkpoint })).toMatchObject({ ok: true, checked: 30, keyedFromSeq: "1" });

  await fixture.pool.query(`DELETE FROM audit_events WHERE team_id = $1 AND seq > 25`, [team]);
  await fixture.pool.query(
    `UPDATE audit_chain_heads SET last_seq = 25, last_hash = (SELECT hash FROM audit_events WHERE team_id = $1 AND seq = 25) WHERE team_id = $1`,
    [team],
  );
  expect(await verifyAuditChain(fixture.pool, team, { key })).toMatchObject({ ok: true });
  const verdict = await verifyAuditChain(fixture.pool, team, { key, checkpoint: await readCheckpoint(redis, team) });
  expect(verdict.ok).toBe(false);
  expect(verdict.firstBroken?.reason).toContain("events 26..30 are missing");

  // The gateway keeps serving: new events extend the rewound chain past the old checkpoint's seq. The
  // worker must not let that erase the evidence: it finds its checkpoint gone from the chain and keeps it.
  await enqueueEvents(queue, Array.from({ length: 20 }, (_, i) => makeEvent(team, 100 + i)), 10);
  await storedCount(team, 45);
  await waitFor(async () => (await readCheckpoint(redis, team))?.seq === "45", 5000, "checkpoint moved on to seq 45");
  const diverged = await readDivergedCheckpoints(redis, team);
  expect(diverged).toMatchObject([{ seq: "30", hash: checkpoint.hash }]);
  const later = await verifyAuditChain(fixture.pool, team, { key, checkpoint: await readCheckpoint(redis, team), diverged });
  expect(later).toMatchObject({ ok: false, firstBroken: { seq: "30", reason: expect.stringContaining("the chain was rewritten") } });
  expect(await metrics.registry.metrics()).toMatch(/portcullis_audit_chain_breaks_total [1-9]/);
});

test("a rewound head raises an alert and new events keep landing", async () => {
  const team = await createTeamRow(fixture.pool);
  await enqueueEvents(queue, Array.from({ length: 20 }, (_, i) => makeEvent(team, i)), 10);
  await storedCount(team, 20);
  await fixture.pool.query(
    `UPDATE audit_chain_heads SET last_seq = 12, last_hash = (SELECT hash FROM audit_events WHERE team_id = $1 AND seq = 12) WHERE team_id = $1`,
    [team],
  );
  const started = Date.now();
  await enqueueEvents(queue, Array.from({ length: 10 }, (_, i) => makeEvent(team, 100 + i)), 10);
  // 20 + the break event + 10: within seconds, not after minutes of failing batches.
  await storedCount(team, 31);
  expect(Date.now() - started).toBeLessThan(5000);
  const text = await metrics.registry.metrics();
  expect(text).toMatch(/portcullis_audit_chain_breaks_total [1-9]/);
  const { rows } = await fixture.pool.query(`SELECT seq::int FROM audit_events WHERE team_id = $1 AND kind = 'chain_break'`, [team]);
  expect(rows).toEqual([{ seq: 21 }]);
  expect(await verifyAuditChain(fixture.pool, team, { key })).toMatchObject({ ok: false, checked: 31, breaks: [{ seq: "21" }] });
  expect((await queue.getJobCounts("failed")).failed).toBe(0);
});

test("a configuration change committed with its transaction reaches the team's chain", async () => {
  const team = await createTeamRow(fixture.pool);
  const prisma = fixture.prisma();
  try {
    await prisma.$transaction(async (tx) => {
      await tx.team.update({ where: { id: team }, data: { auditRetentionDays: 7 } });
      await recordConfigChange(tx, {
        teamId: team,
        action: "team.retention.update",
        target: { type: "team", id: team, name: "t" },
        before: { auditRetentionDays: 90 },
        after: { auditRetentionDays: 7 },
        sourceIp: "203.0.113.9",
      }, key);
    });
  } finally {
    await prisma.$disconnect();
  }
  await storedCount(team, 1);
  const { rows } = await fixture.pool.query(`SELECT kind, tool, source_ip, detail FROM audit_events WHERE team_id = $1`, [team]);
  expect(rows[0]).toMatchObject({ kind: "config_change", tool: "team.retention.update", source_ip: "203.0.113.9" });
  expect(JSON.parse(rows[0].detail)).toMatchObject({ before: { auditRetentionDays: 90 }, after: { auditRetentionDays: 7 } });
  await waitFor(async () => (await fixture.pool.query(`SELECT 1 FROM audit_outbox WHERE team_id = $1`, [team])).rowCount === 0, 5000, "outbox drained");
  expect(await verifyAuditChain(fixture.pool, team, { key })).toMatchObject({ ok: true, checked: 1 });
});

test("a configuration change forged straight into the outbox is not chained", async () => {
  const team = await createTeamRow(fixture.pool);
  const forged = configChangeEvent({ teamId: team, action: "member.role.update", target: { type: "user", id: randomUUID() }, after: { role: "owner" } });
  await fixture.pool.query(`INSERT INTO audit_outbox (id, team_id, event) VALUES ($1, $2, $3)`, [forged.id, team, JSON.stringify(forged)]);
  // …nor one whose MAC belongs to another record.
  const other = configChangeEvent({ teamId: team, action: "team.delete", target: { type: "team", id: team } });
  await fixture.pool.query(`INSERT INTO audit_outbox (id, team_id, event, mac) VALUES ($1, $2, $3, $4)`, [other.id, team, JSON.stringify(other), "0".repeat(64)]);
  await waitFor(async () => (await fixture.pool.query(`SELECT 1 FROM audit_outbox WHERE team_id = $1`, [team])).rowCount === 0, 5000, "outbox drained");
  expect(await countEvents(fixture.pool, team)).toBe(0);
  const letters = await deadLetter.getJobs(["waiting"], 0, 100);
  const ours = letters.filter((j) => [forged.id, other.id].includes(j.id!));
  expect(ours).toHaveLength(2);
  for (const letter of ours) expect(letter.data.failedReason).toContain("not authenticated");
});

test("configuration changes and chain breaks are not accepted from the queue", async () => {
  const team = await createTeamRow(fixture.pool);
  const genuine = makeEvent(team, 1);
  const forgedChange = configChangeEvent({ teamId: team, action: "member.role.update", target: { type: "user", id: randomUUID() }, after: { role: "owner" } });
  const forgedBreak = { ...makeEvent(team, 2), kind: "chain_break" as const };
  // The forged change is sent exactly as a producer would put it on the queue (the db package's
  // event type is the looser one the worker accepts).
  await enqueueEvents(queue, [genuine, forgedChange as Parameters<typeof enqueueEvents>[1][number], forgedBreak]);
  await storedCount(team, 1);
  const ids = [forgedChange.id, forgedBreak.id];
  const letters = await waitFor(async () => {
    const found = (await deadLetter.getJobs(["waiting"], 0, 1000)).filter((j) => ids.includes(j.id!));
    return found.length === 2 ? found : undefined;
  }, 5000, "both forged events dead-lettered");
  for (const letter of letters) expect(letter.data.failedReason).toContain("only accepted from the worker's own sources");
  const { rows } = await fixture.pool.query(`SELECT id FROM audit_events WHERE team_id = $1`, [team]);
  expect(rows).toEqual([{ id: genuine.id }]);
});

test("a team deleted while its calls are in flight: every call keeps its record", async () => {
  const team = await createTeamRow(fixture.pool);
  const before = Array.from({ length: 1500 }, (_, i) => makeEvent(team, i));
  const after = Array.from({ length: 300 }, (_, i) => makeEvent(team, 5000 + i));
  await enqueueEvents(queue, before, 50);
  // Delete the team while the worker is storing its events (some stored, some queued, some in a batch).
  await waitFor(async () => (await countEvents(fixture.pool, team)) > 0, 20_000, "the first events stored", 5);
  await fixture.pool.query(`DELETE FROM teams WHERE id = $1`, [team]);
  await enqueueEvents(queue, after, 50);
  const ids = [...before, ...after].map((e) => e.id);
  await waitFor(
    async () => (await fixture.pool.query(`SELECT count(*)::int AS n FROM audit_orphans WHERE id = ANY($1::uuid[])`, [ids])).rows[0].n === ids.length,
    30_000,
    "every event kept in audit_orphans",
  );
  expect(await countEvents(fixture.pool, team)).toBe(0);
  expect((await queue.getJobCounts("failed")).failed).toBe(0);
  expect((await deadLetter.getJobs(["waiting"], 0, 1000)).filter((j) => ids.includes(j.id!))).toHaveLength(0);
});
