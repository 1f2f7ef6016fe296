import { LATENCY_BUCKET_ERROR, histogramPercentile } from "@portcullis/db/audit/rollups";
import { getPrisma } from "../../lib/db";
import { MAX_BUCKETS, buildWhere, timeWindow, type ActivityFilters } from "./filters";
import { FIRST_SLICE_EVENTS, hourlyCounts, planSlices, walkSlices, type WalkOptions } from "./walk";

/**
 * Activity's charts. Counting and percentile_cont over a week of a big team reads millions of events
 * (seconds), so whole UTC hours come from the hourly rollups (migration 20261210100000_audit_rollups)
 * and only the partial hours at the window's two edges from audit_events. Filters the rollups do not
 * slice by (search text, two sliced filters together, or a filter without a slice: see SLICES) read
 * the events themselves, bounded by the window, through the same indexes as the list, newest first in
 * slices and for at most CHART_BUDGET_MS (walk.ts): on a big team they count the recent part and say
 * from when (countedFrom). Either way latency percentiles come from the same log-scale histogram, so
 * the two paths answer alike.
 */

export interface ActivityStats {
  series: { t: string; allowed: number; blocked: number; error: number; p50: number | null; p95: number | null; p99: number | null }[];
  totals: { allowed: number; blocked: number; error: number };
  topRules: { rule: string; count: number }[];
  topTables: { table: string; count: number }[];
  /** Percentiles are read from a log-scale histogram: each is within this share (≈0.12) of its bucket's values. */
  latencyError: number;
  /**
   * Set when what is read from the events stopped short of the window's start (CHART_BUDGET_MS spent,
   * walk.ts): from this time (ISO) on everything was counted, nothing before. "all": the series,
   * totals, rules and tables (the series starts at the bucket holding it); "tables": top tables only.
   */
  countedFrom: { time: string; what: "all" | "tables" } | null;
}

const HOUR = 3_600_000;
const TOP = 8;
/** At most this long reading events for one chart answer (the rollups' share is not bounded: it is small). */
export const CHART_BUDGET_MS = 450;

/**
 * Chart bucket width: a readable step, widened (whole days) so no window has more than MAX_BUCKETS.
 * Buckets are aligned to multiples of their width since the epoch (UTC), not to the window's start, so
 * each whole hour falls in exactly one bucket and the hourly rollups can fill them.
 */
export function bucketFor(from: Date, to: Date): { interval: string; ms: number } {
  const span = Math.max(0, to.getTime() - from.getTime());
  if (span <= 2 * HOUR) return { interval: "5 minutes", ms: 300_000 };
  if (span <= 2 * 86_400_000) return { interval: "1 hour", ms: HOUR };
  if (span <= 14 * 86_400_000) return { interval: "6 hours", ms: 6 * HOUR };
  // Two buckets of slack: the aligned first bucket starts before the window.
  const days = Math.max(1, Math.ceil(span / 86_400_000 / (MAX_BUCKETS - 2)));
  return { interval: days === 1 ? "1 day" : `${days} days`, ms: days * 86_400_000 };
}

/**
 * The filters the rollups slice by, and whether that slice also keeps per-table counts (migration
 * 20261210100400_audit_rollups_proportionate). Each slice multiplies the rows every event writes, so
 * only the filters whose charts would otherwise read a large share of a big team's events keep one:
 * the whole team, a link, a member (every member's own view is this slice) and a tool. Key, client,
 * kind, MCP revision, server and database read the events in the window (team/time index, monthly
 * partitions pruned). Top tables, the widest fan-out (one row per table per event), only for the team
 * and a link; other slices count their tables from the events.
 */
const SLICES = [
  ["link", "l", true],
  ["member", "m", false],
  ["tool", "t", false],
] as const;
const UNSLICED = ["key", "client", "kind", "revision", "server", "database"] as const;

/**
 * The rollup slice that answers exactly these filters, or null when only the events can. The slice
 * comes from the filters after the member restriction was applied (a member's own view is the 'm'
 * slice), and every rollup read is bounded by team_id: no path reads another team's or person's rows.
 * `tables` says whether the slice's top tables come from audit_rollup_tables too.
 */
export function rollupSlice(f: ActivityFilters): { dim: string; val: string; tables: boolean } | null {
  if (f.q?.trim()) return null;
  if (UNSLICED.some((k) => Boolean(f[k]))) return null;
  const set = SLICES.filter(([k]) => Boolean(f[k]));
  if (set.length > 1) return null;
  if (set.length === 0) return { dim: "", val: "", tables: true };
  const [k, dim, tables] = set[0]!;
  const value = f[k]!;
  // Ids are stored as uuid::text (lower case); the filters' uuids are compared as uuids elsewhere.
  return { dim, val: k === "link" || k === "member" ? value.toLowerCase() : value, tables };
}

interface Cell {
  b: number;
  verdict: "allowed" | "blocked" | "error";
  rule: string;
  lb: number;
  n: bigint | number;
}
interface TableCell {
  table: string;
  n: bigint | number;
}

export async function computeStats(teamId: string, f: ActivityFilters, now = new Date(), walk: WalkOptions = {}): Promise<ActivityStats> {
  const { from, to } = timeWindow(f, now);
  const bucket = bucketFor(from, to);
  const origin = Math.floor(from.getTime() / bucket.ms) * bucket.ms;
  const count = Math.min(Math.floor((to.getTime() - origin) / bucket.ms) + 1, MAX_BUCKETS);
  const bucketOf = (column: string) => `floor((extract(epoch FROM ${column}) * 1000 - ${origin}) / ${bucket.ms})::int`;
  const prisma = getPrisma();

  const slice = rollupSlice(f);
  const firstHour = Math.ceil(from.getTime() / HOUR) * HOUR;
  const lastHour = Math.floor(to.getTime() / HOUR) * HOUR;
  const rolled = slice !== null && bucket.ms >= HOUR && firstHour < lastHour;
  // Times are stored to the millisecond: [from, firstHour - 1 ms] and [lastHour, to] are the edges.
  const rawRanges: [Date, Date][] = rolled
    ? ([[from, new Date(firstHour - 1)], [new Date(lastHour), to]] as [Date, Date][]).filter(([a, b]) => a <= b)
    : [[from, to]];

  // A slice without table counts reads its top tables from the events over the whole window, once.
  const tablesFromEvents = !rolled || !slice.tables;
  // [a, b], or [a, b) when `open`: the events' cells and/or tables there.
  const rawQuery = (a: Date, b: Date, what: { cells: boolean; tables: boolean }, open = false) => {
    const where = buildWhere(teamId, f, now);
    where.params[1] = a;
    where.params[2] = b;
    if (open) where.sql += " AND time < $3";
    return Promise.all([
      what.cells
        ? prisma.$queryRawUnsafe<Cell[]>(
            `SELECT ${bucketOf("time")} AS b, verdict::text AS verdict,
                    CASE WHEN verdict = 'blocked' THEN coalesce(rule_id, '') ELSE '' END AS rule,
                    (CASE WHEN verdict = 'allowed' THEN audit_latency_bucket(duration_ms) ELSE -1 END)::int AS lb,
                    count(*) AS n
               FROM audit_events WHERE ${where.sql} GROUP BY 1, 2, 3, 4`,
            ...where.params,
          )
        : Promise.resolve([] as Cell[]),
      what.tables
        ? prisma.$queryRawUnsafe<TableCell[]>(
            `SELECT t.name AS table, count(*) AS n
               FROM audit_events CROSS JOIN LATERAL (SELECT DISTINCT x AS name FROM unnest(tables) x WHERE x IS NOT NULL) t
              WHERE ${where.sql} GROUP BY 1`,
            ...where.params,
          )
        : Promise.resolve([] as TableCell[]),
    ]).then(([cells, tables]) => ({ cells, tables }));
  };
  // The whole window from the events (no slice answers these filters), or the top tables of a slice
  // that keeps none: walked newest first in slices for at most CHART_BUDGET_MS (walk.ts), which says where
  // it stopped. The partial hours at a rolled window's edges are under an hour each: read whole.
  const walked = async (what: { cells: boolean; tables: boolean }) => {
    const out: { cells: Cell[]; tables: TableCell[] }[] = [];
    const slices = planSlices(from, to, await hourlyCounts(teamId, from, to), walk.firstSlice ?? 2 * FIRST_SLICE_EVENTS);
    const cut = await walkSlices(slices, walk.budgetMs ?? CHART_BUDGET_MS, async (s) => {
      out.push(await rawQuery(s.from, s.to, what, s.toExclusive));
      return false;
    });
    return { cut, parts: out };
  };
  const queries: Promise<{ cells: Cell[]; tables: TableCell[] }>[] = [];
  let countedFrom: ActivityStats["countedFrom"] = null;
  const noteCut = (cut: Date | null, what: "all" | "tables") => {
    if (cut) countedFrom = { time: cut.toISOString(), what };
  };
  if (!rolled) {
    queries.push(
      walked({ cells: true, tables: true }).then(({ cut, parts }) => {
        noteCut(cut, "all");
        return { cells: parts.flatMap((p) => p.cells), tables: parts.flatMap((p) => p.tables) };
      }),
    );
  } else {
    for (const [a, b] of rawRanges) queries.push(rawQuery(a, b, { cells: true, tables: !tablesFromEvents }));
    if (tablesFromEvents)
      queries.push(
        walked({ cells: false, tables: true }).then(({ cut, parts }) => {
          noteCut(cut, "tables");
          return { cells: [], tables: parts.flatMap((p) => p.tables) };
        }),
      );
  }
  if (rolled) {
    const params: unknown[] = [teamId, slice.dim, slice.val, new Date(firstHour), new Date(lastHour)];
    let verdict = "";
    if (f.verdict) {
      params.push(f.verdict);
      verdict = ` AND verdict = $6::"AuditVerdict"`;
    }
    const range = `team_id = $1::uuid AND dim = $2 AND val = $3 AND hour >= $4 AND hour < $5${verdict}`;
    queries.push(
      Promise.all([
        prisma.$queryRawUnsafe<Cell[]>(
          `SELECT ${bucketOf("hour")} AS b, verdict::text AS verdict, rule_id AS rule, lb::int AS lb, sum(n)::bigint AS n
             FROM audit_rollups WHERE ${range} GROUP BY 1, 2, 3, 4`,
          ...params,
        ),
        slice.tables
          ? prisma.$queryRawUnsafe<TableCell[]>(`SELECT table_name AS table, sum(n)::bigint AS n FROM audit_rollup_tables WHERE ${range} GROUP BY 1`, ...params)
          : Promise.resolve([] as TableCell[]),
      ]).then(([cells, tables]) => ({ cells, tables })),
    );
  }
  const parts = await Promise.all(queries);
  const stats = assemble(parts, origin, bucket.ms, count);
  const counted = countedFrom as ActivityStats["countedFrom"];
  if (counted?.what === "all") {
    // Buckets wholly before the cut were not read: leave them out rather than draw them as zero.
    const cut = new Date(counted.time).getTime();
    stats.series = stats.series.filter((s) => new Date(s.t).getTime() + bucket.ms > cut);
  }
  stats.countedFrom = counted;
  return stats;
}

function assemble(parts: { cells: Cell[]; tables: TableCell[] }[], origin: number, bucketMs: number, count: number): ActivityStats {
  const buckets = Array.from({ length: count }, () => ({ allowed: 0, blocked: 0, error: 0, histogram: new Map<number, number>() }));
  const rules = new Map<string, number>();
  const tables = new Map<string, number>();
  for (const part of parts) {
    for (const cell of part.cells) {
      const into = buckets[cell.b];
      if (!into) continue;
      const n = Number(cell.n);
      into[cell.verdict] += n;
      if (cell.verdict === "allowed" && cell.lb >= 0) into.histogram.set(cell.lb, (into.histogram.get(cell.lb) ?? 0) + n);
      if (cell.verdict === "blocked" && cell.rule) rules.set(cell.rule, (rules.get(cell.rule) ?? 0) + n);
    }
    for (const t of part.tables) tables.set(t.table, (tables.get(t.table) ?? 0) + Number(t.n));
  }
  const series = buckets.map((b, i) => ({
    t: new Date(origin + i * bucketMs).toISOString(),
    allowed: b.allowed,
    blocked: b.blocked,
    error: b.error,
    p50: histogramPercentile(b.histogram, 0.5),
    p95: histogramPercentile(b.histogram, 0.95),
    p99: histogramPercentile(b.histogram, 0.99),
  }));
  const totals = series.reduce((acc, s) => ({ allowed: acc.allowed + s.allowed, blocked: acc.blocked + s.blocked, error: acc.error + s.error }), { allowed: 0, blocked: 0, error: 0 });
  const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, TOP);
  return {
    series,
    totals,
    topRules: top(rules).map(([rule, count]) => ({ rule, count })),
    topTables: top(tables).map(([table, count]) => ({ table, count })),
    latencyError: LATENCY_BUCKET_ERROR,
    countedFrom: null,
  };
}
