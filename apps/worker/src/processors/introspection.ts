import type { SecretKeyring } from "@portcullis/db/secrets";
import { DESCRIPTIONS_JOB, INTROSPECTION_JOB, INTROSPECT_ALL_JOB, enqueue, enqueueBulk, parseJob, scheduledIntrospectionJobId } from "@portcullis/jobs";
import type { IntrospectionJob } from "@portcullis/jobs";
import { UnrecoverableError, type Job, type Queue } from "bullmq";
import type pg from "pg";
import type { Logger } from "../logger.js";
import { loadConnection, openConnectionRoute } from "../schema/connections.js";
import { type SchemaDiff, diffSnapshots } from "../schema/diff.js";
import { type SchemaSnapshotDoc, takeSnapshot } from "../schema/snapshot.js";

/** Snapshots kept per connection; older ones are deleted as new ones arrive. */
export const SNAPSHOTS_KEPT = 30;
/** Job name of the scheduled fan-out (one introspection job per connection). */
export const INTROSPECT_ALL = INTROSPECT_ALL_JOB.name;

export interface IntrospectionDeps {
  pool: pg.Pool;
  keyring: SecretKeyring;
  /** Where to queue descriptions for new tables (absent: none are queued). */
  descriptions?: Queue;
  logger?: Logger;
}

export interface IntrospectionResult {
  snapshotId: string;
  tableCount: number;
  diff: SchemaDiff;
}

export async function latestSnapshot(pool: pg.Pool, connectionId: string): Promise<SchemaSnapshotDoc | null> {
  const { rows } = await pool.query<{ snapshot: SchemaSnapshotDoc }>(
    `SELECT snapshot FROM schema_snapshots WHERE connection_id = $1 ORDER BY taken_at DESC, id DESC LIMIT 1`,
    [connectionId],
  );
  return rows[0]?.snapshot ?? null;
}

/** Takes a snapshot of a connection's database, stores it with its diff against the previous one. */
export async function introspectConnection(deps: IntrospectionDeps, job: IntrospectionJob): Promise<IntrospectionResult> {
  const connection = await loadConnection(deps.pool, job.connectionId);
  if (!connection) throw new UnrecoverableError(`connection ${job.connectionId} no longer exists`);
  const previous = await latestSnapshot(deps.pool, connection.id);
  const route = await openConnectionRoute(connection, deps.keyring);
  let snapshot: SchemaSnapshotDoc;
  try {
    snapshot = await takeSnapshot(route.config);
  } finally {
    await route.close();
  }
  const diff = diffSnapshots(previous, snapshot);
  const { rows } = await deps.pool.query<{ id: string }>(
    `INSERT INTO schema_snapshots (connection_id, snapshot, diff, table_count) VALUES ($1, $2, $3, $4) RETURNING id`,
    [connection.id, JSON.stringify(snapshot), JSON.stringify(diff), snapshot.tables.length],
  );
  await deps.pool.query(
    `DELETE FROM schema_snapshots WHERE connection_id = $1 AND id NOT IN (
       SELECT id FROM schema_snapshots WHERE connection_id = $1 ORDER BY taken_at DESC, id DESC LIMIT ${SNAPSHOTS_KEPT})`,
    [connection.id],
  );
  // A new connection gets descriptions for everything; later, only tables that appeared.
  const toDescribe = diff.initial ? undefined : diff.tablesAdded;
  if (deps.descriptions && (toDescribe === undefined || toDescribe.length > 0)) {
    await enqueue(deps.descriptions, DESCRIPTIONS_JOB, { connectionId: connection.id, ...(toDescribe ? { tables: toDescribe } : {}) });
  }
  deps.logger?.info({ connectionId: connection.id, reason: job.reason, tables: snapshot.tables.length, summary: diff.summary }, "schema snapshot stored");
  return { snapshotId: rows[0]!.id, tableCount: snapshot.tables.length, diff };
}

/** The processor of QUEUES.introspection: one connection per job, or the scheduled fan-out. */
export function introspectionProcessor(deps: IntrospectionDeps & { introspection: Queue }) {
  return async (job: Job): Promise<unknown> => {
    if (job.name === INTROSPECT_ALL) {
      const { rows } = await deps.pool.query<{ id: string }>(`SELECT id FROM connections ORDER BY created_at`);
      const now = new Date();
      await enqueueBulk(
        deps.introspection,
        INTROSPECTION_JOB,
        rows.map((r) => ({ data: { connectionId: r.id, reason: "scheduled" } satisfies IntrospectionJob, extras: { jobId: scheduledIntrospectionJobId(r.id, now) } })),
      );
      return { queued: rows.length };
    }
    const parsed = parseJob(INTROSPECTION_JOB, job);
    if (!parsed.success) throw new UnrecoverableError(`invalid introspection job: ${parsed.error.message}`);
    return introspectConnection(deps, parsed.data);
  };
}
