import { QUEUES, type DescriptionsJob, type IntrospectionJob, descriptionsJobSchema, introspectionJobSchema } from "@portcullis/jobs";
import { Queue } from "bullmq";
import type pg from "pg";

/**
 * The demo connection gets its schema snapshot and descriptions the way a connection added in the
 * dashboard does: an introspection job on the worker's queue (whose first snapshot queues the
 * descriptions job). Idempotent across re-seeds: a job already waiting or running is left alone
 * (fixed job ids), a connection that has its snapshot is not introspected again, and only tables
 * still without a description are queued for one; stored human edits are never overwritten by the
 * worker in any case.
 */
export interface QueueDemoOptions {
  redisUrl: string;
  /** The worker's QUEUE_PREFIX. */
  prefix: string;
  log?: (line: string) => void;
}

export type DemoQueueOutcome = "introspection-queued" | "descriptions-queued" | "already-queued" | "complete";

// The options the dashboard's producers use (@portcullis/worker/enqueue), which this package cannot import.
const INTROSPECTION_OPTIONS = { attempts: 3, backoff: { type: "exponential", delay: 10_000 }, removeOnComplete: { count: 500 }, removeOnFail: { count: 500 } } as const;
const DESCRIPTIONS_OPTIONS = { attempts: 3, backoff: { type: "exponential", delay: 30_000 }, removeOnComplete: { count: 200 }, removeOnFail: { count: 500 } } as const;
const PENDING = new Set(["waiting", "active", "delayed", "prioritized", "waiting-children"]);

/**
 * The offline describer's current version, as the worker stores it in schema_descriptions.model
 * (apps/worker/src/describe/offline-describer.ts; a test holds the two equal). Tables described by an
 * earlier one (model NULL: the describer that repeated column types) are described again.
 */
export const OFFLINE_DESCRIBER_VERSION = "offline-2";

/**
 * Tables of the latest snapshot without a current table description ("schema.table"): none yet, or
 * one by an earlier offline describer. Null: no snapshot.
 */
export async function undescribedTables(pool: pg.Pool | pg.Client, connectionId: string): Promise<string[] | null> {
  const { rows } = await pool.query<{ key: string | null; described: boolean }>(
    `WITH latest AS (
       SELECT snapshot FROM schema_snapshots WHERE connection_id = $1 ORDER BY taken_at DESC, id DESC LIMIT 1
     ), tables AS (
       SELECT t->>'schema' AS schema_name, t->>'name' AS table_name FROM latest, jsonb_array_elements(latest.snapshot->'tables') t
     )
     SELECT tables.schema_name || '.' || tables.table_name AS key,
            EXISTS (SELECT 1 FROM schema_descriptions d WHERE d.connection_id = $1 AND d.schema_name = tables.schema_name
                    AND d.table_name = tables.table_name AND d.column_name = ''
                    AND (d.source <> 'heuristic' OR d.model IS NOT DISTINCT FROM $2)) AS described
     FROM tables
     UNION ALL SELECT NULL, true FROM latest
     ORDER BY 1`,
    [connectionId, OFFLINE_DESCRIBER_VERSION],
  );
  if (rows.length === 0) return null;
  return rows.filter((r) => r.key !== null && !r.described).map((r) => r.key!);
}

/** Whether a job for this connection is waiting or running in the queue (whoever added it). */
async function pendingFor(queue: Queue, connectionId: string): Promise<boolean> {
  const jobs = await queue.getJobs(["waiting", "active", "delayed", "prioritized", "waiting-children"], 0, 999);
  return jobs.some((job) => (job?.data as { connectionId?: unknown } | undefined)?.connectionId === connectionId);
}

/**
 * Adds a job under a fixed id unless a job for the same connection is still pending in that queue;
 * a finished or failed one under the same id is replaced (BullMQ would ignore the add otherwise).
 */
async function addOnce(queue: Queue, name: string, jobId: string, data: { connectionId: string }, opts: object): Promise<boolean> {
  if (await pendingFor(queue, data.connectionId)) return false;
  const existing = await queue.getJob(jobId);
  if (existing && !PENDING.has(await existing.getState())) await existing.remove();
  await queue.add(name, data, { ...opts, jobId });
  return true;
}

export async function queueDemoSchemaJobs(pool: pg.Pool | pg.Client, connectionId: string, options: QueueDemoOptions): Promise<DemoQueueOutcome> {
  const log = options.log ?? (() => {});
  const missing = await undescribedTables(pool, connectionId);
  if (missing && missing.length === 0) return "complete";
  // One attempt, no reconnection: a Redis that is down fails this call at once (and lets the seed
  // process exit) instead of retrying in the background.
  const connection = { url: options.redisUrl, maxRetriesPerRequest: 1, connectTimeout: 5000, retryStrategy: () => null };
  const introspection = new Queue(QUEUES.introspection, { prefix: options.prefix, connection });
  const descriptions = new Queue(QUEUES.descriptions, { prefix: options.prefix, connection });
  // Connection errors reach the caller through the failed commands; unhandled, they would also be thrown.
  for (const queue of [introspection, descriptions]) queue.on("error", () => {});
  try {
    // A pending descriptions job takes the first snapshot itself when there is none.
    if (await pendingFor(descriptions, connectionId)) return "already-queued";
    if (missing === null) {
      const data: IntrospectionJob = introspectionJobSchema.parse({ connectionId, reason: "created" });
      const added = await addOnce(introspection, "introspect", `demo-introspect-${connectionId}`, data, INTROSPECTION_OPTIONS);
      if (added) log("queued the demo's schema snapshot and descriptions");
      return added ? "introspection-queued" : "already-queued";
    }
    const data: DescriptionsJob = descriptionsJobSchema.parse({ connectionId, tables: missing });
    const added = await addOnce(descriptions, "describe", `demo-describe-${connectionId}`, data, DESCRIPTIONS_OPTIONS);
    if (added) log(`queued descriptions for ${missing.length} demo table(s) without one`);
    return added ? "descriptions-queued" : "already-queued";
  } finally {
    await Promise.all([introspection.close(), descriptions.close()]).catch(() => {});
  }
}
