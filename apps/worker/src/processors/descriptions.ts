import type { SecretKeyring } from "@portcullis/db/secrets";
import { pinTargetSession } from "@portcullis/db/target";
import { DESCRIPTIONS_JOB, parseJob, type DescriptionsProgress } from "@portcullis/jobs";
import { UnrecoverableError, type Job } from "bullmq";
import { loadCatalog } from "@portcullis/policy";
import { isGoverned, parseScope } from "@portcullis/policy/scope";
import pg from "pg";
import type { ColumnStats, Describer, Referrer, TableContext, TableDescription } from "../describe/types.js";
import type { Logger } from "../logger.js";
import { type ConnectionRecord, loadConnection, openConnectionRoute } from "../schema/connections.js";
import { type SchemaSnapshotDoc, type TableSnapshot, tableKey } from "../schema/snapshot.js";
import { sampleableColumns } from "../schema/visibility.js";
import { backoffDelay, sleep } from "../retry.js";
import { introspectConnection, latestSnapshot } from "./introspection.js";

/** Shown by the dashboard while a descriptions job runs (BullMQ job progress); the contract is in @portcullis/jobs. */
export type { DescriptionsProgress };

export interface DescriptionsDeps {
  pool: pg.Pool;
  keyring: SecretKeyring;
  describer: Describer;
  logger?: Logger;
  /** Sample values per column sent to the model (opted-in connections only). */
  samplesPerColumn?: number;
  /** Attempts per table before the job fails (then BullMQ's own attempts, if the job has any). */
  tableAttempts?: number;
  /** First retry delay (ms), doubled each time. */
  retryBaseMs?: number;
}

/**
 * A provider's 429, timeout or malformed answer is usually transient: retried here with backoff, per
 * table, so one bad answer does not restart the whole connection (and whatever the producer's job
 * options). The final error names the table and the cause, for the dashboard.
 */
async function describeWithRetries(
  deps: DescriptionsDeps,
  context: TableContext,
  key: string,
  onRetry: (message: string) => Promise<void>,
): Promise<TableDescription> {
  const attempts = deps.tableAttempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await deps.describer.describe(context);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (attempt >= attempts) throw new Error(`describing ${key} failed after ${attempts} attempt(s): ${message}`);
      deps.logger?.warn({ table: key, attempt, err: message }, "description attempt failed; retrying");
      await onRetry(`attempt ${attempt}: ${message}`);
      await sleep(backoffDelay(attempt - 1, deps.retryBaseMs ?? 2000, 60_000));
    }
  }
}

const SAMPLE_ROWS = 20;
const SAMPLE_MAX_CHARS = 60;
// Binary and large structured values tell a model little and may carry anything: never sampled.
const UNSAMPLED_TYPES = /^(bytea|json|jsonb|xml|tsvector|tsquery|oid|geometry|geography)|\[\]$/;

/** Who points at each table, built once per job: per table it would be quadratic in a large schema. */
export function referrersIndex(snapshot: SchemaSnapshotDoc): Map<string, Referrer[]> {
  const index = new Map<string, Referrer[]>();
  for (const other of snapshot.tables) {
    for (const fk of other.foreignKeys) {
      const key = `${fk.references.schema}.${fk.references.table}`;
      let list = index.get(key);
      if (!list) index.set(key, (list = []));
      list.push({ schema: other.schema, table: other.name, columns: fk.columns, references: fk.references.columns });
    }
  }
  return index;
}

const STATS_VALUES = 5;
/** At most this many distinct values: the offline describer lists them (offline-describer.ts). */
const LISTABLE_DISTINCT = 12;
const STATS_MAX_CHARS = 24;

/**
 * What the planner's statistics say about the allowed columns (distinct counts, most common values).
 * Same conditions as samples: opted-in connections, columns no link hides, masks or row-filters.
 */
async function readStats(client: pg.Client, table: TableSnapshot, columns: string[]): Promise<Record<string, ColumnStats>> {
  if (columns.length === 0) return {};
  await client.query("BEGIN READ ONLY");
  try {
    await client.query("SET LOCAL statement_timeout = 5000");
    const { rows } = await client.query<{ attname: string; n_distinct: number | null; mcv: string[] | null; bounds: string[] | null }>(
      `SELECT attname, n_distinct, (most_common_vals::text)::text[] AS mcv, (histogram_bounds::text)::text[] AS bounds
       FROM pg_stats WHERE schemaname = $1 AND tablename = $2 AND attname = ANY($3::text[]) AND NOT inherited`,
      [table.schema, table.name, columns],
    );
    await client.query("COMMIT");
    const stats: Record<string, ColumnStats> = {};
    for (const row of rows) {
      // Values that are all distinct have no "most common" ones; in a small table the histogram's
      // bounds are then every value.
      const nd = row.n_distinct == null ? null : Number(row.n_distinct);
      const distinct = nd == null ? null : nd > 0 ? nd : Math.round(-nd * (table.rowEstimate ?? Infinity));
      const source = row.mcv?.length ? row.mcv : distinct != null && distinct <= LISTABLE_DISTINCT && (row.bounds?.length ?? 0) === distinct ? row.bounds : [];
      const values = (source ?? [])
        .filter((v) => v != null && v.length <= STATS_MAX_CHARS && !/[\r\n]/.test(v))
        .slice(0, STATS_VALUES);
      stats[row.attname] = { nDistinct: nd, commonValues: values };
    }
    return stats;
  } catch {
    // Statistics are a nicety, like samples.
    await client.query("ROLLBACK").catch(() => {});
    return {};
  }
}

/**
 * A few distinct values of the allowed columns, read in a READ ONLY transaction with a short
 * statement timeout. Only ever called for connections that opted in, with columns no link hides.
 */
async function readSamples(client: pg.Client, table: TableSnapshot, columns: string[], perColumn: number): Promise<Record<string, string[]>> {
  if (columns.length === 0 || (table.kind !== "table" && table.kind !== "partitioned_table")) return {};
  const list = columns.map((c) => pg.escapeIdentifier(c)).join(", ");
  const from = `${pg.escapeIdentifier(table.schema)}.${pg.escapeIdentifier(table.name)}`;
  await client.query("BEGIN READ ONLY");
  try {
    await client.query("SET LOCAL statement_timeout = 5000");
    const { rows } = await client.query(`SELECT ${list} FROM ${from} LIMIT ${SAMPLE_ROWS}`);
    await client.query("COMMIT");
    const samples: Record<string, string[]> = {};
    for (const column of columns) {
      const values = new Set<string>();
      for (const row of rows) {
        const v = row[column];
        if (v == null) continue;
        const text = v instanceof Date ? v.toISOString() : String(v);
        values.add(text.length > SAMPLE_MAX_CHARS ? `${text.slice(0, SAMPLE_MAX_CHARS)}…` : text);
        if (values.size >= perColumn) break;
      }
      if (values.size) samples[column] = [...values];
    }
    return samples;
  } catch {
    // Samples are a nicety: a slow or unreadable table is described without them.
    await client.query("ROLLBACK").catch(() => {});
    return {};
  }
}

/**
 * Stores a table's descriptions. Human edits (source 'human') are never overwritten, and the offline
 * describer never replaces an AI description (a provider outage must not degrade the catalog).
 */
export async function storeDescriptions(
  pool: pg.Pool,
  connectionId: string,
  table: TableSnapshot,
  description: TableDescription,
  source: "ai" | "heuristic",
  model: string | null,
): Promise<void> {
  const known = new Set(table.columns.map((c) => c.name));
  const columns = new Map<string, string>();
  for (const c of description.columns) if (known.has(c.name) && !columns.has(c.name)) columns.set(c.name, c.description.trim());
  const names = ["", ...columns.keys()];
  const texts = [description.table.trim(), ...columns.values()];
  await pool.query(
    `INSERT INTO schema_descriptions (connection_id, schema_name, table_name, column_name, description, source, model, updated_at)
     SELECT $1, $2, $3, u.c, u.d, $6::"DescriptionSource", $7, now() FROM unnest($4::text[], $5::text[]) AS u(c, d)
     ON CONFLICT (connection_id, schema_name, table_name, column_name) DO UPDATE
       SET description = EXCLUDED.description, source = EXCLUDED.source, model = EXCLUDED.model,
           updated_by_id = NULL, updated_at = now()
       WHERE schema_descriptions.source <> 'human'
         AND NOT (schema_descriptions.source = 'ai' AND EXCLUDED.source = 'heuristic')`,
    [connectionId, table.schema, table.name, names, texts, source, model],
  );
}

/** The processor of QUEUES.descriptions: one model call per table, progress after each. */
export function descriptionsProcessor(deps: DescriptionsDeps) {
  return async (job: Job): Promise<{ described: number; tables: number }> => {
    const parsed = parseJob(DESCRIPTIONS_JOB, job);
    if (!parsed.success) throw new UnrecoverableError(`invalid descriptions job: ${parsed.error.message}`);
    const connection = await loadConnection(deps.pool, parsed.data.connectionId);
    if (!connection) throw new UnrecoverableError(`connection ${parsed.data.connectionId} no longer exists`);

    let snapshot = await latestSnapshot(deps.pool, connection.id);
    if (!snapshot) {
      await introspectConnection({ pool: deps.pool, keyring: deps.keyring }, { connectionId: connection.id, reason: "on_demand" });
      snapshot = await latestSnapshot(deps.pool, connection.id);
    }
    if (!snapshot) throw new Error("no schema snapshot could be taken");
    const wanted = parsed.data.tables ? new Set(parsed.data.tables.map((t) => (t.includes(".") ? t : `public.${t}`))) : null;
    const tables = snapshot.tables.filter((t) => !wanted || wanted.has(tableKey(t)));

    const previous = job.progress as Partial<DescriptionsProgress> | number | undefined;
    const completed = new Set(typeof previous === "object" && previous && Array.isArray(previous.completed) ? previous.completed : []);
    const progress: DescriptionsProgress = {
      total: tables.length,
      done: completed.size,
      current: null,
      completed: [...completed],
      source: deps.describer.source,
      model: deps.describer.model,
    };
    await job.updateProgress(progress);

    const referrers = referrersIndex(snapshot);
    const scopes = connection.sampleValuesOptIn ? await linkScopes(deps.pool, connection.id) : [];
    const target = connection.sampleValuesOptIn ? await openTarget(connection, deps) : null;
    // Row filters, masks and what a governed table passes to its children and views are decided on the
    // target's own catalog (the policy's); without it, a connection with a governing link is not sampled.
    const catalog = target && governsAnything(scopes) ? await loadCatalog(target).catch(() => undefined) : undefined;
    try {
      for (const table of tables) {
        const key = tableKey(table);
        if (completed.has(key)) continue;
        progress.current = key;
        await job.updateProgress(progress);
        const allowed = target
          ? [...sampleableColumns(scopes, table, table.columns.map((c) => c.name), catalog)].filter(
              (name) => !UNSAMPLED_TYPES.test(table.columns.find((c) => c.name === name)?.type ?? "bytea"),
            )
          : [];
        const pointing = referrers.get(key) ?? [];
        const context: TableContext = {
          table,
          referencedBy: pointing.map((r) => `${r.schema}.${r.table}(${r.columns.join(", ")})`),
          referrers: pointing,
          samples: target ? await readSamples(target, table, allowed, deps.samplesPerColumn ?? 3) : {},
          stats: target ? await readStats(target, table, allowed) : {},
        };
        const description = await describeWithRetries(deps, context, key, async (lastError) => {
          progress.lastError = lastError;
          await job.updateProgress(progress);
        });
        delete progress.lastError;
        await storeDescriptions(deps.pool, connection.id, table, description, deps.describer.source, deps.describer.model);
        completed.add(key);
        progress.completed = [...completed];
        progress.done = completed.size;
        progress.current = null;
        await job.updateProgress(progress);
      }
    } finally {
      await target?.end().catch(() => {});
    }
    return { described: progress.done, tables: tables.length };
  };
}

async function linkScopes(pool: pg.Pool, connectionId: string): Promise<unknown[]> {
  const { rows } = await pool.query<{ scope: unknown }>(`SELECT scope FROM links WHERE connection_id = $1`, [connectionId]);
  return rows.map((r) => r.scope);
}

function governsAnything(scopes: readonly unknown[]): boolean {
  return scopes.some((raw) => {
    const parsed = parseScope(raw);
    return parsed.ok && Object.values(parsed.scope.tables).some((rule) => isGoverned(rule));
  });
}

async function openTarget(connection: ConnectionRecord, deps: DescriptionsDeps): Promise<pg.Client | null> {
  let client: pg.Client | undefined;
  let route: Awaited<ReturnType<typeof openConnectionRoute>> | undefined;
  try {
    // Inside the try: a target the operator's policy refuses is as unreachable as a dead one.
    route = await openConnectionRoute(connection, deps.keyring);
    client = new pg.Client(route.config);
    // The route (an SSH chain, if any) lives as long as this one session.
    const opened = route;
    client.once("end", () => void opened.close());
    // Held across AI calls: a target that dies meanwhile emits 'error', which unheard would end the
    // worker. The next sample query fails and is handled there.
    const connectionId = connection.id;
    client.on("error", (error) => deps.logger?.warn({ connectionId, err: error.message }, "target connection lost while describing"));
    await client.connect();
    await pinTargetSession(client);
    return client;
  } catch (error) {
    void client?.end().catch(() => {});
    void route?.close();
    deps.logger?.warn({ connectionId: connection.id, err: error }, "target unreachable: describing without sample values");
    return null;
  }
}
