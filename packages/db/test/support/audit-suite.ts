import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { createMetadataDatabase, type TestDatabase } from "../../src/testing/index.js";

/**
 * A migrated metadata database and a pool on it for one audit suite (hooks registered here), plus a
 * way to make teams. The pool ignores idle clients ended by the database: the FORCE drop at the end
 * must not crash the run.
 */
export function auditSuiteDatabase(max = 4) {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createMetadataDatabase();
    pool = new pg.Pool({ connectionString: db.url, max });
    pool.on("error", () => {});
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });
  return {
    get db() {
      return db;
    },
    get pool() {
      return pool;
    },
    async team(): Promise<string> {
      const { rows } = await pool.query(`INSERT INTO teams (name, slug) VALUES ('t', $1) RETURNING id`, [randomUUID()]);
      return rows[0].id;
    },
  };
}
