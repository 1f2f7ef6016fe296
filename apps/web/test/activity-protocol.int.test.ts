import { randomUUID } from "node:crypto";
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ingestAuditBatch, type AuditEventInput } from "@portcullis/db/audit";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * Issue 13 on the Activity tab: each row says "client name version · revision", the detail shows the
 * revision and the trace id, the revision is a filter, and exports carry both. Events are written by
 * the worker's own writer (ingestAuditBatch) into a migrated database, and read back by the tab's
 * operations; the tab's components are rendered from what those operations return.
 */
let meta: TestDatabase;
let pool: pg.Pool;
let ops: typeof import("../src/features/activity/operations");
let filters: typeof import("../src/features/activity/filters");
let owner: { userId: string };
let member: { userId: string };
let teamId: string;
let otherTeam: string;
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const ids = { modern: randomUUID(), legacy: randomUUID(), playground: randomUUID(), old: randomUUID(), neighbour: randomUUID(), memberCall: randomUUID() };

beforeAll(async () => {
  meta = await createMetadataDatabase();
  useDashboardEnv(meta.url);
  ops = await import("../src/features/activity/operations");
  filters = await import("../src/features/activity/filters");
  const teams = await import("../src/features/teams/operations");
  const { createUser, addMember } = await import("@portcullis/db/operations");
  const prisma = (await import("../src/lib/db")).getPrisma();
  const o = await createUser(prisma, { email: "owner@example.com", password: "a long enough password" });
  const m = await createUser(prisma, { email: "member@example.com", password: "a long enough password" });
  const n = await createUser(prisma, { email: "neighbour@example.com", password: "a long enough password" });
  teamId = (await teams.createTeamForUser({ userId: o.id }, { name: "Protocols" })).id;
  otherTeam = (await teams.createTeamForUser({ userId: n.id }, { name: "Neighbour" })).id;
  await addMember(prisma, { teamId, userId: m.id, role: "member" });
  owner = { userId: o.id };
  member = { userId: m.id };
  pool = new pg.Pool({ connectionString: meta.url, max: 2 });
  const at = (s: number) => new Date(Date.now() - s * 1000).toISOString();
  const call = (id: string, t: string, s: number, extra: Partial<AuditEventInput>): AuditEventInput => ({
    id, time: at(s), teamId: t, kind: "tool_call", tool: "execute_sql", sql: `SELECT ${s}`, verdict: "allowed", durationMs: 1, userId: o.id, ...extra,
  });
  await ingestAuditBatch(pool, [
    call(ids.modern, teamId, 10, { clientName: "portcullis-e2e", clientVersion: "2.4.0", protocolVersion: "2026-07-28", traceId: TRACE }),
    call(ids.legacy, teamId, 20, { clientName: "mcp-remote", clientVersion: "0.15.1", protocolVersion: "2025-11-25" }),
    call(ids.playground, teamId, 30, { clientName: "portcullis-playground", protocolVersion: "playground" }),
    // Written before issue 13: no revision, no trace id.
    call(ids.old, teamId, 40, { clientName: "cursor", clientVersion: "1.7.0" }),
    call(ids.memberCall, teamId, 50, { clientName: "claude-code", clientVersion: "2.1.0", protocolVersion: "2026-07-28", userId: m.id }),
    call(ids.neighbour, otherTeam, 5, { clientName: "neighbour-client", protocolVersion: "2026-07-28", traceId: "5bf92f3577b34da6a3ce929d0e0e4736", userId: n.id }),
  ]);
}, 120_000);

afterAll(async () => {
  await pool?.end();
  await (await import("../src/lib/db")).getPrisma().$disconnect();
  await meta?.drop();
});

const idsOf = (events: { id: string }[]) => events.map((e) => e.id);

test("rows read back with revision and trace id, and render as 'client version · revision'", async () => {
  const { ClientLine } = await import("../src/features/activity/client-label");
  const page = await ops.listEvents(owner, teamId, filters.parseFilters({}));
  expect(idsOf(page.events)).toEqual([ids.modern, ids.legacy, ids.playground, ids.old, ids.memberCall]);
  const byId = new Map(page.events.map((e) => [e.id, e]));
  expect(byId.get(ids.modern)).toMatchObject({ protocol_version: "2026-07-28", trace_id: TRACE });
  const line = (id: string) => renderToStaticMarkup(createElement(ClientLine, { row: byId.get(id)! }));
  expect(line(ids.modern)).toContain(">portcullis-e2e 2.4.0 · 2026-07-28<");
  expect(line(ids.legacy)).toContain(">mcp-remote 0.15.1 · 2025-11-25<");
  expect(line(ids.playground)).toContain(">portcullis-playground · Playground<");
  // An event from before the revision was recorded keeps today's "name version".
  expect(line(ids.old)).toContain(">cursor 1.7.0<");
});

test("the detail shows the revision and the trace id", async () => {
  const { EventDetail } = await import("../src/features/activity/event-detail");
  const render = async (id: string) => renderToStaticMarkup(createElement(EventDetail, { event: await ops.getEvent(owner, teamId, id), closeHref: "/x", names: {} }));
  const modern = await render(ids.modern);
  expect(modern).toContain("MCP revision</dt><dd");
  expect(modern).toMatch(/MCP revision<\/dt><dd[^>]*>2026-07-28</);
  expect(modern).toContain(`data-testid="event-trace-id">${TRACE}</code>`);
  const old = await render(ids.old);
  expect(old).toMatch(/MCP revision<\/dt><dd[^>]*>—</);
  expect(old).toMatch(/Trace id<\/dt><dd[^>]*>—</);
});

test("the revision filter selects exactly the calls served under it, within the team and the member's own calls", async () => {
  const modern = await ops.listEvents(owner, teamId, filters.parseFilters({ revision: "2026-07-28" }));
  // Not the neighbour team's modern call.
  expect(idsOf(modern.events)).toEqual([ids.modern, ids.memberCall]);
  expect(idsOf((await ops.listEvents(owner, teamId, filters.parseFilters({ revision: "playground" }))).events)).toEqual([ids.playground]);
  expect((await ops.listEvents(owner, teamId, filters.parseFilters({ revision: "2025-03-26" }))).events).toEqual([]);
  // A member sees only their own calls under any filter.
  expect(idsOf((await ops.listEvents(member, teamId, filters.parseFilters({ revision: "2026-07-28" }))).events)).toEqual([ids.memberCall]);
  // A value that is not a revision is dropped (no filter), never passed on to SQL.
  const junk = filters.parseFilters({ revision: "2026-07-28' OR '1'='1" });
  expect(junk.revision).toBeUndefined();
  expect(filters.buildWhere(teamId, filters.parseFilters({ revision: "2025-06-18" })).params).toContain("2025-06-18");
  // Stats follow the same filter.
  expect((await ops.activityStats(owner, teamId, filters.parseFilters({ revision: "2026-07-28" }))).totals.allowed).toBe(2);
});

test("exports carry the revision and the trace id", async () => {
  const { jsonLine, csvLine, EXPORT_COLUMNS } = await import("../src/features/activity/export-format");
  const rows = [];
  for await (const row of ops.iterateEvents(owner, teamId, filters.parseFilters({ revision: "2026-07-28" }))) rows.push(row);
  const parsed = rows.map((r) => JSON.parse(jsonLine(r)));
  expect(parsed.find((p) => p.id === ids.modern)).toMatchObject({ protocol_version: "2026-07-28", trace_id: TRACE });
  // Appended last, so existing CSV consumers keep their column positions.
  // (issue 17 appended database_name and target_server after them: empty for these events)
  expect(EXPORT_COLUMNS.slice(-4, -2)).toEqual(["protocol_version", "trace_id"]);
  expect(csvLine(rows.find((r) => r.id === ids.modern)!).trimEnd().endsWith(`,2026-07-28,${TRACE},,`)).toBe(true);
});
