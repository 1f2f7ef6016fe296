import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ensurePartitions, ingestAuditBatch, type AuditEventInput } from "@portcullis/db/audit";
import { LATENCY_BUCKET_ERROR, latencyBucket, latencyBucketValue, rebuildAuditRollups } from "@portcullis/db/audit/rollups";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * Activity's hourly rollups (issue 16): the charts read them for whole hours, so they must agree with
 * the events exactly — counts equal, percentiles in the bucket of the exact order statistic — for every
 * slice, through concurrent writers, deletes and dropped partitions, and never show another team's data.
 */
let meta: TestDatabase;
let pool: pg.Pool;
let ops: typeof import("../src/features/activity/operations");
let stats: typeof import("../src/features/activity/stats");
let filters: typeof import("../src/features/activity/filters");
let owner: { userId: string };
let member: { userId: string };
let outsider: { userId: string };
let teamA: string;
let teamB: string;
const links = [randomUUID(), randomUUID(), randomUUID()];
const keys = Array.from({ length: 6 }, () => randomUUID());
const linkB = randomUUID();

/** Team A's events over ~10 days from 4 connections at once (same team, same hours: the same rollup rows). */
const insertA = (count: number, seq0: number, memberId: string, ownerId: string) =>
  pool.query(
    `INSERT INTO audit_events (id, team_id, time, seq, link_id, api_key_id, user_id, client_name, tool, sql, tables, verdict, rule_id, duration_ms, prev_hash, hash,
                               kind, protocol_version, target_server, database_name)
     SELECT gen_random_uuid(), $1::uuid, now() - random() * interval '10 days', $2::bigint + g,
            ($3::uuid[])[1 + g % 3], ($4::uuid[])[1 + g % 6], CASE WHEN g % 4 = 0 THEN $5::uuid ELSE $6::uuid END,
            (ARRAY['cursor', 'claude-code', NULL])[1 + g % 3], (ARRAY['execute_sql', 'describe_table', 'list_tables', 'explain_query'])[1 + g % 4],
            'SELECT * FROM t WHERE id = ' || g, CASE WHEN g % 5 = 0 THEN ARRAY['public.a', 'public.b'] WHEN g % 5 = 1 THEN '{}'::text[] ELSE ARRAY['public.a'] END,
            (CASE WHEN g % 10 = 0 THEN 'blocked' WHEN g % 23 = 0 THEN 'error' ELSE 'allowed' END)::"AuditVerdict",
            CASE WHEN g % 10 = 0 THEN (ARRAY['rule_x', 'rule_y', NULL])[1 + g % 3] END,
            exp(ln(3) + 1.2 * sqrt(-2 * ln(greatest(random(), 1e-9))) * cos(2 * pi() * random())), '', '',
            CASE WHEN g % 97 = 0 THEN 'config_change' ELSE 'tool_call' END, (ARRAY['2026-07-28', '2025-11-25', NULL])[1 + g % 3],
            (ARRAY['primary', 'replica1'])[1 + g % 2], (ARRAY['main', 'analytics', NULL, 'main'])[1 + g % 4]
       FROM generate_series(1, $7::int) g`,
    [teamA, seq0, links, keys, memberId, ownerId, count],
  );

beforeAll(async () => {
  meta = await createMetadataDatabase();
  useDashboardEnv(meta.url);
  ops = await import("../src/features/activity/operations");
  stats = await import("../src/features/activity/stats");
  filters = await import("../src/features/activity/filters");
  const { createUser, createTeam, addMember } = await import("@portcullis/db/operations");
  const prisma = (await import("../src/lib/db")).getPrisma();
  const o = await createUser(prisma, { email: "owner@rollups.test", password: "a long enough password" });
  const m = await createUser(prisma, { email: "member@rollups.test", password: "a long enough password" });
  const x = await createUser(prisma, { email: "other@rollups.test", password: "a long enough password" });
  teamA = (await createTeam(prisma, { name: "Rollups A", ownerId: o.id })).id;
  teamB = (await createTeam(prisma, { name: "Rollups B", ownerId: x.id })).id;
  await addMember(prisma, { teamId: teamA, userId: m.id, role: "member" });
  owner = { userId: o.id };
  member = { userId: m.id };
  outsider = { userId: x.id };
  pool = new pg.Pool({ connectionString: meta.url, max: 6 });
  // Team B through the worker's own path, at the same time as A's four writers.
  const eventsB: AuditEventInput[] = Array.from({ length: 600 }, (_, i) => ({
    id: randomUUID(),
    time: new Date(Date.now() - Math.random() * 9 * 86_400_000).toISOString(),
    teamId: teamB,
    linkId: linkB,
    userId: x.id,
    clientName: "b-client",
    tool: "b_only_tool",
    sql: `SELECT secret FROM b_secret WHERE id = ${i}`,
    tables: ["public.b_secret"],
    verdict: i % 3 ? "allowed" : "blocked",
    ruleId: i % 3 ? null : "b_rule",
    durationMs: 5000 + i,
  }));
  await Promise.all([
    insertA(3000, 0, m.id, o.id),
    insertA(3000, 10_000, m.id, o.id),
    insertA(3000, 20_000, m.id, o.id),
    insertA(3000, 30_000, m.id, o.id),
    ingestAuditBatch(pool, eventsB.slice(0, 300)),
    ingestAuditBatch(pool, eventsB.slice(300)),
  ]);
}, 120_000);

afterAll(async () => {
  await (await import("../src/lib/db")).getPrisma().$disconnect();
  await pool?.end();
  await meta?.drop();
});

type F = import("../src/features/activity/filters").ActivityFilters;

/** The exact answer from the events: counts per bucket, percentile_disc's latency bucket, top rules and tables. */
async function exact(teamId: string, f: F, now: Date) {
  const { from, to } = filters.timeWindow(f, now);
  const bucket = stats.bucketFor(from, to);
  const origin = Math.floor(from.getTime() / bucket.ms) * bucket.ms;
  const where = filters.buildWhere(teamId, f, now);
  const { rows: series } = await pool.query(
    `SELECT floor((extract(epoch FROM time) * 1000 - ${origin}) / ${bucket.ms})::int AS b,
            count(*) FILTER (WHERE verdict = 'allowed')::int AS allowed, count(*) FILTER (WHERE verdict = 'blocked')::int AS blocked,
            count(*) FILTER (WHERE verdict = 'error')::int AS error,
            ${[0.5, 0.95, 0.99].map((p, i) => `audit_latency_bucket(percentile_disc(${p}) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE verdict = 'allowed')) AS l${i}, percentile_disc(${p}) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE verdict = 'allowed') AS d${i}`).join(", ")}
       FROM audit_events WHERE ${where.sql} GROUP BY 1 ORDER BY 1`,
    where.params,
  );
  const { rows: rules } = await pool.query(
    `SELECT rule_id AS rule, count(*)::int AS count FROM audit_events WHERE ${where.sql} AND verdict = 'blocked' AND rule_id IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1`,
    where.params,
  );
  const { rows: tables } = await pool.query(
    `SELECT t AS table, count(*)::int AS count FROM audit_events, unnest(tables) t WHERE ${where.sql} GROUP BY 1 ORDER BY 2 DESC, 1`,
    where.params,
  );
  return { origin, ms: bucket.ms, series, rules, tables };
}

async function expectAgrees(teamId: string, f: F, now = new Date()) {
  const got = await stats.computeStats(teamId, f, now);
  const want = await exact(teamId, f, now);
  const byBucket = new Map(want.series.map((s) => [s.b, s]));
  let percentiles = 0;
  got.series.forEach((s, i) => {
    expect(new Date(s.t).getTime()).toBe(want.origin + i * want.ms);
    const w = byBucket.get(i);
    expect({ allowed: s.allowed, blocked: s.blocked, error: s.error }, `bucket ${i}`).toEqual({ allowed: w?.allowed ?? 0, blocked: w?.blocked ?? 0, error: w?.error ?? 0 });
    (["p50", "p95", "p99"] as const).forEach((p, j) => {
      if (w?.[`d${j}`] === null || w?.[`d${j}`] === undefined) return expect(s[p], `${JSON.stringify(f)} bucket ${i}`).toBeNull();
      // Exactly the middle of the bucket holding the exact order statistic, hence within the stated error.
      expect(s[p]).toBeCloseTo(latencyBucketValue(w[`l${j}`]), 9);
      if (w[`d${j}`] >= 0.1) expect(Math.abs(s[p]! - w[`d${j}`]) / w[`d${j}`]).toBeLessThanOrEqual(LATENCY_BUCKET_ERROR + 1e-9);
      percentiles++;
    });
  });
  expect(got.series.length).toBeGreaterThan(0);
  expect(got.topRules).toEqual(want.rules.slice(0, 8));
  expect(got.topTables).toEqual(want.tables.slice(0, 8));
  return { got, percentiles };
}

/** The rollup rows, summed per slice value, equal a plain GROUP BY of the events' columns. */
async function expectRollupsEqualEvents() {
  const { rows } = await pool.query(`
    WITH r AS (SELECT team_id, dim, val, verdict, sum(n)::bigint AS n FROM audit_rollups GROUP BY 1, 2, 3, 4),
    e AS (
      SELECT team_id, d.dim, d.val, verdict, count(*)::bigint AS n FROM audit_events
        CROSS JOIN LATERAL (VALUES ('', ''), ('l', link_id::text), ('m', user_id::text), ('t', tool)) d(dim, val)
       WHERE d.val IS NOT NULL GROUP BY 1, 2, 3, 4)
    SELECT count(*)::int AS differ FROM ((SELECT * FROM r EXCEPT SELECT * FROM e) UNION ALL (SELECT * FROM e EXCEPT SELECT * FROM r)) x`);
  expect(rows[0].differ).toBe(0);
  const { rows: t } = await pool.query(`
    WITH r AS (SELECT team_id, dim, val, table_name, sum(n)::bigint AS n FROM audit_rollup_tables GROUP BY 1, 2, 3, 4),
    e AS (
      SELECT team_id, d.dim, d.val, x AS table_name, count(*)::bigint AS n FROM audit_events
        CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(tables) x WHERE x IS NOT NULL) u
        CROSS JOIN LATERAL (VALUES ('', ''), ('l', link_id::text)) d(dim, val)
       WHERE d.val IS NOT NULL GROUP BY 1, 2, 3, 4)
    SELECT count(*)::int AS differ FROM ((SELECT * FROM r EXCEPT SELECT * FROM e) UNION ALL (SELECT * FROM e EXCEPT SELECT * FROM r)) x`);
  expect(t[0].differ).toBe(0);
  // Only the slices that earn their rows (migration 20261210100400) are kept at all.
  const dims = async (table: string) => (await pool.query(`SELECT DISTINCT dim FROM ${table} ORDER BY 1`)).rows.map((r) => r.dim);
  expect(await dims("audit_rollups")).toEqual(["", "l", "m", "t"]);
  expect(await dims("audit_rollup_tables")).toEqual(["", "l"]);
}

describe("activity rollups", () => {
  test("the histogram buckets are the same in SQL and in the reader", async () => {
    const samples = [0, 0.05, 0.1, 0.37, 1, 2.9, 3, 17.2, 250, 9_999, 1e9];
    const { rows } = await pool.query(`SELECT audit_latency_bucket(x)::int AS lb FROM unnest($1::float8[]) WITH ORDINALITY u(x, i) ORDER BY i`, [samples]);
    expect(rows.map((r) => r.lb)).toEqual(samples.map(latencyBucket));
  });

  test("after four concurrent writers, the rollups equal the events and every chart slice agrees with the raw aggregate", async () => {
    await expectRollupsEqualEvents();
    const now = new Date();
    const custom = { range: "custom", from: new Date(now.getTime() - 3 * 86_400_000 + 17 * 60_000).toISOString(), to: new Date(now.getTime() - 3_600_000 - 7 * 60_000).toISOString() } as F;
    let percentiles = 0;
    for (const f of [
      { range: "24h" },
      { range: "7d" },
      { range: "30d" },
      custom,
      { range: "7d", link: links[1] },
      { range: "7d", key: keys[4]!.toUpperCase() },
      { range: "7d", member: member.userId },
      { range: "7d", tool: "describe_table" },
      { range: "7d", client: "claude-code" },
      { range: "7d", verdict: "blocked" },
      { range: "7d", link: links[0], verdict: "allowed" },
      { range: "7d", kind: "config_change" },
      { range: "7d", revision: "2025-11-25" },
      { range: "30d", server: "replica1", verdict: "blocked" },
      { range: "7d", database: "analytics" },
      { range: "30d", tool: "execute_sql", verdict: "allowed" },
      { range: "7d", member: member.userId, verdict: "blocked" },
      // Not sliced by the rollups: answered from the events alone.
      { range: "7d", link: links[0], tool: "execute_sql" },
      { range: "7d", q: "WHERE id = 1" },
      { range: "1h" },
    ] as F[]) {
      const unsliced = Boolean(f.key || f.client || f.kind || f.revision || f.server || f.database);
      expect(stats.rollupSlice(f) === null).toBe(Boolean(f.q) || (Boolean(f.link) && Boolean(f.tool)) || unsliced);
      // Tool and member slices keep no table counts: their top tables come from the events.
      if (f.tool && !f.link) expect(stats.rollupSlice(f)).toEqual({ dim: "t", val: f.tool, tables: false });
      if (f.member) expect(stats.rollupSlice(f)).toEqual({ dim: "m", val: f.member.toLowerCase(), tables: false });
      if (f.link && !f.tool) expect(stats.rollupSlice(f)).toEqual({ dim: "l", val: f.link.toLowerCase(), tables: true });
      percentiles += (await expectAgrees(teamA, f, now)).percentiles;
    }
    expect(percentiles).toBeGreaterThan(300);
  });

  test("deleted events leave the rollups, also while others write; a dropped partition is rebuilt", async () => {
    const before = await stats.computeStats(teamA, { range: "7d" } as F);
    await Promise.all([
      pool.query(`DELETE FROM audit_events WHERE team_id = $1 AND seq % 7 = 0 AND time > now() - interval '5 days'`, [teamA]),
      insertA(1000, 40_000, member.userId, owner.userId),
      pool.query(`DELETE FROM audit_events WHERE team_id = $1 AND seq BETWEEN 20000 AND 20500`, [teamA]),
    ]);
    await expectRollupsEqualEvents();
    const after = await expectAgrees(teamA, { range: "7d" } as F);
    expect(after.got.totals.allowed).not.toBe(before.totals.allowed);

    // A month of events in a partition of its own, then dropped as retention drops it: no trigger fires.
    const today = new Date();
    const old = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 3, 15, 10, 30));
    const ensured = await ensurePartitions(pool, { now: old, ahead: 0 });
    const partition = ensured.created[0] ?? `audit_events_p${old.toISOString().slice(0, 7).replace("-", "")}`;
    await pool.query(
      `INSERT INTO audit_events (id, team_id, time, seq, tool, tables, verdict, duration_ms, prev_hash, hash)
       SELECT gen_random_uuid(), $1::uuid, $2::timestamptz + g * interval '1 minute', 90000 + g, 'execute_sql', ARRAY['public.old'], 'allowed', 2, '', ''
         FROM generate_series(1, 200) g`,
      [teamA, old],
    );
    const window = { range: "custom", from: new Date(old.getTime() - 86_400_000).toISOString(), to: new Date(old.getTime() + 86_400_000).toISOString() } as F;
    expect((await stats.computeStats(teamA, window)).totals.allowed).toBe(200);
    const { rows: bounds } = await pool.query(
      `SELECT pg_get_expr(relpartbound, oid) AS b FROM pg_class WHERE relname = $1`,
      [partition],
    );
    const [, lo, hi] = /FROM \('([^']+)'\) TO \('([^']+)'\)/.exec(bounds[0].b)!;
    await pool.query(`ALTER TABLE audit_events DETACH PARTITION ${partition}`);
    await pool.query(`DROP TABLE ${partition}`);
    // Stale until rebuilt (so this test would see a retention that forgot to rebuild).
    expect((await stats.computeStats(teamA, window)).totals.allowed).toBe(200);
    await rebuildAuditRollups(pool, new Date(lo!), new Date(hi!));
    expect((await stats.computeStats(teamA, window)).totals.allowed).toBe(0);
    await expectRollupsEqualEvents();
  });

  test("tenants never see each other's rollups; members see their own slice only", async () => {
    const b = await expectAgrees(teamB, { range: "7d" } as F);
    expect(b.got.topTables.map((t) => t.table)).toEqual(["public.b_secret"]);
    const a = await ops.activityStats(owner, teamA, { range: "7d" } as F);
    expect(a.topTables.map((t) => t.table)).not.toContain("public.b_secret");
    expect(a.topRules.map((r) => r.rule)).not.toContain("b_rule");
    // B's slice values asked for under A's id: nothing.
    for (const f of [{ tool: "b_only_tool" }, { client: "b-client" }, { link: linkB }, { member: outsider.userId }]) {
      const s = await ops.activityStats(owner, teamA, { range: "7d", ...f } as F);
      expect(s.totals, JSON.stringify(f)).toEqual({ allowed: 0, blocked: 0, error: 0 });
      expect(s.topTables).toEqual([]);
    }
    await expect(ops.activityStats(owner, teamB, { range: "7d" } as F)).rejects.toThrow();
    // A member's chart is the member's slice, whatever member filter they send.
    const count = async () =>
      (await pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE team_id = $1 AND user_id = $2 AND time >= now() - interval '7 days'`, [teamA, member.userId])).rows[0].n as number;
    const [n0, mine, n1] = [await count(), await ops.activityStats(member, teamA, { range: "7d", member: owner.userId } as F), await count()];
    // The window moves with the clock: the answer lies between the counts taken just before and after.
    const total = mine.totals.allowed + mine.totals.blocked + mine.totals.error;
    expect(total).toBeGreaterThanOrEqual(Math.min(n0, n1));
    expect(total).toBeLessThanOrEqual(Math.max(n0, n1));
    expect(n1).toBeGreaterThan(0);
  });
});
