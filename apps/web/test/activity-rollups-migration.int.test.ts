import { randomUUID } from "node:crypto";
import { cp, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, test } from "vitest";
import { DEFAULT_MIGRATIONS_DIR, migrate } from "@portcullis/db/migrate";
import { createEmptyDatabase } from "@portcullis/db/testing";

/**
 * Migration 20261210100400_audit_rollups_proportionate on a populated install: the dropped slices'
 * rows go, the kept ones stay exactly as they were (nothing refolded: a big install must not stall on
 * a refold), and ingestion and deletes after it keep the kept slices equal to the events without
 * writing a dropped slice again.
 */
const MIGRATION = "20261210100400_audit_rollups_proportionate";
const KEPT = ["", "l", "m", "t"];
const KEPT_TABLES = ["", "l"];
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function migrationsBefore(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "pc-rollups-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  for (const name of await readdir(DEFAULT_MIGRATIONS_DIR)) {
    if (name < MIGRATION) await cp(path.join(DEFAULT_MIGRATIONS_DIR, name), path.join(dir, name), { recursive: true });
  }
  return dir;
}

const insert = (pool: pg.Pool, teamId: string, count: number, seq0: number) =>
  pool.query(
    `INSERT INTO audit_events (id, team_id, time, seq, link_id, api_key_id, user_id, client_name, tool, sql, tables, verdict, rule_id, duration_ms, prev_hash, hash,
                               kind, protocol_version, target_server, database_name)
     SELECT gen_random_uuid(), $1::uuid, now() - random() * interval '3 days', $2::bigint + g,
            (ARRAY[$3::uuid, $4::uuid])[1 + g % 2], gen_random_uuid(), (ARRAY[$4::uuid, $3::uuid, NULL])[1 + g % 3],
            (ARRAY['cursor', 'claude-code'])[1 + g % 2], (ARRAY['execute_sql', 'describe_table', 'list_tables'])[1 + g % 3],
            'SELECT 1', CASE WHEN g % 3 = 0 THEN ARRAY['public.a', 'public.b'] ELSE ARRAY['public.a'] END,
            (CASE WHEN g % 10 = 0 THEN 'blocked' WHEN g % 17 = 0 THEN 'error' ELSE 'allowed' END)::"AuditVerdict",
            CASE WHEN g % 10 = 0 THEN 'rule_' || (g % 3) END, 0.05 + (g % 200) * 0.37, '', '',
            'tool_call', '2026-07-28', (ARRAY['primary', 'replica1'])[1 + g % 2], 'main'
       FROM generate_series(1, $5::int) g`,
    [teamId, seq0, randomUUID(), randomUUID(), count],
  );

/** Each kept slice summed per value and verdict (and per table), as a GROUP BY of the events gives it. */
async function differences(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query(`
    WITH r AS (SELECT team_id, dim, val, verdict, lb, sum(n)::bigint AS n FROM audit_rollups GROUP BY 1, 2, 3, 4, 5),
    e AS (
      SELECT team_id, d.dim, d.val, verdict, CASE WHEN verdict = 'allowed' THEN audit_latency_bucket(duration_ms) ELSE -1::smallint END AS lb, count(*)::bigint AS n
        FROM audit_events CROSS JOIN LATERAL (VALUES ('', ''), ('l', link_id::text), ('m', user_id::text), ('t', tool)) d(dim, val)
       WHERE d.val IS NOT NULL GROUP BY 1, 2, 3, 4, 5),
    rt AS (SELECT team_id, dim, val, table_name, sum(n)::bigint AS n FROM audit_rollup_tables GROUP BY 1, 2, 3, 4),
    et AS (
      SELECT team_id, d.dim, d.val, x AS table_name, count(*)::bigint AS n FROM audit_events
        CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(tables) x) u CROSS JOIN LATERAL (VALUES ('', ''), ('l', link_id::text)) d(dim, val)
       WHERE d.val IS NOT NULL GROUP BY 1, 2, 3, 4)
    SELECT (SELECT count(*) FROM ((SELECT * FROM r EXCEPT SELECT * FROM e) UNION ALL (SELECT * FROM e EXCEPT SELECT * FROM r)) x)
         + (SELECT count(*) FROM ((SELECT * FROM rt EXCEPT SELECT * FROM et) UNION ALL (SELECT * FROM et EXCEPT SELECT * FROM rt)) y) AS differ`);
  return Number(rows[0].differ);
}

const digest = async (pool: pg.Pool, table: string, dims: string[]) =>
  (await pool.query(`SELECT count(*)::int AS n, md5(string_agg(to_jsonb(r)::text, '|' ORDER BY to_jsonb(r)::text)) AS d FROM ${table} r WHERE dim = ANY($1)`, [dims])).rows[0];
const dimsOf = async (pool: pg.Pool, table: string) => (await pool.query(`SELECT DISTINCT dim FROM ${table} ORDER BY 1`)).rows.map((r) => r.dim as string);

describe(`migration ${MIGRATION}`, () => {
  test("prunes the dropped slices, keeps the others untouched, and later writes fold only the kept slices", async () => {
    const db = await createEmptyDatabase("rollmig");
    cleanup.push(() => db.drop());
    await migrate(db.url, { migrationsDir: await migrationsBefore() });
    const pool = new pg.Pool({ connectionString: db.url, max: 3 });
    cleanup.push(() => pool.end());
    const team = async () => (await pool.query(`INSERT INTO teams (name, slug) VALUES ('t', $1) RETURNING id`, [randomUUID()])).rows[0].id as string;
    const [a, b] = [await team(), await team()];
    await Promise.all([insert(pool, a, 1500, 0), insert(pool, b, 700, 0)]);
    // The previous fold wrote every slice.
    expect(await dimsOf(pool, "audit_rollups")).toEqual(["", "c", "d", "k", "l", "m", "o", "s", "t", "v"]);
    const kept = await digest(pool, "audit_rollups", KEPT);
    const keptTables = await digest(pool, "audit_rollup_tables", KEPT_TABLES);
    expect(kept.n).toBeGreaterThan(0);

    const result = await migrate(db.url);
    expect(result.applied).toContain(MIGRATION);
    expect(await dimsOf(pool, "audit_rollups")).toEqual(KEPT);
    expect(await dimsOf(pool, "audit_rollup_tables")).toEqual(KEPT_TABLES);
    // Not refolded: the kept rows are the very rows that were there.
    expect(await digest(pool, "audit_rollups", KEPT)).toEqual(kept);
    expect(await digest(pool, "audit_rollup_tables", KEPT_TABLES)).toEqual(keptTables);
    expect(await differences(pool)).toBe(0);

    // Ingestion and a delete at once, after the migration: still exact, no dropped slice written again.
    await Promise.all([insert(pool, a, 800, 10_000), pool.query(`DELETE FROM audit_events WHERE team_id = $1 AND seq % 5 = 0`, [b])]);
    expect(await differences(pool)).toBe(0);
    expect(await dimsOf(pool, "audit_rollups")).toEqual(KEPT);
    expect(await dimsOf(pool, "audit_rollup_tables")).toEqual(KEPT_TABLES);
  }, 120_000);
});
