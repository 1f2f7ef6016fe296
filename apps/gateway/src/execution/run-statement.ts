import type pg from "pg";
import { PipelinedStatement, type StatementResult } from "./pipelined-statement.js";

export interface RunOptions {
  sql: string;
  values: (string | null)[];
  readOnly: boolean;
  /** Roll back even a write (explain_query: EXPLAIN ANALYZE never changes data). */
  rollback?: boolean;
  statementTimeoutMs: number;
  /** Already quoted, comma-separated (policy's searchPathFor). */
  searchPath: string;
  maxRows: number;
  maxBytes: number;
}

export interface RunOutcome extends StatementResult {
  durationMs: number;
}

/**
 * Runs one checked statement on a pooled connection: reads in `BEGIN READ ONLY` and rolled back
 * (so even a session-level SET a checker missed disappears), writes in `BEGIN` + `COMMIT`; both with
 * `SET LOCAL statement_timeout` and a fixed `search_path`. All of it goes out as one pipelined write.
 */
export async function runStatement(pool: pg.Pool, options: RunOptions): Promise<RunOutcome> {
  const started = performance.now();
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const statement = new PipelinedStatement({
      preamble: [
        options.readOnly ? "BEGIN READ ONLY" : "BEGIN",
        `SET LOCAL statement_timeout = ${Math.floor(options.statementTimeoutMs)}`,
        `SET LOCAL search_path = ${options.searchPath}`,
      ],
      sql: options.sql,
      values: options.values,
      epilogue: options.readOnly || options.rollback ? "ROLLBACK" : "COMMIT",
      maxRows: options.maxRows,
      maxBytes: options.maxBytes,
    });
    void client.query(statement as unknown as pg.QueryConfig);
    const result = await statement.done;
    if (result.abandoned) {
      // Closed mid-message on purpose: nothing more can be read from this connection.
      broken = new Error("connection closed to abandon an oversized message");
    } else if (result.error) {
      if (result.error.fatal) broken = new Error(result.error.message);
      else await client.query("ROLLBACK");
    }
    return { ...result, durationMs: performance.now() - started };
  } catch (error) {
    broken = error as Error;
    throw error;
  } finally {
    // A connection that failed mid-protocol is destroyed, never handed to the next caller.
    client.release(broken);
  }
}
