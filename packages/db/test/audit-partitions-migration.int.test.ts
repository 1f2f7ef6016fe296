import { randomBytes, randomUUID } from "node:crypto";
import { cp, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, test } from "vitest";
import { type AuditEventInput, ingestAuditBatch, parseAuditChainKey, pruneAuditEvents, verifyAuditChain } from "../src/audit/index.js";
import { DEFAULT_MIGRATIONS_DIR, migrate } from "../src/migrate/index.js";
import { createEmptyDatabase, type TestDatabase } from "../src/testing/index.js";

const MIGRATION = "20261210090000_audit_partitions";
const key = parseAuditChainKey(randomBytes(32).toString("hex"));
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** The migrations up to (and, with `through`, including) this one, as the previous schema had them. */
async function migrationsDir(through: boolean): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "pc-partitions-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  for (const name of await readdir(DEFAULT_MIGRATIONS_DIR)) {
    if (name < MIGRATION || (through && name === MIGRATION)) await cp(path.join(DEFAULT_MIGRATIONS_DIR, name), path.join(dir, name), { recursive: true });
  }
  return dir;
}

const monthsAgo = (n: number, day = 10) => {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - n, day, 12)).toISOString();
};
const ev = (teamId: string, time: string, i: number): AuditEventInput => ({
  id: randomUUID(),
  time,
  teamId,
  tool: "execute_sql",
  sql: `SELECT * FROM orders WHERE id = ${i}`,
  tables: ["public.orders"],
  verdict: i % 5 === 0 ? "blocked" : "allowed",
  ruleId: i % 5 === 0 ? "hidden_table" : null,
  durationMs: i / 7,
  rows: i,
  protocolVersion: "2026-07-28",
  traceId: randomBytes(16).toString("hex"),
});

// Every column of every event, in a form independent of column order and partition.
const CONTENT = `SELECT count(*)::int AS n, md5(string_agg(to_jsonb(e)::text, '|' ORDER BY e.id)) AS digest FROM audit_events e`;

describe(`migration ${MIGRATION}`, () => {
  test("converts a populated audit_events in place: same rows, chains verify, ingestion and retention go on", async () => {
    const db: TestDatabase = await createEmptyDatabase("migr");
    cleanup.push(() => db.drop());
    await migrate(db.url, { migrationsDir: await migrationsDir(false) });
    const pool = new pg.Pool({ connectionString: db.url, max: 3 });
    pool.on("error", () => {});
    cleanup.push(() => pool.end());

    const team = async () => (await pool.query(`INSERT INTO teams (name, slug) VALUES ('t', $1) RETURNING id`, [randomUUID()])).rows[0].id as string;
    const [a, b] = [await team(), await team()];
    const events: AuditEventInput[] = [];
    for (let i = 0; i < 40; i++) events.push(ev(i % 2 ? a : b, monthsAgo(3 - (i % 4), 1 + (i % 27)), i));
    const far = [ev(a, "2001-02-03T04:05:06.007Z", 100), ev(b, "2099-12-31T23:59:59.999Z", 101)];
    await ingestAuditBatch(pool, events.slice(0, 20), { key });
    await ingestAuditBatch(pool, [...events.slice(20), ...far], { key });
    // A cut made by the chunked pruner before the conversion must hold after it.
    await pruneAuditEvents(pool, b, new Date(monthsAgo(2, 1)), { key, pauseMs: 0 });
    const { rows: old } = await pool.query(`SELECT indexdef FROM pg_indexes WHERE tablename = 'audit_events' AND indexname = 'audit_events_team_id_seq_key'`);
    expect(old[0].indexdef).toMatch(/UNIQUE/);
    const before = (await pool.query(CONTENT)).rows[0];
    expect(before.n).toBeGreaterThan(30);

    expect((await migrate(db.url, { migrationsDir: await migrationsDir(true) })).applied).toEqual([MIGRATION]);

    const { rows: kind } = await pool.query(`SELECT relkind FROM pg_class WHERE relname = 'audit_events'`);
    expect(kind[0].relkind).toBe("p");
    expect((await pool.query(CONTENT)).rows[0]).toEqual(before);
    const { rows: parts } = await pool.query<{ part: string; n: number }>(
      `SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM audit_events GROUP BY 1 ORDER BY 1`,
    );
    const month = (iso: string) => `audit_events_p${iso.slice(0, 4)}${iso.slice(5, 7)}`;
    expect(parts.map((p) => p.part)).toEqual(expect.arrayContaining([month(monthsAgo(0)), month(monthsAgo(1)), "audit_events_default"]));
    const { rows: def } = await pool.query(`SELECT id::text FROM audit_events_default ORDER BY time`);
    expect(def.map((r) => r.id)).toEqual(far.map((e) => e.id));
    const { rows: made } = await pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit_events'::regclass ORDER BY 1`,
    );
    // From the oldest stored month through three months ahead, and DEFAULT.
    expect(made.map((r) => r.name)).toContain(month(monthsAgo(-3)));
    expect(made.map((r) => r.name)).toContain(month(monthsAgo(3)));
    expect(made.map((r) => r.name)).not.toContain(month(monthsAgo(-4)));

    const { rows: idx } = await pool.query<{ indexname: string; indexdef: string }>(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_events' ORDER BY 1`);
    expect(idx.map((i) => i.indexname)).toEqual([
      "audit_events_pkey",
      "audit_events_team_id_api_key_id_time_idx",
      "audit_events_team_id_link_id_time_idx",
      "audit_events_team_id_seq_idx",
      "audit_events_team_id_shape_hash_time_idx",
      "audit_events_team_id_time_id_idx",
      "audit_events_team_id_tool_time_idx",
      "audit_events_team_id_user_id_time_idx",
      "audit_events_team_id_verdict_time_idx",
      "audit_events_write_request_id_idx",
    ]);
    expect(idx.find((i) => i.indexname === "audit_events_team_id_seq_idx")!.indexdef).not.toMatch(/UNIQUE/);

    for (const t of [a, b]) expect(await verifyAuditChain(pool, t, { key })).toMatchObject({ ok: true });
    // Replays of converted events (of the team nothing was pruned from) are still refused (the check is pruned by time, the key is (id, time)),
    // new ones chain on, and the statement texts keep being collected by the re-created trigger.
    const fresh = ev(a, new Date().toISOString(), 7777);
    fresh.sql = "SELECT 'after the conversion'";
    expect(await ingestAuditBatch(pool, [...events.filter((e) => e.teamId === a).slice(0, 10), far[0]!, fresh], { key })).toMatchObject({ inserted: 1, duplicates: 11 });
    for (const t of [a, b]) expect(await verifyAuditChain(pool, t, { key })).toMatchObject({ ok: true });
    const { rows: texts } = await pool.query(`SELECT count(*)::int AS n FROM audit_statements WHERE team_id = $1 AND shape LIKE '%after the conversion%'`, [a]);
    expect(texts[0].n).toBe(1);
  });
});
