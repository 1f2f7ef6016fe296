import { randomBytes, randomUUID } from "node:crypto";
import { createPrismaClient } from "@portcullis/db/client";
import { generateSecretKey } from "@portcullis/db/secrets";
import { createMetadataDatabase, testRedisUrl, type TestDatabase } from "@portcullis/db/testing";
import type { AuditEventInput } from "@portcullis/jobs";
import { AUDIT_JOBS, QUEUES, auditBatchJobs } from "@portcullis/jobs";
import { Queue } from "bullmq";
import pg from "pg";
import { type WorkerEnv, workerEnvSchema } from "../src/env.js";

export const SECRET_KEYS = generateSecretKey("test");

/** A fresh metadata database, a Redis key prefix of its own, and a worker environment for both. */
export async function createWorkerFixture(extra: Record<string, string> = {}, redisUrl = testRedisUrl()) {
  // The test targets (Chinook copies) live on the loopback test cluster, next to the metadata
  // databases, as the test cluster's superuser: what these operator settings exist to allow. The
  // worker checks every target against them when it opens a session (refusals: packages/db tests).
  process.env.TARGET_NETWORKS = "any";
  process.env.TARGET_STACK_DATABASES = "*";
  process.env.TARGET_ALLOW_POWERFUL_ROLES = "true";
  const db = await createMetadataDatabase();
  const prefix = `t${randomBytes(4).toString("hex")}`;
  const env: WorkerEnv = workerEnvSchema.parse({
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl,
    PORTCULLIS_SECRET_KEYS: SECRET_KEYS,
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: "silent",
    WORKER_METRICS_PORT: "0",
    WORKER_METRICS_HOST: "127.0.0.1",
    ...extra,
  });
  const pool = new pg.Pool({ connectionString: db.url, max: 3 });
  return {
    db,
    env,
    prefix,
    pool,
    prisma: () => createPrismaClient(db.url),
    async close() {
      await pool.end();
      await db.drop();
    },
  };
}

export async function createTeamRow(pool: pg.Pool, name = `team-${randomBytes(3).toString("hex")}`): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(`INSERT INTO teams (name, slug) VALUES ($1, $1) RETURNING id`, [name]);
  return rows[0]!.id;
}

const TOOLS = ["execute_sql", "list_tables", "describe_table", "get_schema", "explain_query", "get_permissions"];

/** An audit event as the gateway produces it (realistic cardinalities: few links, keys, users). */
export function makeEvent(teamId: string, i = 0, ids?: { links: string[]; keys: string[] }): AuditEventInput {
  const link = ids?.links[i % ids.links.length] ?? null;
  return {
    id: randomUUID(),
    time: new Date().toISOString(),
    teamId,
    kind: "tool_call",
    linkId: link,
    apiKeyId: ids?.keys[i % ids.keys.length] ?? null,
    clientName: "cursor",
    clientVersion: "1.7.0",
    tool: TOOLS[i % TOOLS.length]!,
    sql: `SELECT c.id, c.email FROM customer c JOIN invoice i ON i.customer_id = c.id WHERE i.total > ${i % 997} LIMIT ${(i % 50) + 1}`,
    fingerprint: `fp${i % 300}`,
    tables: ["public.customer", "public.invoice"],
    verdict: i % 10 === 0 ? "blocked" : "allowed",
    ruleId: i % 10 === 0 ? "hidden_column" : null,
    durationMs: (i % 100) / 7,
    rows: i % 50,
    bytes: 100 + (i % 4000),
    sourceIp: "127.0.0.1",
    requestId: randomUUID(),
  };
}

/** Enqueues events exactly as the gateway does: batch jobs of up to 200 events (its flush size). */
export async function enqueueEvents(queue: Queue, events: AuditEventInput[], perJob = 200): Promise<void> {
  const jobs = auditBatchJobs(events, perJob).map((job) => ({
    ...job,
    opts: { ...job.opts, attempts: 10, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: true, removeOnFail: false },
  }));
  for (let i = 0; i < jobs.length; i += 100) await queue.addBulk(jobs.slice(i, i + 100));
}

/** One job per event, job id = event id: how dead-letter replays (and earlier gateways) enqueue. */
export async function enqueueSingleEvents(queue: Queue, events: AuditEventInput[], chunk = 5000): Promise<void> {
  for (let i = 0; i < events.length; i += chunk) {
    await queue.addBulk(
      events.slice(i, i + chunk).map((event) => ({
        name: AUDIT_JOBS.event,
        data: event,
        opts: { jobId: event.id, attempts: 10, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: true, removeOnFail: false },
      })),
    );
  }
}

export function auditQueue(redisUrl: string, prefix: string): Queue {
  return new Queue(QUEUES.audit, { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix });
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs: number, what: string, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function countEvents(pool: pg.Pool, teamId?: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    teamId ? `SELECT count(*)::text AS n FROM audit_events WHERE team_id = $1` : `SELECT count(*)::text AS n FROM audit_events`,
    teamId ? [teamId] : [],
  );
  return Number(rows[0]!.n);
}

export type { TestDatabase };
