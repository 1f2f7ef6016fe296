import { randomBytes, randomUUID } from "node:crypto";
import { ingestAuditBatch, verifyAuditChain } from "@portcullis/db/audit";
import { testRedisUrl } from "@portcullis/db/testing";
import { LAST_USED_HASH, QUEUES, REVOCATION_CHANNEL } from "@portcullis/jobs";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type RunningWorker, startWorker } from "../src/app.js";
import { applyAuditRetention, expireKeys, flushLastUsed, pruneOAuth, pruneSessions } from "../src/processors/housekeeping.js";
import { createTeamRow, createWorkerFixture, makeEvent, waitFor } from "./support.js";

// LAST_USED_HASH is one global key: this suite uses a Redis database of its own so that it cannot
// race a gateway suite writing the same key on the shared test Redis.
const REDIS_URL = `${testRedisUrl().replace(/\/\d*$/, "")}/9`;

let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let redis: Redis;
let teamId: string;
let userId: string;
let linkId: string;

const ago = (ms: number) => new Date(Date.now() - ms);
const DAY = 86_400_000;

async function apiKey(expiresAt: Date | null): Promise<string> {
  const { rows } = await fixture.pool.query(
    `INSERT INTO api_keys (team_id, link_id, user_id, name, prefix, hash, expires_at) VALUES ($1, $2, $3, 'k', $4, $5, $6) RETURNING id`,
    [teamId, linkId, userId, `pc_${randomBytes(4).toString("hex")}`, randomBytes(16).toString("hex"), expiresAt],
  );
  return rows[0].id;
}

beforeAll(async () => {
  fixture = await createWorkerFixture({}, REDIS_URL);
  redis = new Redis(REDIS_URL);
  teamId = await createTeamRow(fixture.pool);
  userId = (await fixture.pool.query(`INSERT INTO users (email) VALUES ($1) RETURNING id`, [`${randomUUID()}@example.com`])).rows[0].id;
  const connectionId = (
    await fixture.pool.query(
      `INSERT INTO connections (team_id, name, host, database, username, secret_ciphertext, secret_key_id) VALUES ($1, 'c', 'localhost', 'd', 'u', 'x', 'k') RETURNING id`,
      [teamId],
    )
  ).rows[0].id;
  linkId = (await fixture.pool.query(`INSERT INTO links (team_id, connection_id, name, scope) VALUES ($1, $2, 'l', '{}') RETURNING id`, [teamId, connectionId])).rows[0].id;
});

afterAll(async () => {
  await redis?.del(LAST_USED_HASH, `${LAST_USED_HASH}:flushing`);
  redis?.disconnect();
  await fixture?.close();
});

test("expired keys are marked revoked and announced to gateways; valid ones untouched", async () => {
  const expired = await apiKey(ago(60_000));
  const valid = await apiKey(new Date(Date.now() + DAY));
  const forever = await apiKey(null);
  const subscriber = new Redis(REDIS_URL);
  const messages: string[] = [];
  await subscriber.subscribe(REVOCATION_CHANNEL);
  subscriber.on("message", (_channel, message) => messages.push(message));
  try {
    expect(await expireKeys({ pool: fixture.pool, redis })).toEqual({ expired: 1 });
    await waitFor(async () => messages.length === 1, 5000, "the revocation message");
    expect(JSON.parse(messages[0]!)).toMatchObject({ kind: "api_key", apiKeyId: expired });
  } finally {
    subscriber.disconnect();
  }
  const { rows } = await fixture.pool.query(`SELECT id, revoked_at FROM api_keys WHERE id = ANY($1)`, [[expired, valid, forever]]);
  expect(rows.find((r) => r.id === expired).revoked_at).not.toBeNull();
  expect(rows.filter((r) => r.revoked_at === null)).toHaveLength(2);
});

test("last-used times flow from Redis to api_keys in batches, never moving backwards, none lost", async () => {
  const keys = await Promise.all(Array.from({ length: 30 }, () => apiKey(null)));
  const newer = new Date().toISOString();
  await fixture.pool.query(`UPDATE api_keys SET last_used_at = now() + interval '1 hour' WHERE id = $1`, [keys[0]]);
  for (const id of keys) await redis.hset(LAST_USED_HASH, id, newer);
  await redis.hset(LAST_USED_HASH, "not-a-uuid", newer);
  // A flush that crashed after renaming left its batch behind: it is finished first.
  await redis.hset(`${LAST_USED_HASH}:flushing`, keys[29]!, String(Date.now()));
  const result = await flushLastUsed({ pool: fixture.pool, redis, chunkSize: 7 });
  expect(result.updated).toBe(29);
  const { rows } = await fixture.pool.query(`SELECT count(*)::int AS n FROM api_keys WHERE id = ANY($1) AND last_used_at IS NOT NULL`, [keys]);
  expect(rows[0].n).toBe(30);
  expect(await redis.exists(LAST_USED_HASH, `${LAST_USED_HASH}:flushing`)).toBe(0);
  expect(await flushLastUsed({ pool: fixture.pool, redis })).toEqual({ updated: 0 });
});

test("expired and revoked sessions, and OAuth tokens a day past expiry, are pruned", async () => {
  const session = (expires: Date, revoked: Date | null) =>
    fixture.pool.query(`INSERT INTO sessions (user_id, expires_at, revoked_at) VALUES ($1, $2, $3) RETURNING id`, [userId, expires, revoked]).then((r) => r.rows[0].id);
  const live = await session(new Date(Date.now() + DAY), null);
  await session(ago(1000), null);
  await session(new Date(Date.now() + DAY), ago(2 * DAY));
  expect(await pruneSessions({ pool: fixture.pool, redis, chunkSize: 1 })).toEqual({ deleted: 2 });
  expect((await fixture.pool.query(`SELECT id FROM sessions`)).rows.map((r) => r.id)).toEqual([live]);

  const client = (await fixture.pool.query(`INSERT INTO oauth_clients (client_id, kind, name, redirect_uris, metadata) VALUES ($1, 'dynamic_registration', 'c', '{}', '{}') RETURNING id`, [randomUUID()])).rows[0].id;
  const grant = (await fixture.pool.query(`INSERT INTO oauth_grants (team_id, client_id, user_id, link_id) VALUES ($1, $2, $3, $4) RETURNING id`, [teamId, client, userId, linkId])).rows[0].id;
  const token = (expires: Date) =>
    fixture.pool.query(`INSERT INTO oauth_tokens (grant_id, kind, token_hash, expires_at) VALUES ($1, 'refresh', $2, $3)`, [grant, randomUUID(), expires]);
  await token(ago(2 * DAY));
  await token(ago(60_000)); // expired, but kept a day for refresh-token reuse detection
  await token(new Date(Date.now() + DAY));
  expect(await pruneOAuth({ pool: fixture.pool, redis })).toMatchObject({ tokens: 1 });
  expect((await fixture.pool.query(`SELECT count(*)::int AS n FROM oauth_tokens`)).rows[0].n).toBe(2);
});

test("audit retention removes each team's old events in chunks and keeps the chain verifiable", async () => {
  const team = await createTeamRow(fixture.pool);
  await fixture.pool.query(`UPDATE teams SET audit_retention_days = 30 WHERE id = $1`, [team]);
  const old = Array.from({ length: 120 }, (_, i) => ({ ...makeEvent(team, i), time: ago(40 * DAY - i).toISOString() }));
  const recent = Array.from({ length: 30 }, (_, i) => makeEvent(team, 500 + i));
  await ingestAuditBatch(fixture.pool, old as Parameters<typeof ingestAuditBatch>[1]);
  await ingestAuditBatch(fixture.pool, recent as Parameters<typeof ingestAuditBatch>[1]);
  const result = await applyAuditRetention({ pool: fixture.pool, redis, chunkSize: 25 });
  expect(result.deleted).toBe(120);
  expect(await verifyAuditChain(fixture.pool, team)).toMatchObject({ ok: true, checked: 30, prunedThroughSeq: "120" });
});

test("the housekeeping queue runs tasks through the worker", async () => {
  let worker: RunningWorker | undefined;
  const queue = new Queue(QUEUES.housekeeping, { connection: { url: REDIS_URL }, prefix: fixture.prefix });
  try {
    worker = await startWorker(fixture.env, { schedules: true, metricsServer: false });
    const schedulers = await queue.getJobSchedulers();
    expect(schedulers.map((s) => s.key ?? s.id).sort()).toEqual(
      ["housekeeping-audit_retention", "housekeeping-expire_keys", "housekeeping-flush_last_used", "housekeeping-prune_oauth", "housekeeping-prune_sessions"].sort(),
    );
    const key = await apiKey(null);
    await redis.hset(LAST_USED_HASH, key, new Date().toISOString());
    const job = await queue.add("flush_last_used", { task: "flush_last_used" });
    await waitFor(async () => (await job.getState()) === "completed", 10_000, "the housekeeping job");
    const { rows } = await fixture.pool.query(`SELECT last_used_at FROM api_keys WHERE id = $1`, [key]);
    expect(rows[0].last_used_at).not.toBeNull();
  } finally {
    await worker?.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
});
