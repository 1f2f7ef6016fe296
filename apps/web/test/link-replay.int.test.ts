import { randomBytes } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { createActionWorld, loadActions, type ActionWorld, type Result, type Who } from "./support/action-world";

/**
 * Replay before save (issue 15 §7) through the real server action: audited calls seeded in
 * audit_events, the draft replayed against the link's Chinook catalog, the groups judged by the
 * seeded counts. Also the 100,000-call figure the issue asks for (printed; bounded loosely here).
 */
const jar = vi.hoisted(() => ({ token: undefined as string | undefined }));
vi.mock("next/headers", () => ({
  cookies: async () => ({
    getAll: () => (jar.token ? [{ name: "next-auth.session-token", value: jar.token }] : []),
    get: (name: string) => (jar.token && name === "next-auth.session-token" ? { name, value: jar.token } : undefined),
  }),
  headers: async () => new Headers({ "user-agent": "vitest replay", "x-real-ip": "203.0.113.9" }),
}));
vi.mock("next/cache", () => ({ revalidatePath: () => {}, revalidateTag: () => {} }));

let world: ActionWorld;
let actions: Record<string, (input: unknown) => Promise<Result>>;
let seq = 1;

function call(who: Who, input: unknown): Promise<Result> {
  jar.token = world.tokens[who];
  return actions.replayScopeAction!(input);
}

/** `calls` tool_call events of one text on a link, `ageSeconds` old (spread over a minute). */
async function seed(linkId: string, sql: string, calls: number, ageSeconds = 3600, teamId = world.teamA, tool = "execute_sql") {
  await world.prisma.$executeRawUnsafe(
    `INSERT INTO audit_events (id, team_id, time, seq, kind, link_id, tool, sql, verdict, prev_hash, hash)
     SELECT gen_random_uuid(), $1::uuid, now() - make_interval(secs => $2::int + g % 60), $3::bigint + g, 'tool_call', $4::uuid, $5, $6, 'allowed', '', ''
     FROM generate_series(1, $7::int) g`,
    teamId, ageSeconds, seq, linkId, tool, sql, calls,
  );
  seq += calls;
}

const DRAFT = { access: "read", tables: { artist: { access: "none" }, invoice: { access: "write", approval: "writes" }, playlist: { access: "write" } } };

beforeAll(async () => {
  world = await createActionWorld("replay");
  actions = await loadActions([path.join(__dirname, "../src/features/links/actions.ts")]);
  // What the link's callers did: reads of artist (3 texts), a write on invoice, reads of genre; one
  // artist read 10 days ago; a tools/list-like call without SQL; another team's link reading artist.
  for (const limit of [1, 2, 3]) await seed(world.linkA, `SELECT name FROM artist ORDER BY artist_id LIMIT ${limit}`, 4);
  await seed(world.linkA, "UPDATE invoice SET total = total WHERE invoice_id = 1", 5);
  await seed(world.linkA, "SELECT name FROM genre", 3, 7200, world.teamA, "explain_query");
  await seed(world.linkA, "SELECT name FROM artist LIMIT 99", 2, 10 * 86_400);
  await seed(world.linkB, "SELECT name FROM artist", 7, 3600, world.teamB);
}, 180_000);

afterAll(async () => {
  await world?.drop();
});

describe("replayScopeAction", () => {
  test("a hidden table's reads become blocked (undefined_table, with counts and examples); approval on a written table shows as an approval change", async () => {
    const result = await call("owner", { teamId: world.teamA, linkId: world.linkA, scope: DRAFT, days: 7 });
    expect(result.ok, JSON.stringify(result)).toBe(true);
    const report = (result as { data: Record<string, unknown> }).data as {
      calls: number; statements: number; unchanged: number; truncated: boolean; totalMs: number; durationMs: number;
      becameBlocked: { ruleId: string; calls: number; statements: number; examples: { sql: string; calls: number; reason: string }[] }[];
      becameAllowed: unknown[]; ruleChanged: unknown[]; approvalChanged: { ruleId: string; calls: number; statements: number }[];
    };
    // 12 artist reads + 5 invoice writes + 3 genre explains inside the week; not the 10-day-old call, not team B's.
    expect(report).toMatchObject({ calls: 20, statements: 5, unchanged: 3, truncated: false });
    expect(report.becameBlocked).toHaveLength(1);
    expect(report.becameBlocked[0]).toMatchObject({ ruleId: "undefined_table", calls: 12, statements: 3 });
    expect(report.becameBlocked[0]!.examples.map((e) => e.sql).sort()).toEqual([1, 2, 3].map((l) => `SELECT name FROM artist ORDER BY artist_id LIMIT ${l}`));
    for (const e of report.becameBlocked[0]!.examples) expect(e.calls).toBe(4);
    expect(report.approvalChanged).toEqual([expect.objectContaining({ calls: 5, statements: 1 })]);
    expect(report.approvalChanged[0]!.ruleId).toMatch(/none.*writes/);
    expect(report.becameAllowed).toEqual([]);
    expect(report.totalMs).toBeGreaterThanOrEqual(0);

    // The month includes the older artist read.
    const month = await call("admin", { teamId: world.teamA, linkId: world.linkA, scope: DRAFT, days: 30 });
    expect(month).toMatchObject({ ok: true, data: { calls: 22, becameBlocked: [{ ruleId: "undefined_table", calls: 14, statements: 4 }] } });

    // The saved scope against itself changes nothing; each replay is audited as a config change.
    const same = await call("owner", { teamId: world.teamA, linkId: world.linkA, scope: { access: "read", tables: { invoice: { access: "write" }, playlist: { access: "write" } } }, days: 7 });
    expect(same).toMatchObject({ ok: true, data: { calls: 20, unchanged: 20, becameBlocked: [], becameAllowed: [], ruleChanged: [], approvalChanged: [] } });
    const audited = await world.prisma.auditOutbox.findMany({ where: { teamId: world.teamA } });
    expect(audited.filter((row) => String(row.event).includes("link.scope.replay"))).toHaveLength(3);
  });

  test("the draft is checked by the one scope schema: errors come back per field, nothing is replayed", async () => {
    const result = await call("owner", { teamId: world.teamA, linkId: world.linkA, scope: { access: "read", tables: { artist: { approval: "writes" } } }, days: 7 });
    expect(result).toMatchObject({ ok: false, code: "invalid_input" });
    expect(Object.keys((result as { fieldErrors?: Record<string, string> }).fieldErrors ?? {})).toContain("scope.tables.artist.approval");
  });

  test("only owners and admins replay; other teams read not found; inputs are strict", async () => {
    const valid = { teamId: world.teamA, linkId: world.linkA, scope: DRAFT, days: 7 };
    for (const who of ["member", "approver", "viewer"] as const) expect(await call(who, valid), who).toMatchObject({ ok: false, code: "forbidden" });
    expect(await call("outsider", valid)).toMatchObject({ ok: false, code: "not_found" });
    // Their own team, our link: the link is not theirs.
    expect(await call("outsider", { ...valid, teamId: world.teamB })).toMatchObject({ ok: false, code: "not_found" });
    // Our team, their link.
    expect(await call("owner", { ...valid, linkId: world.linkB })).toMatchObject({ ok: false, code: "not_found" });
    for (const bad of [{ days: 2 }, { days: "7" }, { days: 7.5 }, { linkId: { not: world.linkA } }, { scope: [] }, { scope: "x" }, { extra: 1 }]) {
      expect(await call("owner", { ...valid, ...bad }), JSON.stringify(bad)).toMatchObject({ ok: false, code: "invalid_input" });
    }
    jar.token = undefined;
    expect(await actions.replayScopeAction!(valid)).toMatchObject({ ok: false, code: "unauthenticated" });
  });

  test("100,000 audited calls: replayed within the bound, the figure printed", async () => {
    // A busy week of an agent: reads of five tables with varying ids and limits, writes on invoice —
    // 2,000 distinct texts over 100,000 calls, on its own link (the loader is bounded at 100,000 calls).
    const { createLinkForTeam } = await import("../src/features/links/operations");
    const { resolveTeam } = await import("../src/lib/authz");
    const owner = await resolveTeam({ userId: world.users.owner }, world.teamA);
    const busy = (await createLinkForTeam(owner, { connectionId: world.connectionA, name: `busy-${randomBytes(2).toString("hex")}`, scope: { access: "read", tables: { invoice: { access: "write" } } } })).id;
    const started = performance.now();
    await world.prisma.$executeRawUnsafe(
      `INSERT INTO audit_events (id, team_id, time, seq, kind, link_id, tool, sql, verdict, prev_hash, hash)
       SELECT gen_random_uuid(), $1::uuid, now() - make_interval(secs => g % 500000), $2::bigint + g, 'tool_call', $3::uuid, 'execute_sql',
         CASE g % 5
           WHEN 0 THEN 'SELECT name FROM artist WHERE artist_id = ' || ((g / 5) % 400)
           WHEN 1 THEN 'SELECT t.name, a.title FROM track t JOIN album a USING (album_id) WHERE t.track_id = ' || ((g / 5) % 400)
           WHEN 2 THEN 'SELECT * FROM customer WHERE customer_id = ' || ((g / 5) % 400)
           WHEN 3 THEN 'UPDATE invoice SET total = total WHERE invoice_id = ' || ((g / 5) % 400)
           ELSE 'SELECT count(*) FROM invoice_line WHERE invoice_id = ' || ((g / 5) % 400)
         END, 'allowed', '', ''
       FROM generate_series(1, 100000) g`,
      world.teamA, seq, busy,
    );
    seq += 100_000;
    const seedMs = performance.now() - started;
    const draft = { access: "read", tables: { artist: { access: "none" }, customer: { access: "none" }, invoice: { access: "write", approval: "writes" } } };
    const result = await call("admin", { teamId: world.teamA, linkId: busy, scope: draft, days: 7 });
    expect(result.ok, JSON.stringify(result)).toBe(true);
    type Group = { ruleId: string; calls: number; statements: number };
    const report = (result as { data: { calls: number; statements: number; totalMs: number; loadMs: number; durationMs: number; truncated: boolean; becameBlocked: Group[]; approvalChanged: Group[] } }).data;
    expect(report.calls).toBe(100_000);
    expect(report.statements).toBe(2000);
    expect(report.truncated).toBe(false);
    // artist and customer hidden: 20,000 calls in 400 texts each; every invoice write now waits for a lead.
    expect(report.becameBlocked).toEqual([expect.objectContaining({ ruleId: "undefined_table", calls: 40_000, statements: 800 })]);
    expect(report.approvalChanged).toEqual([expect.objectContaining({ calls: 20_000, statements: 400 })]);
    console.log(`[replay] seeded 100,000 events in ${Math.round(seedMs)} ms; replay total ${report.totalMs} ms (audit read ${report.loadMs} ms, policy ${Math.round(report.durationMs)} ms) for ${report.statements} distinct statements`);
    // Loose: two shared cores under eight engineers; the figure above is the measurement.
    expect(report.totalMs).toBeLessThan(60_000);
  }, 240_000);
});
