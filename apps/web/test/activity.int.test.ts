import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * The Activity queries on a team with a few hundred thousand events (and a noisy neighbour team):
 * keyset pages are complete, disjoint and ordered; filters and stats agree with a plain count; the
 * first page and a deep page are index scans that stay fast; members only ever see their own events.
 */
let meta: TestDatabase;
let ops: typeof import("../src/features/activity/operations");
let teams: typeof import("../src/features/teams/operations");
let owner: { userId: string };
let member: { userId: string };
let teamId: string;
const ROWS = 200_000;

beforeAll(async () => {
  meta = await createMetadataDatabase();
  useDashboardEnv(meta.url);
  ops = await import("../src/features/activity/operations");
  teams = await import("../src/features/teams/operations");
  const { createUser, addMember } = await import("@portcullis/db/operations");
  const prisma = (await import("../src/lib/db")).getPrisma();
  const o = await createUser(prisma, { email: "owner@example.com", password: "a long enough password" });
  const m = await createUser(prisma, { email: "member@example.com", password: "a long enough password" });
  const other = await createUser(prisma, { email: "other@example.com", password: "a long enough password" });
  teamId = (await teams.createTeamForUser({ userId: o.id }, { name: "Big" })).id;
  const otherTeam = (await teams.createTeamForUser({ userId: other.id }, { name: "Neighbour" })).id;
  await addMember(prisma, { teamId, userId: m.id, role: "member" });
  owner = { userId: o.id };
  member = { userId: m.id };
  const client = new pg.Client({ connectionString: meta.url });
  await client.connect();
  // Synthetic events over the last 6 days: 1 in 10 blocked, 1 in 50 an error, every 4th by the member.
  await client.query(
    `INSERT INTO audit_events (id, team_id, time, seq, link_id, user_id, client_name, tool, sql, tables, verdict, rule_id, reason, duration_ms, rows, prev_hash, hash)
     SELECT gen_random_uuid(), $1::uuid, now() - (g * interval '2.5 seconds'), g, NULL,
            CASE WHEN g % 4 = 0 THEN $2::uuid ELSE $3::uuid END,
            CASE WHEN g % 3 = 0 THEN 'claude-code' ELSE 'cursor' END,
            'execute_sql',
            CASE WHEN g % 10 = 0 THEN 'SELECT email FROM customer WHERE id = ' || g ELSE 'SELECT name FROM artist WHERE id = ' || g END,
            CASE WHEN g % 10 = 0 THEN ARRAY['public.customer'] ELSE ARRAY['public.artist'] END,
            (CASE WHEN g % 10 = 0 THEN 'blocked' WHEN g % 50 = 1 THEN 'error' ELSE 'allowed' END)::"AuditVerdict",
            CASE WHEN g % 10 = 0 THEN 'undefined_column' END, NULL, (g % 97) / 10.0, 1, repeat('0', 64), repeat('0', 64)
       FROM generate_series(1, $4::int) g`,
    [teamId, m.id, o.id, ROWS],
  );
  await client.query(
    `INSERT INTO audit_events (id, team_id, time, seq, tool, sql, verdict, duration_ms, prev_hash, hash)
     SELECT gen_random_uuid(), $1::uuid, now() - (g * interval '3 seconds'), g, 'execute_sql', 'SELECT secret FROM neighbour', 'allowed', 1, repeat('0', 64), repeat('0', 64)
       FROM generate_series(1, 50000) g`,
    [otherTeam],
  );
  await client.query("ANALYZE audit_events");
  await client.end();
}, 300_000);

afterAll(async () => {
  await (await import("../src/lib/db")).getPrisma().$disconnect();
  await meta?.drop();
});

test("keyset pages are ordered, disjoint and complete for a filter", async () => {
  const filters = { range: "7d" as const, verdict: "blocked" as const, client: "cursor" };
  const seen = new Set<string>();
  let cursor: string | undefined;
  let previous: { time: number; id: string } | undefined;
  let pages = 0;
  do {
    const page = await ops.listEvents(owner, teamId, filters, cursor);
    for (const e of page.events) {
      expect(seen.has(e.id)).toBe(false);
      seen.add(e.id);
      if (previous) expect(e.time.getTime() < previous.time || (e.time.getTime() === previous.time && e.id < previous.id)).toBe(true);
      previous = { time: e.time.getTime(), id: e.id };
      expect(e.verdict).toBe("blocked");
      expect(e.client_name).toBe("cursor");
    }
    cursor = page.nextCursor ?? undefined;
    pages++;
  } while (cursor && pages < 1000);
  // g % 10 = 0 and g % 3 != 0 → 2/3 of the 20,000 blocked events.
  const expected = Array.from({ length: ROWS }, (_, i) => i + 1).filter((g) => g % 10 === 0 && g % 3 !== 0).length;
  expect(seen.size).toBe(expected);
});

test("stats agree with the rows, and top rules and tables are ranked", async () => {
  const stats = await ops.activityStats(owner, teamId, { range: "7d" });
  expect(stats.totals.blocked).toBe(ROWS / 10);
  expect(stats.totals.allowed + stats.totals.blocked + stats.totals.error).toBe(ROWS);
  expect(stats.topRules[0]).toEqual({ rule: "undefined_column", count: ROWS / 10 });
  expect(stats.topTables.map((t) => t.table)).toEqual(["public.artist", "public.customer"]);
  expect(stats.series.some((s) => s.p95 !== null)).toBe(true);
});

test("the first page and a deep page are fast", async () => {
  const t0 = performance.now();
  const first = await ops.listEvents(owner, teamId, { range: "7d" });
  const firstMs = performance.now() - t0;
  let cursor = first.nextCursor!;
  for (let i = 0; i < 200; i++) cursor = (await ops.listEvents(owner, teamId, { range: "7d" }, cursor)).nextCursor!;
  const t1 = performance.now();
  await ops.listEvents(owner, teamId, { range: "7d" }, cursor);
  const deepMs = performance.now() - t1;
  // 10,000 rows deep costs what the first page costs: no OFFSET scan.
  expect(firstMs).toBeLessThan(250);
  expect(deepMs).toBeLessThan(250);
});

test("text search finds statements and members see only their own events", async () => {
  const hits = await ops.listEvents(owner, teamId, { range: "7d", q: "email FROM customer WHERE id = 1000" });
  expect(hits.events.map((e) => e.sql)).toContain("SELECT email FROM customer WHERE id = 1000");
  const mine = await ops.listEvents(member, teamId, { range: "7d" });
  expect(mine.events.length).toBeGreaterThan(0);
  expect(mine.events.every((e) => e.user_id === member.userId)).toBe(true);
  // Asking for someone else's events as a member still yields only the member's own.
  const spoofed = await ops.listEvents(member, teamId, { range: "7d", member: owner.userId });
  expect(spoofed.events.every((e) => e.user_id === member.userId)).toBe(true);
  const neighbour = await ops.listEvents(owner, teamId, { range: "7d", q: "neighbour" });
  expect(neighbour.events).toHaveLength(0);
});

test("the filter menus name only the links a member was granted", async () => {
  const prisma = (await import("../src/lib/db")).getPrisma();
  const { addConnection, createLink } = await import("@portcullis/db/operations");
  const { getKeyring } = await import("@portcullis/db/secrets");
  const connection = await addConnection(
    prisma,
    { teamId, name: "menus", fields: { host: "db.example.com", port: 5432, database: "app", username: "reader", password: "x", sslMode: "disable" }, test: false },
    getKeyring(),
  );
  const granted = await createLink(prisma, { teamId, connectionId: connection.id, name: "granted-link", scope: { access: "read" } });
  await createLink(prisma, { teamId, connectionId: connection.id, name: "secret-project-link", scope: { access: "read" } });
  await prisma.linkAccess.create({ data: { linkId: granted.id, userId: member.userId } });

  const forMember = await ops.activityLookups(member, teamId);
  expect(forMember.links.map((l) => l.name)).toEqual(["granted-link"]);
  const forOwner = await ops.activityLookups(owner, teamId);
  expect(forOwner.links.map((l) => l.name)).toEqual(["granted-link", "secret-project-link"]);
});
