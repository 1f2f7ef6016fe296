import { randomBytes } from "node:crypto";
import pg from "pg";
import { migrate } from "@portcullis/db/migrate";
import { MACHINE_HEADERS, machineCells, percentile, printTable, startRound } from "@portcullis/db/testing";
import { generateAuditEvents, syntheticId, teamPlan, type GeneratedTeam } from "./activity-generate";
import { measureRollupIngestCost } from "./activity-ingest";

/**
 * `pnpm bench` (apps/web): Activity on an audit trail of BENCH_AUDIT_EVENTS events (default 50,000,000).
 * Creates its own database on BENCH_PG_URL (default TEST_PG_URL), applies the real migrations, fills
 * it (activity-generate.ts), then times the dashboard's own functions (listEvents, activityStats) as
 * the Activity page calls them, through the real Prisma client: first and next page, each filter
 * alone, combinations, text search, and the charts over 24 h / 7 d / 30 d; BENCH_ACTIVITY_RUNS runs
 * each (after one warm-up), p50/p95 with the machine's load and steal. The database is dropped at the
 * end unless BENCH_AUDIT_KEEP=1; BENCH_ACTIVITY_DB=<name> measures an existing one (no generation).
 */

const EVENTS = Number(process.env.BENCH_AUDIT_EVENTS ?? 50_000_000);
const DAYS = Number(process.env.BENCH_AUDIT_DAYS ?? 95);
const RUNS = Number(process.env.BENCH_ACTIVITY_RUNS ?? 10);
const KEEP = process.env.BENCH_AUDIT_KEEP === "1";
const EXISTING = process.env.BENCH_ACTIVITY_DB;
/** Only the queries whose label matches this regular expression (e.g. "charts"). */
const ONLY = process.env.BENCH_ACTIVITY_ONLY ? new RegExp(process.env.BENCH_ACTIVITY_ONLY) : null;
const SKIP_INGEST = process.env.BENCH_ACTIVITY_SKIP_INGEST === "1";
const BASE = process.env.BENCH_PG_URL ?? process.env.TEST_PG_URL;
if (!BASE) throw new Error("set BENCH_PG_URL or TEST_PG_URL (source scripts/test-services.sh)");

const urlFor = (database: string) => {
  const u = new URL(BASE);
  u.pathname = `/${database}`;
  return u.toString();
};
const admin = async <T>(fn: (c: pg.Client) => Promise<T>) => {
  const c = new pg.Client({ connectionString: urlFor("postgres") });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
};

const name = EXISTING ?? `bench_activity_${randomBytes(4).toString("hex")}`;
const url = urlFor(name);
const plan = teamPlan({ events: EVENTS, days: DAYS, teams: 20, bigShare: 0.5, log: () => {} });
let big: GeneratedTeam = plan[0]!;

if (!EXISTING) {
  await admin((c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  console.log(`database ${name}: migrating, then ${EVENTS.toLocaleString()} events over ${DAYS} days`);
  await migrate(url);
  const result = await generateAuditEvents(url, { events: EVENTS, days: DAYS, teams: 20, bigShare: 0.5, jobs: Number(process.env.BENCH_GENERATE_JOBS ?? 2), log: (l) => console.log(l) });
  big = result.teams[0]!;
  const gb = (b: number) => (b / 1024 ** 3).toFixed(2);
  console.log(
    `loaded in ${result.loadSeconds.toFixed(0)} s (${Math.round(EVENTS / result.loadSeconds).toLocaleString()} events/s, statement-shape trigger on), ` +
      `indexes + analyze ${result.indexSeconds.toFixed(0)} s; audit_events ${gb(result.bytes.events)} GB, rollups ${gb(result.bytes.rollups)} GB, database ${gb(result.bytes.database)} GB. ` +
      `prev_hash/hash are synthetic (empty): Activity does not read them.`,
  );
}

// The dashboard's settings, before its modules are imported (they read them once).
Object.assign(process.env, {
  DATABASE_URL: url,
  PORTCULLIS_SECRET_KEYS: `t:${randomBytes(32).toString("base64")}`,
  NEXTAUTH_SECRET: randomBytes(24).toString("hex"),
});
const ops = await import("../src/features/activity/operations");
const { getPrisma } = await import("../src/lib/db");
const { createUser } = await import("@portcullis/db/operations");
const prisma = getPrisma();

try {
  const lead = await createUser(prisma, { email: `lead-${randomBytes(3).toString("hex")}@bench.test`, password: "a long enough password" });
  await prisma.membership.create({ data: { teamId: big.id, userId: lead.id, role: "owner" } });
  const owner = { userId: lead.id };
  // The busiest key and its member and link, a mid-ranked key, and the tool/client values as generated.
  const member = { userId: syntheticId("member", 0, 3) };
  const first = await ops.listEvents(owner, big.id, { range: "7d" });
  const cursor = first.nextCursor ?? undefined;
  type F = Parameters<typeof ops.listEvents>[2];
  const f = (extra: Partial<F>): F => ({ range: "7d", ...extra }) as F;
  const link = syntheticId("link", 0, 1);
  const key = syntheticId("key", 0, 0);
  const rareKey = syntheticId("key", 0, Math.max(1, big.keys - 1));
  const pages: [string, () => Promise<unknown>][] = [
    ["first page (7d)", () => ops.listEvents(owner, big.id, f({}))],
    ["next page (cursor)", () => ops.listEvents(owner, big.id, f({}), cursor)],
    ["link", () => ops.listEvents(owner, big.id, f({ link }))],
    ["key (busiest)", () => ops.listEvents(owner, big.id, f({ key }))],
    ["key (rarest)", () => ops.listEvents(owner, big.id, f({ key: rareKey }))],
    ["member", () => ops.listEvents(owner, big.id, f({ member: member.userId }))],
    ["client", () => ops.listEvents(owner, big.id, f({ client: "windsurf" }))],
    ["tool", () => ops.listEvents(owner, big.id, f({ tool: "get_permissions" }))],
    ["verdict blocked", () => ops.listEvents(owner, big.id, f({ verdict: "blocked" }))],
    ["verdict error", () => ops.listEvents(owner, big.id, f({ verdict: "error" }))],
    ["kind config_change (none)", () => ops.listEvents(owner, big.id, f({ kind: "config_change" }))],
    ["revision 2025-03-26", () => ops.listEvents(owner, big.id, f({ revision: "2025-03-26" }))],
    ["server replica1", () => ops.listEvents(owner, big.id, f({ server: "replica1" }))],
    ["database analytics", () => ops.listEvents(owner, big.id, f({ database: "analytics" }))],
    ["blocked + tool", () => ops.listEvents(owner, big.id, f({ verdict: "blocked", tool: "explain_query" }))],
    ["link + member + client", () => ops.listEvents(owner, big.id, f({ link, member: member.userId, client: "claude-code" }))],
    ["error + rare key (30d)", () => ops.listEvents(owner, big.id, { ...f({ verdict: "error", key: rareKey }), range: "30d" })],
    ["search 'FROM invoice_line'", () => ops.listEvents(owner, big.id, f({ q: "FROM invoice_line" }))],
    ["search 'WHERE id = 4242'", () => ops.listEvents(owner, big.id, f({ q: "WHERE id = 4242" }))],
    ["search '4242' (no anchor)", () => ops.listEvents(owner, big.id, f({ q: "4242" }))],
    ["search 'no such text' (no match)", () => ops.listEvents(owner, big.id, f({ q: "no such text" }))],
    ["search 'FROM invoice_line' 90d", () => ops.listEvents(owner, big.id, { ...f({ q: "FROM invoice_line" }), range: "90d" })],
    ["revision playground (none)", () => ops.listEvents(owner, big.id, f({ revision: "playground" }))],
    ["server replica2 (none)", () => ops.listEvents(owner, big.id, f({ server: "replica2" }))],
    ["client + revision + server", () => ops.listEvents(owner, big.id, f({ client: "windsurf", revision: "2025-03-26", server: "replica1" }))],
    ["link + rare key (none together)", () => ops.listEvents(owner, big.id, f({ link: syntheticId("link", 0, 2), key: rareKey }))],
    ["search + blocked", () => ops.listEvents(owner, big.id, f({ q: "DELETE FROM", verdict: "blocked" }))],
    ["member's own view", () => ops.listEvents(member, big.id, f({}))],
    ["charts 24h", () => ops.activityStats(owner, big.id, { range: "24h" } as F)],
    ["charts 7d", () => ops.activityStats(owner, big.id, f({}))],
    ["charts 30d", () => ops.activityStats(owner, big.id, { range: "30d" } as F)],
    ["charts 90d", () => ops.activityStats(owner, big.id, { range: "90d" } as F)],
    ["charts 7d link", () => ops.activityStats(owner, big.id, f({ link }))],
    ["charts 7d busiest key", () => ops.activityStats(owner, big.id, f({ key }))],
    ["charts 7d blocked", () => ops.activityStats(owner, big.id, f({ verdict: "blocked" }))],
    ["charts 30d tool", () => ops.activityStats(owner, big.id, { ...f({ tool: "describe_table" }), range: "30d" })],
    ["charts 7d member's own", () => ops.activityStats(member, big.id, f({}))],
    ["charts 7d link + client (raw)", () => ops.activityStats(owner, big.id, f({ link, client: "claude-code" }))],
    ["charts 7d search (raw)", () => ops.activityStats(owner, big.id, f({ q: "WHERE id = 4242" }))],
    ["charts 7d server replica1", () => ops.activityStats(owner, big.id, f({ server: "replica1" }))],
    ["charts 7d client", () => ops.activityStats(owner, big.id, f({ client: "windsurf" }))],
    ["charts 7d revision 2025-03-26", () => ops.activityStats(owner, big.id, f({ revision: "2025-03-26" }))],
    ["charts 30d database analytics", () => ops.activityStats(owner, big.id, { ...f({ database: "analytics" }), range: "30d" })],
    ["charts 30d busiest key", () => ops.activityStats(owner, big.id, { ...f({ key }), range: "30d" })],
    ["charts 90d link", () => ops.activityStats(owner, big.id, { ...f({ link }), range: "90d" })],
    ["charts 24h search", () => ops.activityStats(owner, big.id, { ...f({ q: "FROM invoice_line" }), range: "24h" })],
    // The Activity page's own reads, side by side as page.tsx awaits them (the chain badge streams apart).
    ["whole page 7d (list + charts + menus)", () => Promise.all([ops.listEvents(owner, big.id, f({})), ops.activityStats(owner, big.id, f({})), ops.activityLookups(owner, big.id)])],
    ["whole page 7d search", () => Promise.all([ops.listEvents(owner, big.id, f({ q: "WHERE id = 4242" })), ops.activityStats(owner, big.id, f({ q: "WHERE id = 4242" })), ops.activityLookups(owner, big.id)])],
    ["whole page 30d server", () => Promise.all([ops.listEvents(owner, big.id, { ...f({ server: "replica1" }), range: "30d" }), ops.activityStats(owner, big.id, { ...f({ server: "replica1" }), range: "30d" }), ops.activityLookups(owner, big.id)])],
  ];
  const now = Date.now();
  const ago = (t: Date | string) => `${((now - new Date(t).getTime()) / 3_600_000).toFixed(1)} h`;
  /** What one answer read: rows and how far back a page searched, or how far back a chart counted. */
  const coverage = (r: unknown): string => {
    if (Array.isArray(r)) return r.slice(0, 2).map(coverage).join("; ");
    const o = r as { events?: unknown[]; searchedBackTo?: Date | null; countedFrom?: { time: string; what: string } | null; totals?: { allowed: number; blocked: number; error: number } };
    if (o.events) return `${o.events.length} rows${o.searchedBackTo ? `, back to ${ago(o.searchedBackTo)}` : ""}`;
    if (o.totals) return `${(o.totals.allowed + o.totals.blocked + o.totals.error).toLocaleString()} calls${o.countedFrom ? `, ${o.countedFrom.what} from ${ago(o.countedFrom.time)}` : ""}`;
    return "";
  };
  const counted = await prisma.$queryRawUnsafe<{ n: string }[]>(`SELECT count(*)::text AS n FROM audit_events WHERE team_id = $1::uuid AND time > now() - interval '7 days'`, big.id);
  console.log(`\nthe big team holds ${big.events.toLocaleString()} events, ${Number(counted[0]!.n).toLocaleString()} in the last 7 days; ${RUNS} runs per query after one warm-up`);
  const rows: string[][] = [];
  for (const [label, run] of pages) {
    if (ONLY && !ONLY.test(label)) continue;
    let last = await run();
    const times: number[] = [];
    const round = startRound();
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      last = await run();
      times.push(performance.now() - t0);
    }
    const m = round();
    rows.push([label, percentile(times, 50).toFixed(1), percentile(times, 95).toFixed(1), Math.max(...times).toFixed(1), coverage(last), ...machineCells(m)]);
    console.log(`  ${label}: p50 ${percentile(times, 50).toFixed(1)} ms, p95 ${percentile(times, 95).toFixed(1)} ms; ${coverage(last)}`);
  }
  if (!SKIP_INGEST) {
    const cost = await measureRollupIngestCost(url);
    console.log(`\ningestion of 1,000-event batches (ingestAuditBatch): median ${cost.offMs.toFixed(1)} ms without the rollup trigger, ${cost.onMs.toFixed(1)} ms with it (${cost.perEventUs.toFixed(1)} µs per event)`);
  }
  printTable(`Activity on ${EVENTS.toLocaleString()} events (big team ${big.events.toLocaleString()}), ms`, ["query", "p50", "p95", "max", "read (last run)", ...MACHINE_HEADERS], rows);
} finally {
  await prisma.$disconnect();
  if (!KEEP && !EXISTING) {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`));
    console.log(`dropped ${name}`);
  } else console.log(`kept database ${name}`);
}
