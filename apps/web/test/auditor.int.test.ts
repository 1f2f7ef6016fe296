import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { createChinookDatabase, createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * The Auditor role (issue 16 point 4), judged by effect on real PostgreSQL: an auditor reads every
 * event of the team (list, detail, charts, lookups, export lines, chain verification) exactly as
 * the owner does, and nothing else — no connection, key, approval or link access — while a member
 * still sees only their own events. Pages are checked through requireTeamPage with a real session
 * (only Next's cookie plumbing is replaced, as in actions-boundary).
 */
const jar = vi.hoisted(() => ({ token: undefined as string | undefined }));
vi.mock("next/headers", () => ({
  cookies: async () => ({
    getAll: () => (jar.token ? [{ name: "next-auth.session-token", value: jar.token }] : []),
    get: (name: string) => (jar.token && name === "next-auth.session-token" ? { name, value: jar.token } : undefined),
  }),
  headers: async () => new Headers({ "user-agent": "vitest auditor", "x-real-ip": "203.0.113.9" }),
}));

type Who = "owner" | "member" | "viewer" | "auditor" | "outsider";
let meta: TestDatabase;
let chinook: TestDatabase;
let prisma: import("@portcullis/db/client").PrismaClient;
let activity: typeof import("../src/features/activity/operations");
let authz: typeof import("../src/lib/authz");
const users = {} as Record<Who, string>;
const tokens = {} as Record<Who, string>;
let teamId: string;
let slug: string;
let otherTeamId: string;
let linkId: string;
const ids = { member: [] as string[], owner: [] as string[], other: [] as string[] };
const actor = (who: Who) => ({ userId: users[who] });

async function insertEvents(client: pg.Client, team: string, userId: string | null, n: number, firstSeq: number, sql: string) {
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO audit_events (id, team_id, time, seq, link_id, user_id, client_name, tool, sql, tables, verdict, duration_ms, rows, prev_hash, hash)
     SELECT gen_random_uuid(), $1::uuid, now() - (g * interval '1 minute'), $5::bigint + g, $2::uuid, $3::uuid, 'cursor', 'execute_sql',
            $6 || ' /* ' || g || ' */', ARRAY['public.artist'], (CASE WHEN g % 2 = 0 THEN 'blocked' ELSE 'allowed' END)::"AuditVerdict",
            1.5, 1, repeat('0', 64), repeat('0', 64)
       FROM generate_series(1, $4::int) g RETURNING id::text`,
    [team, team === teamId ? linkId : null, userId, n, firstSeq, sql],
  );
  return rows.map((r) => r.id);
}

async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return "ok";
  } catch (error) {
    return (error as { code?: string; digest?: string }).code ?? (error as { digest?: string }).digest ?? String(error);
  }
}

beforeAll(async () => {
  [meta, chinook] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
  useDashboardEnv(meta.url);
  process.env.QUEUE_PREFIX = `aud${randomBytes(3).toString("hex")}`;
  process.env.TARGET_NETWORKS = "any";
  process.env.TARGET_ALLOW_POWERFUL_ROLES = "true";
  process.env.TARGET_STACK_DATABASES = new URL(chinook.url).pathname.slice(1);
  delete process.env.GATEWAY_INTERNAL_TOKEN;
  prisma = (await import("../src/lib/db")).getPrisma();
  activity = await import("../src/features/activity/operations");
  authz = await import("../src/lib/authz");
  const { createUser, addMember, createTeam } = await import("@portcullis/db/operations");
  const { encode } = await import("next-auth/jwt");
  for (const who of ["owner", "member", "viewer", "auditor", "outsider"] as const) {
    const u = await createUser(prisma, { email: `${who}-${randomBytes(4).toString("hex")}@example.com`, password: "a long enough password" });
    users[who] = u.id;
    const session = await prisma.session.create({ data: { userId: u.id, expiresAt: new Date(Date.now() + 86_400_000), userAgent: "vitest auditor" } });
    tokens[who] = await encode({ token: { uid: u.id, sid: session.id }, secret: process.env.NEXTAUTH_SECRET! });
  }
  const team = await createTeam(prisma, { name: "Audited", ownerId: users.owner });
  teamId = team.id;
  slug = team.slug;
  for (const role of ["member", "viewer", "auditor"] as const) await addMember(prisma, { teamId, userId: users[role], role });
  otherTeamId = (await createTeam(prisma, { name: "Elsewhere", ownerId: users.outsider })).id;

  const owner = await authz.resolveTeam(actor("owner"), teamId, "owner");
  const conn = await import("../src/features/connections/operations");
  const links = await import("../src/features/links/operations");
  const connectionId = (await conn.createConnection(owner, { values: { name: "chinook", mode: "url", url: `${chinook.url}${chinook.url.includes("?") ? "&" : "?"}sslmode=disable`, sslMode: "disable" } })).id;
  linkId = (await links.createLinkForTeam(owner, { connectionId, name: "read", scope: { access: "read" } })).id;
  await links.setLinkAccess(owner, { linkId, userId: users.member, granted: true });

  const client = new pg.Client({ connectionString: meta.url });
  await client.connect();
  try {
    ids.member = await insertEvents(client, teamId, users.member, 6, 0, "SELECT name FROM artist");
    ids.owner = await insertEvents(client, teamId, users.owner, 5, 100, "SELECT title FROM album");
    ids.other = await insertEvents(client, otherTeamId, users.outsider, 4, 0, "SELECT secret FROM elsewhere");
  } finally {
    await client.end();
  }
}, 120_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await Promise.all([meta?.drop(), chinook?.drop()]);
});

async function allPages(who: Who) {
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await activity.listEvents(actor(who), teamId, { range: "7d" }, cursor);
    seen.push(...page.events.map((e) => e.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return seen.sort();
}

describe("what an auditor reads", () => {
  test("every event of the team, as the owner sees it; none of another team's; a member still only their own", async () => {
    const team = [...ids.member, ...ids.owner].sort();
    expect(await allPages("owner")).toEqual(team);
    expect(await allPages("auditor")).toEqual(team);
    expect(await allPages("viewer")).toEqual(team);
    expect(await allPages("member")).toEqual([...ids.member].sort());
    // The detail of another member's event opens for the auditor, not for a member.
    expect((await activity.getEvent(actor("auditor"), teamId, ids.owner[0]!)).id).toBe(ids.owner[0]);
    expect(await outcome(() => activity.getEvent(actor("member"), teamId, ids.owner[0]!))).toBe("not_found");
    // Another team's event by id: not found for the auditor, as for anyone of this team.
    expect(await outcome(() => activity.getEvent(actor("auditor"), teamId, ids.other[0]!))).toBe("not_found");
    expect(await outcome(() => activity.listEvents(actor("auditor"), otherTeamId, { range: "7d" }))).toBe("not_found");
  });

  test("charts, lookups and the chain's verification are the owner's", async () => {
    const [mine, theirs] = await Promise.all([activity.activityStats(actor("auditor"), teamId, { range: "7d" }), activity.activityStats(actor("owner"), teamId, { range: "7d" })]);
    expect(mine.totals).toEqual(theirs.totals);
    expect(mine.totals.allowed + mine.totals.blocked).toBe(ids.member.length + ids.owner.length);
    const member = await activity.activityStats(actor("member"), teamId, { range: "7d" });
    expect(member.totals.allowed + member.totals.blocked).toBe(ids.member.length);
    const lookups = await activity.activityLookups(actor("auditor"), teamId);
    expect(lookups.canSeeEveryone).toBe(true);
    expect(lookups.members.map((m) => m.id).sort()).toEqual([users.owner, users.member, users.viewer, users.auditor].sort());
    expect((await activity.activityLookups(actor("member"), teamId)).canSeeEveryone).toBe(false);
    const { auditChainStatus } = await import("../src/features/activity/audit-chain");
    expect(await outcome(() => auditChainStatus(actor("auditor"), teamId))).toBe("ok");
  });

  test("the export carries every team event as CSV and JSON lines; a member's carries their own", async () => {
    const { csvLine, jsonLine } = await import("../src/features/activity/export-format");
    // The route's own check (activity/export/route.ts), then the lines it writes.
    expect((await authz.authorizeTeamSlug(actor("auditor"), slug, "activity:export")).role).toBe("auditor");
    expect(await outcome(() => authz.authorizeTeamSlug(actor("outsider"), slug, "activity:export"))).toBe("not_found");
    const exported = async (who: Who) => {
      let csv = "";
      let jsonl = "";
      for await (const row of activity.iterateEvents(actor(who), teamId, { range: "7d" })) {
        csv += csvLine(row);
        jsonl += jsonLine(row);
      }
      return { csv, jsonl };
    };
    const auditor = await exported("auditor");
    const lines = auditor.jsonl.trim().split("\n").map((l) => JSON.parse(l) as { id: string });
    expect(lines.map((l) => l.id).sort()).toEqual([...ids.member, ...ids.owner].sort());
    for (const id of [...ids.member, ...ids.owner]) expect(auditor.csv).toContain(id);
    for (const id of ids.other) expect(auditor.csv + auditor.jsonl).not.toContain(id);
    expect(auditor.csv).not.toContain("elsewhere");
    const member = await exported("member");
    expect(member.jsonl.trim().split("\n").map((l) => (JSON.parse(l) as { id: string }).id).sort()).toEqual([...ids.member].sort());
  });
});

describe("what an auditor cannot do", () => {
  test("no team operation beyond Activity resolves for them: connections (and their secrets), links, keys, settings", async () => {
    for (const need of ["viewer", "member", "admin", "owner"] as const) {
      expect(await outcome(() => authz.resolveTeam(actor("auditor"), teamId, need)), need).toBe("forbidden");
    }
    expect(await outcome(() => authz.resolveTeam(actor("auditor"), teamId))).toBe("forbidden");
    for (const need of ["team:open", "activity:read", "activity:read-all", "activity:export", "activity:verify"] as const) {
      expect((await authz.resolveTeam(actor("auditor"), teamId, need)).role, need).toBe("auditor");
    }
    // A member has activity but not the whole team's.
    expect(await outcome(() => authz.resolveTeam(actor("member"), teamId, "activity:read-all"))).toBe("forbidden");
  });

  test("no key: not for themselves, not issued for them by the owner", async () => {
    const { createApiKey } = await import("@portcullis/db/operations");
    const before = await prisma.apiKey.count({ where: { userId: users.auditor } });
    expect(await outcome(() => createApiKey(prisma, { teamId, linkId, userId: users.auditor, name: "audit", createdById: users.owner }))).toBe("forbidden");
    const keys = await import("../src/features/keys/operations");
    const owner = await authz.resolveTeam(actor("owner"), teamId);
    expect(await outcome(() => keys.issueKey(owner, { linkId, name: "for-auditor", expiresInDays: 1, userId: users.auditor }))).toBe("forbidden");
    expect(await prisma.apiKey.count({ where: { userId: users.auditor } })).toBe(before);
  });

  test("never an approver, never a link user through OAuth — even with a link_access row written behind the dashboard's back", async () => {
    const { setLinkApprovers, mayApprove, setMemberAttributes } = await import("@portcullis/db/operations");
    expect(await outcome(() => setMemberAttributes(prisma, { teamId, actorUserId: users.owner, via: "dashboard" }, { linkId, userId: users.auditor, values: { rep_id: "1" } }))).toBe("forbidden");
    expect(await outcome(() => setLinkApprovers(prisma, { teamId, linkId, userIds: [users.auditor], actorUserId: users.owner }))).toBe("forbidden");
    expect(await prisma.linkApprover.count({ where: { linkId } })).toBe(0);
    const links = await import("../src/features/links/operations");
    const owner = await authz.resolveTeam(actor("owner"), teamId);
    expect(await outcome(() => links.setLinkAccess(owner, { linkId, userId: users.auditor, granted: true }))).toBe("forbidden");
    expect(await prisma.linkAccess.count({ where: { linkId, userId: users.auditor } })).toBe(0);
    await prisma.linkApprover.create({ data: { linkId, userId: users.auditor } });
    await prisma.linkAccess.create({ data: { linkId, userId: users.auditor } });
    try {
      expect(await mayApprove(prisma, { teamId, linkId, userId: users.auditor })).toBe(false);
      const { loadLinkAccess } = await import("@portcullis/oauth");
      expect(await loadLinkAccess(prisma, users.auditor, linkId)).toMatchObject({ allowed: false, role: "auditor" });
      // The same row makes a member a link user: the refusal is the role's.
      expect(await loadLinkAccess(prisma, users.member, linkId)).toMatchObject({ allowed: true });
    } finally {
      await prisma.linkApprover.deleteMany({ where: { linkId, userId: users.auditor } });
      await prisma.linkAccess.deleteMany({ where: { linkId, userId: users.auditor } });
    }
  });

  test("a member made auditor loses keys, link access and named-approver rows at once", async () => {
    const { createUser, addMember } = await import("@portcullis/db/operations");
    const u = await createUser(prisma, { email: `m2-${randomBytes(4).toString("hex")}@example.com`, password: "a long enough password" });
    await addMember(prisma, { teamId, userId: u.id, role: "member" });
    const owner = await authz.resolveTeam(actor("owner"), teamId);
    const links = await import("../src/features/links/operations");
    const keys = await import("../src/features/keys/operations");
    await links.setLinkAccess(owner, { linkId, userId: u.id, granted: true });
    const key = await keys.issueKey(await authz.resolveTeam({ userId: u.id }, teamId), { linkId, name: "laptop", expiresInDays: 1 });
    await prisma.linkApprover.create({ data: { linkId, userId: u.id } });
    const teams = await import("../src/features/teams/operations");
    await teams.changeMemberRole(owner, { userId: u.id, role: "auditor" });
    expect(await prisma.linkApprover.count({ where: { userId: u.id } })).toBe(0);
    expect((await prisma.apiKey.findUniqueOrThrow({ where: { id: key.id } })).revokedAt).not.toBeNull();
    expect(await prisma.linkAccess.count({ where: { userId: u.id } })).toBe(0);
    expect((await prisma.membership.findUniqueOrThrow({ where: { teamId_userId: { teamId, userId: u.id } } })).role).toBe("auditor");
  });
});

describe("pages", () => {
  test("an auditor is sent to Activity from any other page; Activity opens; a viewer still gets 404 on an admin page", async () => {
    const { requireTeamPage } = await import("../src/lib/session");
    jar.token = tokens.auditor;
    const redirected = await outcome(() => requireTeamPage(slug));
    expect(redirected).toMatch(/^NEXT_REDIRECT;.*;\/t\/[^;]+\/activity;/);
    expect(redirected).toContain(`/t/${slug}/activity`);
    expect(await outcome(() => requireTeamPage(slug, "admin"))).toContain(`/t/${slug}/activity`);
    expect((await requireTeamPage(slug, "activity:read")).role).toBe("auditor");
    expect((await requireTeamPage(slug, "team:open")).role).toBe("auditor");
    jar.token = tokens.viewer;
    expect(await outcome(() => requireTeamPage(slug, "admin"))).toMatch(/404/);
    expect((await requireTeamPage(slug)).role).toBe("viewer");
    jar.token = tokens.outsider;
    expect(await outcome(() => requireTeamPage(slug, "activity:read"))).toMatch(/404/);
    jar.token = undefined;
  });

  test("the nav lists Activity alone for an auditor and every page for the others", async () => {
    const { visiblePages, can } = await import("../src/lib/permissions");
    expect(visiblePages("auditor")).toEqual(["/activity"]);
    for (const role of ["owner", "admin", "member", "viewer"] as const) expect(visiblePages(role)).toContain("/connections");
    // A permission nobody declared is refused, whatever the role.
    expect(can("owner", "activity:delete" as never)).toBe(false);
    expect(can("auditor", "__proto__" as never)).toBe(false);
  });
});
