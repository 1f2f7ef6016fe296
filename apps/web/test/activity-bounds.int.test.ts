import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { configChangeEvent, ingestAuditBatch, type AuditEventInput } from "@portcullis/db/audit";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./support/dashboard-env";

/** Issue 12: Activity does bounded work whatever the URL asks, and answers a NUL byte cleanly. */
let meta: TestDatabase;
let pool: pg.Pool;
let ops: typeof import("../src/features/activity/operations");
let filters: typeof import("../src/features/activity/filters");
let exportQuery: typeof import("../src/features/activity/export-query");
let owner: { userId: string };
let teamId: string;

beforeAll(async () => {
  meta = await createMetadataDatabase();
  useDashboardEnv(meta.url);
  ops = await import("../src/features/activity/operations");
  filters = await import("../src/features/activity/filters");
  exportQuery = await import("../src/features/activity/export-query");
  const { createUser, createTeam } = await import("@portcullis/db/operations");
  const prisma = (await import("../src/lib/db")).getPrisma();
  const o = await createUser(prisma, { email: "owner@bounds.test", password: "a long enough password" });
  teamId = (await createTeam(prisma, { name: "Bounds", ownerId: o.id })).id;
  owner = { userId: o.id };
  pool = new pg.Pool({ connectionString: meta.url, max: 2 });
  const now = Date.now();
  const events: AuditEventInput[] = Array.from({ length: 30 }, (_, i) => ({
    id: randomUUID(),
    time: new Date(now - i * 60_000).toISOString(),
    teamId,
    tool: "execute_sql",
    sql: i === 3 ? "SELECT 1\u0000; DROP TABLE audit_events" : `SELECT name FROM artist WHERE id = ${i}`,
    verdict: "allowed",
  }));
  events.push(
    configChangeEvent({
      teamId,
      actorUserId: o.id,
      action: "link.scope.update",
      target: { type: "link", id: randomUUID(), name: "analysts" },
      before: { access: "read", tables: { customer: { hiddenColumns: ["email"] } } },
      after: { access: "read", tables: { customer: { hiddenColumns: [] } } },
    }),
  );
  await ingestAuditBatch(pool, events);
}, 120_000);

afterAll(async () => {
  await (await import("../src/lib/db")).getPrisma().$disconnect();
  await pool?.end();
  await meta?.drop();
});

describe("bounded Activity", () => {
  test("a 1,000-year range is clamped: few buckets, a small answer, quickly", async () => {
    const f = filters.parseFilters({ range: "custom", from: "1026-01-01T00:00", to: "3026-01-01T00:00" });
    const window = filters.timeWindow(f);
    expect(window.to.getTime()).toBeLessThanOrEqual(Date.now() + 86_400_000 + 1000);
    expect(window.to.getTime() - window.from.getTime()).toBeLessThanOrEqual(filters.MAX_WINDOW_MS);
    const started = performance.now();
    const stats = await ops.activityStats(owner, teamId, f);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(stats.series.length).toBeLessThanOrEqual(filters.MAX_BUCKETS);
    expect(JSON.stringify(stats).length).toBeLessThan(100_000);
    expect(stats.totals.allowed).toBe(31);
    // Every window the clamp allows stays under the bucket cap, at every span.
    for (const days of [1, 15, 90, 365, 400, 401, 10_000]) {
      const to = new Date();
      const w = filters.timeWindow({ range: "custom", from: new Date(to.getTime() - days * 86_400_000).toISOString(), to: to.toISOString() });
      const b = ops.bucketFor(w.from, w.to);
      expect(Math.floor((w.to.getTime() - w.from.getTime()) / b.ms) + 1, `${days} days`).toBeLessThanOrEqual(filters.MAX_BUCKETS);
    }
    // Reversed, malformed and absurd bounds fall back to a sane window rather than failing.
    for (const q of [{ from: "3026-01-01", to: "1026-01-01" }, { from: "yesterday", to: "x".repeat(5000) }, { from: "-271821-04-20" }]) {
      const w = filters.timeWindow(filters.parseFilters({ range: "custom", ...q }));
      expect(w.to.getTime() - w.from.getTime()).toBeGreaterThanOrEqual(0);
      expect(w.to.getTime() - w.from.getTime()).toBeLessThanOrEqual(filters.MAX_WINDOW_MS);
    }
  });

  test("a NUL byte in the search (or any text filter) is a clean answer that finds the statement that had one", async () => {
    const page = await ops.listEvents(owner, teamId, filters.parseFilters({ q: "1\u0000; DROP" }));
    expect(page.events.map((e) => e.sql)).toEqual(["SELECT 1\uFFFD; DROP TABLE audit_events"]);
    for (const field of ["client", "tool", "q"]) {
      await expect(ops.listEvents(owner, teamId, filters.parseFilters({ [field]: "\u0000" }))).resolves.toBeDefined();
      await expect(ops.activityStats(owner, teamId, filters.parseFilters({ [field]: "a\ud800\u0000" }))).resolves.toBeDefined();
    }
  });

  test("configuration changes have their own kind filter and a readable before/after", async () => {
    const page = await ops.listEvents(owner, teamId, filters.parseFilters({ kind: "config_change" }));
    expect(page.events).toHaveLength(1);
    const { configDiff } = await import("../src/features/activity/config-diff");
    const diff = configDiff(page.events[0]!.detail);
    expect(diff).toMatchObject({ action: "link.scope.update", target: { type: "link", name: "analysts" } });
    expect(diff!.rows).toEqual([{ path: "tables.customer.hiddenColumns", before: '["email"]', after: "[]" }]);
    expect(filters.parseFilters({ kind: "nonsense" }).kind).toBeUndefined();
  });

  test("the export parses its query with zod and is bounded", async () => {
    const ok = exportQuery.parseExportQuery(new URLSearchParams({ format: "jsonl", range: "custom", from: "1026-01-01", q: "a\u0000" }));
    expect(ok).toMatchObject({ ok: true, format: "jsonl", filters: { q: "a\uFFFD" } });
    expect(exportQuery.parseExportQuery(new URLSearchParams("format=xml"))).toMatchObject({ ok: false });
    expect(exportQuery.parseExportQuery(new URLSearchParams("teamId[not]=x"))).toMatchObject({ ok: false });
    expect(exportQuery.parseExportQuery(new URLSearchParams("q=a&q=b"))).toMatchObject({ ok: false });
    expect(exportQuery.parseExportQuery(new URLSearchParams({ q: "x".repeat(5000) }))).toMatchObject({ ok: false });
    // At most maxRows rows, and the generator says it stopped at the cap.
    const rows = [];
    const it = ops.iterateEvents(owner, teamId, filters.parseFilters({}), 7, 10);
    let next = await it.next();
    while (!next.done) {
      rows.push(next.value);
      next = await it.next();
    }
    expect(rows).toHaveLength(10);
    expect(next.value).toBe(true);
    const all = ops.iterateEvents(owner, teamId, filters.parseFilters({}), 7, 1000);
    let n = 0;
    for (let r = await all.next(); !r.done; r = await all.next()) n++;
    expect(n).toBe(31);
  });
});
