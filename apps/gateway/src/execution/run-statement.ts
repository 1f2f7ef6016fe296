import pg from "pg";
import { PipelinedStatement, type StatementResult } from "./pipelined-statement.js";

export interface RunOptions {
  sql: string;
  /** Text-format values; Buffers go in binary format (bytea). */
  values: (string | Buffer | null)[];
  readOnly: boolean;
  /** Fetch to the end even past the caps, for the command tag's count (rows beyond are dropped). */
  readAll?: boolean;
  /**
   * VACUUM / ANALYZE (the policy's class "utility"): VACUUM refuses to run in a transaction block and in
   * a pipeline, so the statement goes alone, after session-level SETs that are reset before release.
   */
  outsideTransaction?: boolean;
  /** Roll back even a write (explain_query: EXPLAIN ANALYZE never changes data). */
  rollback?: boolean;
  statementTimeoutMs: number;
  /** Already quoted, comma-separated (policy's searchPathFor). */
  searchPath: string;
  maxRows: number;
  maxBytes: number;
  /** Aborted when the caller went away: the running statement is cancelled in the database. */
  signal?: AbortSignal;
  /**
   * The cost gate (issue 15): this statement (EXPLAIN of `sql`, same values) runs first, in the same
   * transaction (READ ONLY for reads; a plain EXPLAIN of a write executes nothing); `sql` runs only when
   * `proceed` says so. One extra round trip.
   */
  preflight?: { sql: string; proceed(result: StatementResult): boolean };
  /**
   * A statement that goes out right before `sql` and again right before the COMMIT, in the same pipelined
   * write (after the preflight when there is one), and fails when the transaction must not commit: an
   * error there skips what follows up to the Sync (the statement, or the COMMIT) and the caller rolls
   * back; the outcome carries that error. Not with `client`.
   */
  guard?: string;
  /**
   * Run inside this client's open transaction (the approval dry run, issue 15) instead of a pooled one:
   * between `SAVEPOINT` and `ROLLBACK TO SAVEPOINT`, so nothing it does outlives the step, under the
   * transaction's own timeout and search path. The client is not released; one left unusable is
   * reported by `error.fatal` / `abandoned` (its owner then destroys it). No preflight here.
   */
  client?: pg.PoolClient;
}

const STEP_SAVEPOINT = "portcullis_step";

export interface RunOutcome extends StatementResult {
  durationMs: number;
  /** The preflight's result when one ran; `stopped`: it said no (or failed), so the statement did not run. */
  preflight?: { result: StatementResult; stopped: boolean; durationMs: number };
}

/**
 * Runs one checked statement on a pooled connection: reads in `BEGIN READ ONLY` and rolled back
 * (so even a session-level SET a checker missed disappears), writes in `BEGIN` + `COMMIT`; both with
 * `SET LOCAL statement_timeout` and a fixed `search_path`. All of it goes out as one pipelined write.
 */
export async function runStatement(pool: pg.Pool, options: RunOptions): Promise<RunOutcome> {
  if (options.outsideTransaction) return runAlone(pool, options);
  const started = performance.now();
  const held = options.client;
  const client = held ?? (await pool.connect());
  let broken: Error | undefined;
  try {
    const preamble = held
      ? [`SAVEPOINT ${STEP_SAVEPOINT}`]
      : [
          options.readOnly ? "BEGIN READ ONLY" : "BEGIN",
          `SET LOCAL statement_timeout = ${Math.floor(options.statementTimeoutMs)}`,
          `SET LOCAL search_path = ${options.searchPath}`,
        ];
    let preflight: RunOutcome["preflight"];
    if (options.preflight && !held) {
      preflight = await runPreflight(client, pool, options, preamble, { ...options.preflight, values: options.values });
      if (preflight.result.abandoned || preflight.result.error?.fatal) broken = new Error("preflight connection closed");
      if (preflight.stopped) {
        if (!broken) await client.query("ROLLBACK");
        return { ...preflight.result, preflight, durationMs: performance.now() - started };
      }
      // The transaction is open: the statement goes out without its own preamble.
      preamble.length = 0;
    }
    if (options.guard && !held) preamble.push(options.guard);
    const statement = new PipelinedStatement({
      preamble,
      sql: options.sql,
      values: options.values,
      epilogue: held ? `ROLLBACK TO SAVEPOINT ${STEP_SAVEPOINT}` : options.readOnly || options.rollback ? "ROLLBACK" : "COMMIT",
      ...(options.guard && !held ? { beforeEpilogue: options.guard } : {}),
      maxRows: options.maxRows,
      maxBytes: options.maxBytes,
      readAll: options.readAll === true,
    });
    void client.query(statement as unknown as pg.QueryConfig);
    const canceller = options.signal ? cancelOnAbort(pool, client, options.signal) : undefined;
    let result: Awaited<typeof statement.done>;
    try {
      result = await statement.done;
    } finally {
      // Every cancel already sent is waited for while this backend is still ours: one landing after the
      // release would cancel whatever the next caller runs on it.
      await canceller?.stop();
    }
    if (result.abandoned) {
      // Closed mid-message on purpose: nothing more can be read from this connection.
      broken = new Error("connection closed to abandon an oversized message");
    } else if (result.error) {
      if (result.error.fatal) broken = new Error(result.error.message);
      else await client.query(held ? `ROLLBACK TO SAVEPOINT ${STEP_SAVEPOINT}` : "ROLLBACK");
    }
    return { ...result, ...(preflight ? { preflight } : {}), durationMs: performance.now() - started };
  } catch (error) {
    broken = error as Error;
    throw error;
  } finally {
    // A connection that failed mid-protocol is destroyed, never handed to the next caller.
    if (!held) client.release(broken);
  }
}

/**
 * The transaction's preamble and the preflight statement in one pipelined exchange, leaving the
 * transaction open. The epilogue is an empty statement (Sync only, nothing runs): the COMMIT/ROLLBACK
 * comes with the statement that follows, or from the caller when the preflight stops it.
 */
async function runPreflight(
  client: pg.PoolClient,
  pool: pg.Pool,
  options: RunOptions,
  preamble: string[],
  step: { sql: string; values: (string | Buffer | null)[]; proceed(result: StatementResult): boolean },
): Promise<NonNullable<RunOutcome["preflight"]>> {
  const started = performance.now();
  const statement = new PipelinedStatement({
    preamble,
    sql: step.sql,
    values: step.values,
    epilogue: "",
    maxRows: 10,
    maxBytes: PREFLIGHT_MAX_BYTES,
  });
  void client.query(statement as unknown as pg.QueryConfig);
  const canceller = options.signal ? cancelOnAbort(pool, client, options.signal) : undefined;
  let result: StatementResult;
  try {
    result = await statement.done;
  } finally {
    await canceller?.stop();
  }
  const stopped = result.error !== null || result.abandoned || !step.proceed(result);
  return { result, stopped, durationMs: performance.now() - started };
}

/** A plan of a statement the policy accepted fits in far less; a bigger one is refused, not read. */
const PREFLIGHT_MAX_BYTES = 4 * 1024 * 1024;

const EMPTY: Omit<StatementResult, "command" | "error"> = {
  columns: [],
  rowsJson: [],
  rowCount: 0,
  commandRowCount: null,
  truncated: false,
  truncatedBy: null,
  bytes: 0,
  oversizedRowBytes: null,
  abandoned: false,
};

/**
 * One statement outside any transaction block: SET (session) the link's statement timeout and search
 * path, run it on its own (its own Sync: not pipelined, which VACUUM also refuses), then RESET both
 * before the connection goes back to the pool, whatever happened. A connection whose RESET fails is
 * destroyed rather than handed on with our settings.
 */
async function runAlone(pool: pg.Pool, options: RunOptions): Promise<RunOutcome> {
  const started = performance.now();
  const client = await pool.connect();
  let broken: Error | undefined;
  const canceller = options.signal ? cancelOnAbort(pool, client, options.signal) : undefined;
  try {
    await client.query(`SET statement_timeout = ${Math.floor(options.statementTimeoutMs)}`);
    await client.query(`SET search_path = ${options.searchPath}`);
    let result: StatementResult;
    try {
      const r = await client.query({ text: options.sql, values: options.values as unknown[] });
      result = { ...EMPTY, command: r.command ?? null, commandRowCount: r.rowCount ?? null, error: null };
    } catch (error) {
      const e = error as { message: string; code?: string; position?: string; detail?: string; hint?: string };
      const fatal = typeof e.code !== "string" || !/^[0-9A-Z]{5}$/.test(e.code);
      result = {
        ...EMPTY,
        command: null,
        error: { message: e.message, code: e.code, position: e.position ? Number(e.position) : undefined, detail: e.detail, hint: e.hint, fatal },
      };
      if (fatal) broken = error as Error;
    } finally {
      await canceller?.stop();
    }
    if (!broken) await client.query("RESET statement_timeout; RESET search_path");
    return { ...result, durationMs: performance.now() - started };
  } catch (error) {
    broken = error as Error;
    throw error;
  } finally {
    client.release(broken);
  }
}

/**
 * A client that went away before its answer cancels its statement (2026-07-28: closing the response
 * stream is cancellation), so a runaway join stops holding a connection and locks; the statement then
 * fails with 57014 and rolls back. The cancel goes over a connection of its own, never through the pool:
 * queued behind the very statements it should relieve, it could run after this backend was handed to
 * another caller and cancel theirs. Repeated each second while the statement runs (at most 5 times):
 * PostgreSQL drops a cancel that lands between the pipelined messages of the statement (seen: one in ~5
 * right after it started). `stop()` sends no more and resolves once the ones sent have finished.
 */
const CANCEL_RETRY_MS = 1_000;
const CANCEL_ATTEMPTS = 5;

function cancelOnAbort(pool: pg.Pool, client: pg.PoolClient, signal: AbortSignal): { stop(): Promise<void> } {
  const pid = (client as unknown as { processID?: number }).processID;
  if (pid === undefined) return { stop: async () => {} };
  let timer: NodeJS.Timeout | undefined;
  let attempts = 0;
  let finished = false;
  const sent: Promise<void>[] = [];
  const cancel = () => {
    if (finished) return;
    attempts++;
    sent.push(cancelBackend(pool, pid));
    if (attempts < CANCEL_ATTEMPTS) timer = setTimeout(cancel, CANCEL_RETRY_MS);
  };
  if (signal.aborted) cancel();
  else signal.addEventListener("abort", cancel, { once: true });
  return {
    async stop() {
      finished = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", cancel);
      await Promise.all(sent);
    },
  };
}

/** pg_cancel_backend over a fresh connection with the pool's own settings (address, credentials, TLS). */
async function cancelBackend(pool: pg.Pool, pid: number): Promise<void> {
  const options = (pool as unknown as { options: pg.ClientConfig }).options;
  // pg keeps the pool's password non-enumerable: a spread alone would drop it.
  const client = new pg.Client({ ...options, password: options.password, connectionTimeoutMillis: 5_000 });
  // Best effort: the statement timeout still bounds the statement.
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT pg_cancel_backend($1)", [pid]);
  } catch {
    // unreachable target, or the backend is gone already
  } finally {
    await client.end().catch(() => {});
  }
}
