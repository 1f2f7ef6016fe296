import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * Issue 16 (50M events): Activity views that no index or rollup answers (text search, a filter
 * without an index, two filters together, charts by such filters) read the window newest first in
 * slices (walk.ts) and stop at a time budget, saying how far back they read. Here the slices are made
 * small and the budget zero, so every read stops after one slice: the "search further" cursor must
 * then go on exactly where the read stopped (nothing skipped or repeated, also at an hour boundary
 * where a slice ends), the charts must count exactly the part they say they counted, and no read
 * crosses into another team.
 */
let meta: TestDatabase;
let ops: typeof import("../src/features/activity/operations");
let walk: typeof import("../src/features/activity/walk");
let owner: { userId: string };
let teamId: string;
let client: pg.Client;
const HOUR = 3_600_000;
const TINY = { budgetMs: 0, firstSlice: 20 };
const FREE = { budgetMs: 60_000, firstSlice: 20 };

beforeAll(async () => {
  meta = await createMetadataDatabase();
  useDashboardEnv(meta.url);
  ops = await import("../src/features/activity/operations");
  walk = await import("../src/features/activity/walk");
  const teams = await import("../src/features/teams/operations");
  const { createUser } = await import("@portcullis/db/operations");
  const prisma = (await import("../src/lib/db")).getPrisma();
  const o = await createUser(prisma, { email: "owner@walk.test", password: "a long enough password" });
  const n = await createUser(prisma, { email: "neighbour@walk.test", password: "a long enough password" });
  teamId = (await teams.createTeamForUser({ userId: o.id }, { name: "Walked" })).id;
  const neighbour = (await teams.createTeamForUser({ userId: n.id }, { name: "Neighbour" })).id;
  owner = { userId: o.id };
  client = new pg.Client({ connectionString: meta.url });
  await client.connect();
  // 3,000 events over the last 5 days (one every 144 s, microsecond times), every 7th on the replica,
  // every 10th a 'needle' statement; plus 40 events at exact whole hours (slice boundaries) on the
  // replica with the needle. The neighbour has the same statements and servers, in the same hours.
  const insert = (team: string, seqBase: number) =>
    client.query(
      `INSERT INTO audit_events (id, team_id, time, seq, tool, sql, tables, verdict, duration_ms, target_server, prev_hash, hash)
       SELECT gen_random_uuid(), $1::uuid, now() - g * interval '144.000123 seconds', $2::bigint + g, 'execute_sql',
              CASE WHEN g % 10 = 0 THEN 'SELECT needle FROM haystack WHERE id = ' || g ELSE 'SELECT name FROM artist WHERE id = ' || g END,
              ARRAY['public.t' || (g % 5)], 'allowed'::"AuditVerdict", 1 + g % 40, CASE WHEN g % 7 = 0 THEN 'replica1' ELSE 'primary' END, '', ''
         FROM generate_series(1, 3000) g
       UNION ALL
       SELECT gen_random_uuid(), $1::uuid, date_trunc('hour', now()) - h * interval '1 hour', $2::bigint + 10000 + h, 'execute_sql',
              'SELECT needle FROM boundary WHERE h = ' || h, ARRAY['public.t9'], 'allowed'::"AuditVerdict", 2, 'replica1', '', ''
         FROM generate_series(1, 40) h`,
      [team, seqBase],
    );
  await insert(teamId, 0);
  await insert(neighbour, 0);
  await client.query("ANALYZE audit_events");
}, 120_000);

afterAll(async () => {
  await (await import("../src/lib/db")).getPrisma().$disconnect();
  await client?.end();
  await meta?.drop();
});

const count = async (where: string, params: unknown[]) =>
  Number((await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM audit_events WHERE team_id = $1::uuid AND time >= now() - interval '7 days' AND ${where}`, [teamId, ...params])).rows[0]!.n);

/** Every page of a filter, following nextCursor (and "search further") to the end. */
async function allPages(filters: Parameters<typeof ops.listEvents>[2], options: { budgetMs: number; firstSlice: number }) {
  const ids: string[] = [];
  const order: number[] = [];
  let cursor: string | undefined;
  let pages = 0;
  let stoppedShort = 0;
  do {
    const page = await ops.listEvents(owner, teamId, filters, cursor, options);
    for (const e of page.events) {
      ids.push(e.id);
      order.push(e.time.getTime());
    }
    if (page.searchedBackTo) {
      stoppedShort++;
      // Everything read was at or after the point it says it searched back to.
      for (const e of page.events) expect(e.time.getTime()).toBeGreaterThanOrEqual(page.searchedBackTo.getTime());
    }
    cursor = page.nextCursor ?? undefined;
    pages++;
  } while (cursor && pages < 2000);
  return { ids, order, pages, stoppedShort };
}

describe("planSlices", () => {
  test("cuts the window newest first at whole hours, each slice about twice the last, the last reaching the start", () => {
    const to = new Date(Date.UTC(2026, 11, 7, 18, 30));
    const from = new Date(to.getTime() - 24 * HOUR);
    const counts = new Map<number, number>();
    for (let h = Math.floor(from.getTime() / HOUR) * HOUR; h <= to.getTime(); h += HOUR) counts.set(h, 10);
    const slices = walk.planSlices(from, to, counts, 20);
    expect(slices[0]!.to).toEqual(to);
    expect(slices[0]!.toExclusive).toBe(false);
    expect(slices.at(-1)!.from).toEqual(from);
    for (let i = 1; i < slices.length; i++) {
      expect(slices[i]!.to).toEqual(slices[i - 1]!.from);
      expect(slices[i]!.toExclusive).toBe(true);
      expect(slices[i]!.from.getTime() % HOUR === 0 || i === slices.length - 1).toBe(true);
    }
    expect(slices.slice(0, -1).map((s) => s.events)).toEqual([20, 40, 80]);
    // Ending on a whole hour (a "search further" from a slice's bound): every slice still moves back.
    const onHour = new Date(Math.floor(to.getTime() / HOUR) * HOUR);
    for (const s of walk.planSlices(from, onHour, counts, 10)) expect(s.from.getTime()).toBeLessThan(s.to.getTime());
    // A window holding fewer events than the first slice is one slice: one query, as before.
    expect(walk.planSlices(from, to, new Map(), 20)).toEqual([{ from, to, toExclusive: false, events: 0 }]);
  });
});

describe("bounded pages", () => {
  test("a search stopped by its budget says how far back it read, and searching further finds every match exactly once, in order", async () => {
    const expected = await count("sql ILIKE '%needle%'", []);
    expect(expected).toBe(340);
    const first = await ops.listEvents(owner, teamId, { range: "7d", q: "needle" }, undefined, TINY);
    expect(first.searchedBackTo).not.toBeNull();
    expect(first.events.length).toBeLessThan(50);
    expect(first.nextCursor).not.toBeNull();
    const walked = await allPages({ range: "7d", q: "needle" }, TINY);
    expect(walked.stoppedShort).toBeGreaterThan(1);
    expect(new Set(walked.ids).size).toBe(walked.ids.length);
    expect(walked.ids.length).toBe(expected);
    for (let i = 1; i < walked.order.length; i++) expect(walked.order[i]!).toBeLessThanOrEqual(walked.order[i - 1]!);
    // With time to spare the same search fills its pages and never stops short.
    const free = await allPages({ range: "7d", q: "needle" }, FREE);
    expect(free.stoppedShort).toBe(0);
    expect(free.ids).toEqual(walked.ids);
  });

  test("a filter without an index (server) and two filters together walk the same way", async () => {
    for (const filters of [{ range: "7d" as const, server: "replica1" }, { range: "7d" as const, server: "replica1", q: "boundary" }, { range: "7d" as const, tool: "execute_sql", verdict: "allowed" as const }]) {
      const walked = await allPages(filters, TINY);
      const free = await allPages(filters, FREE);
      expect(free.ids).toEqual(walked.ids);
      expect(new Set(walked.ids).size).toBe(walked.ids.length);
    }
    expect((await allPages({ range: "7d", server: "replica1", q: "boundary" }, TINY)).ids.length).toBe(40);
    expect((await allPages({ range: "7d", server: "replica1" }, TINY)).ids.length).toBe(await count("target_server = 'replica1'", []));
  });

  test("a filter one index answers is one query and never stops short", async () => {
    const page = await ops.listEvents(owner, teamId, { range: "7d", tool: "execute_sql" }, undefined, TINY);
    expect(page.searchedBackTo).toBeNull();
    expect(page.events).toHaveLength(50);
  });
});

describe("bounded charts", () => {
  test("a chart the rollups cannot slice counts exactly the part it says it counted, and everything with time to spare", async () => {
    const cut = await ops.activityStats(owner, teamId, { range: "7d", server: "replica1" }, TINY);
    expect(cut.countedFrom?.what).toBe("all");
    const since = new Date(cut.countedFrom!.time);
    const inCut = await count("target_server = 'replica1' AND time >= $2", [since]);
    expect(cut.totals.allowed).toBe(inCut);
    expect(inCut).toBeLessThan(await count("target_server = 'replica1'", []));
    // The series starts at the bucket holding the cut: nothing older is drawn as zero.
    expect(new Date(cut.series[0]!.t).getTime()).toBeLessThanOrEqual(since.getTime());
    expect(new Date(cut.series[0]!.t).getTime() + 6 * HOUR).toBeGreaterThan(since.getTime());
    const full = await ops.activityStats(owner, teamId, { range: "7d", server: "replica1" }, FREE);
    expect(full.countedFrom).toBeNull();
    expect(full.totals.allowed).toBe(await count("target_server = 'replica1'", []));
    // Top tables agree with the events too (the neighbour's identical events are not counted).
    const tables = await client.query<{ t: string; n: string }>(
      `SELECT x AS t, count(*)::text AS n FROM audit_events, unnest(tables) x WHERE team_id = $1::uuid AND target_server = 'replica1' AND time >= now() - interval '7 days' GROUP BY 1`,
      [teamId],
    );
    const want = Object.fromEntries(tables.rows.map((r) => [r.t, Number(r.n)]));
    for (const t of full.topTables) expect(t.count).toBe(want[t.table]);
  });

  test("a rolled slice without table counts (tool) bounds only its top tables", async () => {
    const cut = await ops.activityStats(owner, teamId, { range: "7d", tool: "execute_sql" }, TINY);
    expect(cut.countedFrom?.what).toBe("tables");
    expect(cut.totals.allowed).toBe(await count("tool = 'execute_sql'", []));
    const full = await ops.activityStats(owner, teamId, { range: "7d", tool: "execute_sql" }, FREE);
    expect(full.countedFrom).toBeNull();
    expect(full.topTables.reduce((a, t) => a + t.count, 0)).toBeGreaterThan(cut.topTables.reduce((a, t) => a + t.count, 0));
  });
});
