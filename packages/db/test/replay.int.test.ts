import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import { PortcullisError } from "../src/errors.js";
import { replayStatements } from "../src/operations/index.js";
import { createMetadataDatabase, seedToolCallEvents, type TestDatabase } from "../src/testing/index.js";
import { approvalsWorld, poolFor } from "./support/approvals-world.js";

let meta: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  meta = await createMetadataDatabase();
  prisma = createPrismaClient(meta.url);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await meta?.drop();
});

async function event(teamId: string, linkId: string, seq: number, over: Record<string, unknown>) {
  const e = { tool: "execute_sql", sql: "SELECT 1", kind: "tool_call", ageSeconds: 60, ...over };
  await prisma.$executeRawUnsafe(
    `INSERT INTO audit_events (id, team_id, time, seq, kind, link_id, tool, sql, verdict, prev_hash, hash)
     VALUES ($1::uuid, $2::uuid, now() - make_interval(secs => $3), $4, $5, $6::uuid, $7, $8, 'allowed', repeat('0', 64), repeat('1', 64))`,
    randomUUID(),
    teamId,
    e.ageSeconds,
    seq,
    e.kind,
    linkId,
    e.tool,
    e.sql,
  );
}

describe("replay statements", () => {
  it("groups the link's execute_sql/explain_query calls by exact text within the days asked, newest first", async () => {
    const w = await approvalsWorld(prisma);
    const otherLink = w.otherLink.id;
    let seq = 1;
    await event(w.team.id, w.link.id, seq++, { sql: "SELECT * FROM invoice", ageSeconds: 300 });
    await event(w.team.id, w.link.id, seq++, { sql: "SELECT * FROM invoice", ageSeconds: 100 });
    await event(w.team.id, w.link.id, seq++, { sql: "SELECT * FROM invoice", tool: "explain_query", ageSeconds: 200 });
    await event(w.team.id, w.link.id, seq++, { sql: "select * from invoice", ageSeconds: 50 });
    await event(w.team.id, w.link.id, seq++, { sql: "DELETE FROM invoice", ageSeconds: 3 * 86400 });
    // Not replayed: other tools, other kinds, other links, other teams, too old.
    await event(w.team.id, w.link.id, seq++, { sql: "SELECT 2", tool: "describe_table" });
    await event(w.team.id, w.link.id, seq++, { sql: "SELECT 3", kind: "request_refused" });
    await event(w.team.id, w.link.id, seq++, { sql: "SELECT 4", ageSeconds: 8 * 86400 });
    await event(w.otherTeam.id, otherLink, 1, { sql: "SELECT 5" });
    const pool = poolFor(meta.url);
    const week = await replayStatements(pool, { teamId: w.team.id, linkId: w.link.id, days: 7 }).finally(() => pool.end());
    expect(week.map((s) => [s.sql, s.calls])).toEqual([
      ["select * from invoice", 1],
      ["SELECT * FROM invoice", 3],
      ["DELETE FROM invoice", 1],
    ]);
    expect(Date.now() - Date.parse(week[1]!.lastSeen)).toBeGreaterThanOrEqual(100_000);
    expect(Date.now() - Date.parse(week[1]!.lastSeen)).toBeLessThan(110_000);
    expect((await replayStatements(prisma, { teamId: w.team.id, linkId: w.link.id, days: 1 })).map((s) => s.sql)).toEqual(["select * from invoice", "SELECT * FROM invoice"]);
    expect((await replayStatements(prisma, { teamId: w.team.id, linkId: w.link.id, days: 7, limit: 1 })).map((s) => s.sql)).toEqual(["select * from invoice"]);
    // The link of another team, asked with this team's id: nothing.
    expect(await replayStatements(prisma, { teamId: w.team.id, linkId: otherLink, days: 7 })).toEqual([]);
    const bad = await replayStatements(prisma, { teamId: w.team.id, linkId: w.link.id, days: 91 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(PortcullisError);
  });

  it("100,000 events of one link: grouped in one query on the (team, link, time) index", async () => {
    const w = await approvalsWorld(prisma);
    const seeded = Date.now();
    expect(await seedToolCallEvents(meta.url, { teamId: w.team.id, linkId: w.link.id, count: 100_000, distinct: 2_000, days: 7 })).toBe(100_000);
    // Other teams' traffic, which the index must skip: the link's events are a third of the table.
    await seedToolCallEvents(meta.url, { teamId: w.otherTeam.id, linkId: w.otherLink.id, count: 200_000, distinct: 100, days: 7 });
    const seedMs = Date.now() - seeded;
    await prisma.$executeRawUnsafe("ANALYZE audit_events");
    const started = performance.now();
    const statements = await replayStatements(prisma, { teamId: w.team.id, linkId: w.link.id, days: 7 });
    const ms = performance.now() - started;
    expect(statements.length).toBe(2_000);
    expect(statements.reduce((n, s) => n + s.calls, 0)).toBeGreaterThan(99_000);
    const plan = await prisma.$queryRawUnsafe<{ "QUERY PLAN": string }[]>(
      `EXPLAIN SELECT e.sql, count(*) FROM audit_events e WHERE e.team_id = $1::uuid AND e.link_id = $2::uuid AND e.time >= now() - interval '7 days'
       AND e.kind = 'tool_call' AND e.tool = ANY(ARRAY['execute_sql','explain_query']) AND e.sql IS NOT NULL GROUP BY e.sql`,
      w.team.id,
      w.link.id,
    );
    // Partitioned by month: the plan names each partition's copy of the (team, link, time) index.
    expect(plan.map((p) => p["QUERY PLAN"]).join("\n")).toMatch(/audit_events_(p\d{6}|default)_team_id_link_id_time_idx/);
    console.log(`replay: seeded 300,000 events in ${seedMs} ms; replayStatements over 100,000 events (2,000 texts) in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(5_000);
  }, 120_000);
});
