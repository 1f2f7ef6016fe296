import { randomUUID } from "node:crypto";
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ingestAuditBatch, type AuditEventInput } from "@portcullis/db/audit";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * Issue 17 on the Activity tab: the detail names the link database and the server (primary or a
 * replica) a call ran on, a "Server" filter selects by it (offered when the team has replicas), and
 * exports carry both. Events are written by the worker's own writer into a migrated database and read
 * back by the tab's operations.
 */
let meta: TestDatabase;
let pool: pg.Pool;
let ops: typeof import("../src/features/activity/operations");
let filters: typeof import("../src/features/activity/filters");
let owner: { userId: string };
let member: { userId: string };
let teamId: string;
let plainTeam: { id: string; owner: { userId: string } };
const ids = { replica: randomUUID(), primary: randomUUID(), old: randomUUID(), memberCall: randomUUID(), neighbour: randomUUID() };

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
  teamId = (await teams.createTeamForUser({ userId: o.id }, { name: "Replicated" })).id;
  plainTeam = { id: (await teams.createTeamForUser({ userId: n.id }, { name: "Plain" })).id, owner: { userId: n.id } };
  await addMember(prisma, { teamId, userId: m.id, role: "member" });
  owner = { userId: o.id };
  member = { userId: m.id };
  pool = new pg.Pool({ connectionString: meta.url, max: 2 });
  const { rows } = await pool.query(
    `INSERT INTO connections (team_id, name, host, port, database, username, secret_ciphertext, secret_key_id) VALUES ($1, 'warehouse', 'db.internal', 5432, 'sales', 'reader', 'x', 'k1') RETURNING id`,
    [teamId],
  );
  await pool.query(`INSERT INTO connection_replicas (connection_id, team_id, name, host, port, position) VALUES ($1, $2, 'eu-replica', 'r1.internal', 5432, 0), ($1, $2, 'us-replica', 'r2.internal', 5432, 1)`, [
    rows[0].id,
    teamId,
  ]);
  const at = (s: number) => new Date(Date.now() - s * 1000).toISOString();
  const call = (id: string, t: string, s: number, extra: Partial<AuditEventInput>): AuditEventInput => ({
    id, time: at(s), teamId: t, kind: "tool_call", tool: "execute_sql", sql: `SELECT ${s}`, verdict: "allowed", durationMs: 1, userId: o.id, ...extra,
  });
  await ingestAuditBatch(pool, [
    call(ids.replica, teamId, 10, { databaseName: "sales", targetServer: "eu-replica" }),
    call(ids.primary, teamId, 20, { databaseName: "sales", targetServer: "primary" }),
    // Written before issue 17: neither.
    call(ids.old, teamId, 30, {}),
    call(ids.memberCall, teamId, 40, { databaseName: "sales", targetServer: "primary", userId: m.id }),
    call(ids.neighbour, plainTeam.id, 5, { databaseName: "main", targetServer: "eu-replica", userId: n.id }),
  ]);
}, 120_000);

afterAll(async () => {
  await pool?.end();
  await (await import("../src/lib/db")).getPrisma().$disconnect();
  await meta?.drop();
});

const idsOf = (events: { id: string }[]) => events.map((e) => e.id);

test("the detail names the database and the server; older events say neither", async () => {
  const { EventDetail } = await import("../src/features/activity/event-detail");
  const render = async (id: string) => renderToStaticMarkup(createElement(EventDetail, { event: await ops.getEvent(owner, teamId, id), closeHref: "/x", names: {} }));
  const onReplica = await render(ids.replica);
  expect(onReplica).toMatch(/Database<\/dt><dd[^>]*><span data-testid="event-database">sales<\/span>/);
  expect(onReplica).toMatch(/Server<\/dt><dd[^>]*><span data-testid="event-server">replica eu-replica<\/span>/);
  expect(await render(ids.primary)).toMatch(/<span data-testid="event-server">primary<\/span>/);
  const old = await render(ids.old);
  expect(old).toMatch(/Database<\/dt><dd[^>]*>—</);
  expect(old).toMatch(/Server<\/dt><dd[^>]*>—</);
});

test("the server filter selects exactly the calls that ran there, within the team and a member's own calls", async () => {
  const list = async (actor: { userId: string }, team: string, f: Record<string, string>) => idsOf((await ops.listEvents(actor, team, filters.parseFilters(f))).events);
  // Not the neighbour team's call on a server of the same name.
  expect(await list(owner, teamId, { server: "eu-replica" })).toEqual([ids.replica]);
  expect(await list(owner, teamId, { server: "primary" })).toEqual([ids.primary, ids.memberCall]);
  expect(await list(owner, teamId, { database: "sales", server: "primary" })).toEqual([ids.primary, ids.memberCall]);
  expect(await list(member, teamId, { server: "primary" })).toEqual([ids.memberCall]);
  expect(await list(member, teamId, { server: "eu-replica" })).toEqual([]);
  // Bound as a parameter, never spliced; an over-long value is dropped (no filter).
  const where = filters.buildWhere(teamId, filters.parseFilters({ server: "x' OR '1'='1" }));
  expect(where.params).toContain("x' OR '1'='1");
  expect(await list(owner, teamId, { server: "x' OR '1'='1" })).toEqual([]);
  expect(filters.parseFilters({ server: "s".repeat(101) }).server).toBeUndefined();
  expect((await ops.activityStats(owner, teamId, filters.parseFilters({ server: "primary" }))).totals.allowed).toBe(2);
});

test("the filter is offered when the team has replicas: leads see the team's servers, a member only those their calls ran on", async () => {
  const { FilterBar } = await import("../src/features/activity/filter-bar");
  const lookups = await ops.activityLookups(owner, teamId);
  expect(lookups.servers).toEqual(["primary", "eu-replica", "us-replica"]);
  const bar = renderToStaticMarkup(createElement(FilterBar, { slug: "replicated", filters: filters.parseFilters({ server: "us-replica" }), lookups }));
  expect(bar).toContain('id="f-server"');
  expect(bar).toMatch(/<option value="us-replica" selected="">us-replica<\/option>/);
  // The member's calls all ran on the primary: nothing to filter by.
  expect((await ops.activityLookups(member, teamId)).servers).toEqual([]);
  // A team without replicas (its events name a server of that name, the replicas are not its): no filter.
  const plain = await ops.activityLookups(plainTeam.owner, plainTeam.id);
  expect(plain.servers).toEqual([]);
  expect(renderToStaticMarkup(createElement(FilterBar, { slug: "plain", filters: filters.parseFilters({}), lookups: plain }))).not.toContain('id="f-server"');
});

test("exports carry the database and the server, appended after the earlier columns", async () => {
  const { jsonLine, csvLine, EXPORT_COLUMNS } = await import("../src/features/activity/export-format");
  const rows = [];
  for await (const row of ops.iterateEvents(owner, teamId, filters.parseFilters({}))) rows.push(row);
  expect(JSON.parse(jsonLine(rows.find((r) => r.id === ids.replica)!))).toMatchObject({ database_name: "sales", target_server: "eu-replica" });
  expect(EXPORT_COLUMNS.slice(-4)).toEqual(["protocol_version", "trace_id", "database_name", "target_server"]);
  expect(csvLine(rows.find((r) => r.id === ids.replica)!).trimEnd().endsWith(",sales,eu-replica")).toBe(true);
  expect(csvLine(rows.find((r) => r.id === ids.old)!).trimEnd().endsWith(",,")).toBe(true);
});
