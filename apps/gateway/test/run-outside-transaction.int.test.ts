import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createChinookDatabase, type TestDatabase } from "@portcullis/db/testing";
import { runStatement } from "../src/execution/run-statement.js";

/**
 * VACUUM / ANALYZE (class "utility") run outside any transaction block and outside a pipeline, with the
 * link's statement timeout and search path set on the session and reset before the connection is
 * reused. One pooled connection, so what the next caller gets is observable.
 */
let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createChinookDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 1 });
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

const base = { values: [], readOnly: false, statementTimeoutMs: 1234, searchPath: '"public"', maxRows: 10, maxBytes: 1_000_000 };

test("VACUUM runs alone and leaves the session as it found it; inside the pipeline it would fail", async () => {
  const before = (await pool.query("SELECT current_setting('statement_timeout') AS t, current_setting('search_path') AS p")).rows[0];
  const inside = await runStatement(pool, { ...base, sql: "VACUUM album" });
  expect(inside.error?.message).toMatch(/VACUUM cannot run inside a transaction block|cannot be executed within a pipeline/);

  const alone = await runStatement(pool, { ...base, sql: "VACUUM (ANALYZE) album", outsideTransaction: true });
  expect(alone.error).toBeNull();
  expect(alone.command).toBe("VACUUM");
  const stats = await pool.query("SELECT last_vacuum IS NOT NULL AS vacuumed FROM pg_stat_user_tables WHERE relname = 'album'");
  expect(stats.rows[0].vacuumed).toBe(true);
  expect((await pool.query("SELECT current_setting('statement_timeout') AS t, current_setting('search_path') AS p")).rows[0]).toEqual(before);

  // The link's timeout applies to it, and a failure resets the session too.
  const slow = await runStatement(pool, { ...base, sql: "ANALYZE album, pg_sleep", outsideTransaction: true });
  expect(slow.error?.code).toBe("42P01");
  const timed = await runStatement(pool, { ...base, statementTimeoutMs: 50, sql: "SELECT pg_sleep(1)", outsideTransaction: true });
  expect(timed.error?.code).toBe("57014");
  expect((await pool.query("SELECT current_setting('statement_timeout') AS t, current_setting('search_path') AS p")).rows[0]).toEqual(before);
});
