import { randomBytes } from "node:crypto";
import { parseAuditChainKey, verifyAuditChain } from "@portcullis/db/audit";
import { testRedisUrl } from "@portcullis/db/testing";
import { QUEUES, createRedis } from "@portcullis/jobs";
import { Queue, type Worker } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type AuditBatcher, createAuditWorker } from "../src/processors/audit-ingest.js";
import { auditQueue, countEvents, createTeamRow, createWorkerFixture, enqueueEvents, enqueueSingleEvents, makeEvent, waitFor } from "./support.js";

// Issue 14: audit events carry the statement that ran when the policy rewrote the caller's, and the
// names of the member attributes it bound. The worker as app.ts runs it (chain key, real Redis and
// PostgreSQL), fed through BullMQ the way the gateway feeds it.
let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let redis: Redis;
let queue: Queue;
let deadLetter: Queue;
let worker: Worker;
let batcher: AuditBatcher;
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
    deadLetter,
    chainKey: key,
    outboxEveryMs: 60_000,
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

const REWRITTEN = "SELECT customer_id FROM (SELECT customer_id FROM public.customer WHERE support_rep_id = CAST($1 AS int) OFFSET 0) AS customer";

test("the rewritten statement and attribute names are stored and chained; events without them still ingest", async () => {
  const team = await createTeamRow(fixture.pool);
  const governed = { ...makeEvent(team, 1), rewrittenSql: REWRITTEN, attributeNames: ["rep_id", "region"] };
  const catalogOnly = { ...makeEvent(team, 2), rewrittenSql: REWRITTEN, protocolVersion: "2026-07-28" as const };
  const old = makeEvent(team, 3);
  await enqueueEvents(queue, [governed, catalogOnly]);
  await enqueueSingleEvents(queue, [old]);
  await waitFor(async () => (await countEvents(fixture.pool, team)) === 3, 20_000, "3 events stored");
  const { rows } = await fixture.pool.query(`SELECT id, rewritten_sql, attribute_names FROM audit_events WHERE team_id = $1`, [team]);
  const byId = new Map(rows.map((r) => [r.id, r]));
  expect(byId.get(governed.id)).toMatchObject({ rewritten_sql: REWRITTEN, attribute_names: ["rep_id", "region"] });
  expect(byId.get(catalogOnly.id)).toMatchObject({ rewritten_sql: REWRITTEN, attribute_names: [] });
  expect(byId.get(old.id)).toMatchObject({ rewritten_sql: null, attribute_names: [] });
  expect(await verifyAuditChain(fixture.pool, team, { key })).toMatchObject({ ok: true, checked: 3 });

  // Both are committed to: a changed rewritten text, a removed name, or a name added to an old row is caught.
  for (const [edit, id] of [
    [`UPDATE audit_events SET rewritten_sql = 'SELECT 1' WHERE id = $1`, governed.id],
    [`UPDATE audit_events SET attribute_names = '{rep_id}' WHERE id = $1`, governed.id],
    [`UPDATE audit_events SET attribute_names = '{rep_id}' WHERE id = $1`, old.id],
  ] as const) {
    const before = (await fixture.pool.query(`SELECT rewritten_sql, attribute_names FROM audit_events WHERE id = $1`, [id])).rows[0];
    await fixture.pool.query(edit, [id]);
    expect((await verifyAuditChain(fixture.pool, team, { key })).firstBroken, edit).toMatchObject({ id });
    await fixture.pool.query(`UPDATE audit_events SET rewritten_sql = $2, attribute_names = $3 WHERE id = $1`, [id, before.rewritten_sql, before.attribute_names]);
    expect(await verifyAuditChain(fixture.pool, team, { key })).toMatchObject({ ok: true });
  }
});

test("attribute names outside the rule, or a rewritten text over the cap, are dead-lettered; neighbours stored", async () => {
  const team = await createTeamRow(fixture.pool);
  const good = { ...makeEvent(team, 1), rewrittenSql: REWRITTEN, attributeNames: ["rep_id"] };
  const bad = [
    { ...makeEvent(team, 2), attributeNames: ["Rep-Id"] },
    { ...makeEvent(team, 3), attributeNames: ["rep_id\n forged"] },
    { ...makeEvent(team, 4), attributeNames: "rep_id" },
    { ...makeEvent(team, 5), rewrittenSql: "x".repeat(100_001) },
  ];
  await enqueueEvents(queue, [good, ...(bad as unknown as (typeof good)[])]);
  const ids = bad.map((e) => e.id);
  const letters = await waitFor(async () => {
    const found = (await deadLetter.getJobs(["waiting"], 0, 1000)).filter((j) => ids.includes(j.id!));
    return found.length === bad.length ? found : undefined;
  }, 20_000, "the malformed events dead-lettered");
  for (const letter of letters) expect(letter.data.failedReason).toMatch(/invalid audit event: .*(attributeNames|rewrittenSql)/);
  const { rows } = await fixture.pool.query(`SELECT id, attribute_names FROM audit_events WHERE team_id = $1`, [team]);
  expect(rows).toEqual([{ id: good.id, attribute_names: ["rep_id"] }]);
});
