import { randomBytes, randomUUID } from "node:crypto";
import { parseAuditChainKey, recordConfigChange, verifyAuditChain } from "@portcullis/db/audit";
import { testRedisUrl } from "@portcullis/db/testing";
import { QUEUES, createRedis } from "@portcullis/jobs";
import { Queue, type Worker } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type AuditBatcher, createAuditWorker } from "../src/processors/audit-ingest.js";
import { auditQueue, countEvents, createTeamRow, createWorkerFixture, enqueueEvents, makeEvent, waitFor } from "./support.js";

// Issue 15: events carry the write request (its creation, decision, execution) and the access grant
// they belong to, stored in their own columns and committed to by the chain. The worker as app.ts
// runs it: chain key, real Redis and PostgreSQL, the gateway's queue and the configuration outbox.
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

test("write request and access grant ids are stored and chained, from the gateway's queue and the config outbox; tampering with them breaks verification", async () => {
  const team = await createTeamRow(fixture.pool);
  const requestId = randomUUID();
  const grantId = randomUUID();
  const pending = { ...makeEvent(team, 1), verdict: "blocked" as const, ruleId: "approval_required", writeRequestId: requestId.toUpperCase() };
  const elevated = { ...makeEvent(team, 2), accessGrantId: grantId };
  const old = makeEvent(team, 3);
  await enqueueEvents(queue, [pending, elevated, old]);
  await waitFor(async () => (await countEvents(fixture.pool, team)) === 3, 20_000, "3 events stored");
  const prisma = fixture.prisma();
  try {
    await prisma.$transaction((tx) =>
      recordConfigChange(
        tx,
        {
          teamId: team,
          action: "write_request.approved",
          target: { type: "write_request", id: requestId },
          after: { status: "approved" },
          comment: "fine",
          via: "cli",
          writeRequestId: requestId,
        },
        key,
      ),
    );
  } finally {
    await prisma.$disconnect();
  }
  await waitFor(async () => (await countEvents(fixture.pool, team)) === 4, 20_000, "the decision chained");
  const { rows } = await fixture.pool.query(
    `SELECT id, kind, write_request_id::text AS wr, access_grant_id::text AS ag, detail FROM audit_events WHERE team_id = $1 ORDER BY seq`,
    [team],
  );
  expect(rows.map((r) => [r.kind, r.wr, r.ag])).toEqual([
    ["tool_call", requestId, null],
    ["tool_call", null, grantId],
    ["tool_call", null, null],
    ["config_change", requestId, null],
  ]);
  expect(JSON.parse(rows[3].detail)).toMatchObject({ action: "write_request.approved", comment: "fine" });
  expect(await verifyAuditChain(fixture.pool, team, { key })).toMatchObject({ ok: true, checked: 4 });

  const decision = rows[3].id as string;
  for (const [edit, id] of [
    [`UPDATE audit_events SET write_request_id = gen_random_uuid() WHERE id = $1`, pending.id],
    [`UPDATE audit_events SET write_request_id = NULL WHERE id = $1`, decision],
    [`UPDATE audit_events SET access_grant_id = NULL WHERE id = $1`, elevated.id],
    [`UPDATE audit_events SET write_request_id = '${requestId}' WHERE id = $1`, old.id],
  ] as const) {
    const before = (await fixture.pool.query(`SELECT write_request_id, access_grant_id FROM audit_events WHERE id = $1`, [id])).rows[0];
    await fixture.pool.query(edit, [id]);
    expect((await verifyAuditChain(fixture.pool, team, { key })).firstBroken, edit).toMatchObject({ id });
    await fixture.pool.query(`UPDATE audit_events SET write_request_id = $2, access_grant_id = $3 WHERE id = $1`, [id, before.write_request_id, before.access_grant_id]);
    expect(await verifyAuditChain(fixture.pool, team, { key })).toMatchObject({ ok: true });
  }
});

test("an event whose write request id is not a uuid is dead-lettered; its neighbours are stored", async () => {
  const team = await createTeamRow(fixture.pool);
  const good = { ...makeEvent(team, 1), writeRequestId: randomUUID() };
  const bad = [
    { ...makeEvent(team, 2), writeRequestId: "not-a-uuid" },
    { ...makeEvent(team, 3), accessGrantId: "1; DROP TABLE audit_events" },
  ];
  await enqueueEvents(queue, [good, ...(bad as unknown as (typeof good)[])]);
  const ids = bad.map((e) => e.id);
  await waitFor(async () => {
    const found = (await deadLetter.getJobs(["waiting"], 0, 1000)).filter((j) => ids.includes(j.id!));
    return found.length === bad.length ? found : undefined;
  }, 20_000, "the malformed events dead-lettered");
  const { rows } = await fixture.pool.query(`SELECT id FROM audit_events WHERE team_id = $1`, [team]);
  expect(rows).toEqual([{ id: good.id }]);
});
