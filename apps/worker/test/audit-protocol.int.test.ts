import { randomBytes } from "node:crypto";
import { parseAuditChainKey, verifyAuditChain } from "@portcullis/db/audit";
import { testRedisUrl } from "@portcullis/db/testing";
import { QUEUES, createRedis } from "@portcullis/jobs";
import { Queue, type Worker } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type AuditBatcher, createAuditWorker } from "../src/processors/audit-ingest.js";
import { auditQueue, countEvents, createTeamRow, createWorkerFixture, enqueueEvents, enqueueSingleEvents, makeEvent, waitFor } from "./support.js";

// Issue 13: audit events carry the MCP revision and W3C trace id. The worker as app.ts runs it (chain
// key, real Redis and PostgreSQL), fed through BullMQ the way the gateway feeds it.
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

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

test("the revision and trace id are stored, chained, and events without them (older gateways) still ingest", async () => {
  const team = await createTeamRow(fixture.pool);
  const modern = { ...makeEvent(team, 1), protocolVersion: "2026-07-28" as const, traceId: TRACE };
  const legacy = { ...makeEvent(team, 2), protocolVersion: "2025-03-26" as const };
  const playground = { ...makeEvent(team, 3), protocolVersion: "playground" as const, clientName: "portcullis-playground", clientVersion: null };
  // An event as a gateway from before issue 13 produced it: no such keys at all.
  const old = makeEvent(team, 4);
  expect("protocolVersion" in old).toBe(false);
  await enqueueEvents(queue, [modern, legacy, playground]);
  // …and the single-event job shape (dead-letter replays, older gateways).
  await enqueueSingleEvents(queue, [old]);
  await waitFor(async () => (await countEvents(fixture.pool, team)) === 4, 20_000, "4 events stored");

  const { rows } = await fixture.pool.query(`SELECT id, protocol_version, trace_id FROM audit_events WHERE team_id = $1`, [team]);
  const byId = new Map(rows.map((r) => [r.id, r]));
  expect(byId.get(modern.id)).toMatchObject({ protocol_version: "2026-07-28", trace_id: TRACE });
  expect(byId.get(legacy.id)).toMatchObject({ protocol_version: "2025-03-26", trace_id: null });
  expect(byId.get(playground.id)).toMatchObject({ protocol_version: "playground", trace_id: null });
  expect(byId.get(old.id)).toMatchObject({ protocol_version: null, trace_id: null });
  expect(await verifyAuditChain(fixture.pool, team, { key })).toMatchObject({ ok: true, checked: 4 });

  // The fields are part of what the chain commits to: editing either is caught.
  await fixture.pool.query(`UPDATE audit_events SET protocol_version = '2025-11-25' WHERE id = $1`, [modern.id]);
  const edited = await verifyAuditChain(fixture.pool, team, { key });
  expect(edited.ok).toBe(false);
  expect(edited.firstBroken).toMatchObject({ id: modern.id });
  await fixture.pool.query(`UPDATE audit_events SET protocol_version = '2026-07-28', trace_id = NULL WHERE id = $1`, [modern.id]);
  expect((await verifyAuditChain(fixture.pool, team, { key })).firstBroken).toMatchObject({ id: modern.id });
  // Setting one on a row that never had it (claiming an old event came from a modern client) too.
  await fixture.pool.query(`UPDATE audit_events SET trace_id = $2 WHERE id = $1`, [modern.id, TRACE]);
  expect(await verifyAuditChain(fixture.pool, team, { key })).toMatchObject({ ok: true });
  await fixture.pool.query(`UPDATE audit_events SET protocol_version = '2026-07-28' WHERE id = $1`, [old.id]);
  expect((await verifyAuditChain(fixture.pool, team, { key })).firstBroken).toMatchObject({ id: old.id });
});

test("a revision or trace id outside the contract is dead-lettered with the reason; its batch neighbours are stored", async () => {
  const team = await createTeamRow(fixture.pool);
  const good = { ...makeEvent(team, 1), protocolVersion: "2025-11-25" as const, traceId: TRACE };
  const bad = [
    { ...makeEvent(team, 2), protocolVersion: "2024-11-05" },
    { ...makeEvent(team, 3), protocolVersion: "2026-07-28\n forged line" },
    { ...makeEvent(team, 4), traceId: TRACE.toUpperCase() },
    { ...makeEvent(team, 5), traceId: "0".repeat(32) },
    { ...makeEvent(team, 6), traceId: `${TRACE}00` },
  ];
  await enqueueEvents(queue, [good, ...(bad as unknown as (typeof good)[])]);
  const ids = bad.map((e) => e.id);
  const letters = await waitFor(async () => {
    const found = (await deadLetter.getJobs(["waiting"], 0, 1000)).filter((j) => ids.includes(j.id!));
    return found.length === bad.length ? found : undefined;
  }, 20_000, "the malformed events dead-lettered");
  for (const letter of letters) expect(letter.data.failedReason).toMatch(/invalid audit event: .*(protocolVersion|traceId)/);
  const { rows } = await fixture.pool.query(`SELECT id, protocol_version, trace_id FROM audit_events WHERE team_id = $1`, [team]);
  expect(rows).toEqual([{ id: good.id, protocol_version: "2025-11-25", trace_id: TRACE }]);
});
