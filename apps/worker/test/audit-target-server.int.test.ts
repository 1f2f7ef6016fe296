import { randomBytes } from "node:crypto";
import { parseAuditChainKey, verifyAuditChain } from "@portcullis/db/audit";
import { testRedisUrl } from "@portcullis/db/testing";
import { QUEUES, createRedis } from "@portcullis/jobs";
import { Queue, type Worker } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type AuditBatcher, createAuditWorker } from "../src/processors/audit-ingest.js";
import { auditQueue, countEvents, createTeamRow, createWorkerFixture, enqueueEvents, makeEvent, waitFor } from "./support.js";

// Issue 17: events name the link's database and the server that ran the statement ("primary" or a
// replica), stored in their own columns and committed to by the chain only when present, so events
// written before (and events without them) verify as they did.
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
  ({ worker, batcher } = createAuditWorker({ pool: fixture.pool, connection: redis, prefix: fixture.prefix, batchSize: 200, batchWaitMs: 10, writers: 2, deadLetter, chainKey: key }));
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

test("database name and target server are stored and chained; old-shape events still verify; tampering breaks verification", async () => {
  const team = await createTeamRow(fixture.pool);
  const onReplica = { ...makeEvent(team, 1), databaseName: "sales", targetServer: "replica1" };
  const onPrimary = { ...makeEvent(team, 2), databaseName: "sales", targetServer: "primary" };
  const serverOnly = { ...makeEvent(team, 3), targetServer: "primary" };
  const old = makeEvent(team, 4);
  await enqueueEvents(queue, [onReplica, onPrimary, serverOnly, old]);
  await waitFor(async () => (await countEvents(fixture.pool, team)) === 4, 20_000, "4 events stored");
  const { rows } = await fixture.pool.query(`SELECT id, database_name, target_server FROM audit_events WHERE team_id = $1 ORDER BY seq`, [team]);
  expect(rows.map((r) => [r.id, r.database_name, r.target_server])).toEqual([
    [onReplica.id, "sales", "replica1"],
    [onPrimary.id, "sales", "primary"],
    [serverOnly.id, null, "primary"],
    [old.id, null, null],
  ]);
  expect(await verifyAuditChain(fixture.pool, team, { key })).toMatchObject({ ok: true, checked: 4 });

  for (const [edit, id] of [
    [`UPDATE audit_events SET target_server = 'primary' WHERE id = $1`, onReplica.id],
    [`UPDATE audit_events SET target_server = NULL WHERE id = $1`, serverOnly.id],
    [`UPDATE audit_events SET database_name = 'other' WHERE id = $1`, onPrimary.id],
    [`UPDATE audit_events SET target_server = 'replica1' WHERE id = $1`, old.id],
  ] as const) {
    const before = (await fixture.pool.query(`SELECT database_name, target_server FROM audit_events WHERE id = $1`, [id])).rows[0];
    await fixture.pool.query(edit, [id]);
    expect((await verifyAuditChain(fixture.pool, team, { key })).firstBroken, edit).toMatchObject({ id });
    await fixture.pool.query(`UPDATE audit_events SET database_name = $2, target_server = $3 WHERE id = $1`, [id, before.database_name, before.target_server]);
    expect(await verifyAuditChain(fixture.pool, team, { key })).toMatchObject({ ok: true });
  }
});

test("an over-long target server or database name is dead-lettered; its neighbours are stored", async () => {
  const team = await createTeamRow(fixture.pool);
  const good = { ...makeEvent(team, 1), targetServer: "replica-eu-1" };
  const bad = [
    { ...makeEvent(team, 2), targetServer: "r".repeat(101) },
    { ...makeEvent(team, 3), databaseName: "d".repeat(101) },
  ];
  await enqueueEvents(queue, [good, ...bad]);
  const ids = bad.map((e) => e.id);
  await waitFor(async () => {
    const found = (await deadLetter.getJobs(["waiting"], 0, 1000)).filter((j) => ids.includes(j.id!));
    return found.length === bad.length ? found : undefined;
  }, 20_000, "the malformed events dead-lettered");
  const { rows } = await fixture.pool.query(`SELECT id, target_server FROM audit_events WHERE team_id = $1`, [team]);
  expect(rows).toEqual([{ id: good.id, target_server: "replica-eu-1" }]);
});
