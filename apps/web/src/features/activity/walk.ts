import { getPrisma } from "../../lib/db";

/**
 * Bounded reads of a team's events, newest first, for the Activity views no index or rollup answers
 * directly (text search, a filter without an index of its own, several filters together, charts the
 * rollups do not slice). On a team with tens of millions of events such a read walks every event of
 * the window (seconds); instead the window is cut into slices of the team's time axis, newest first,
 * each holding about twice the events of the one before (counted from the hourly rollups' whole-team
 * slice), and the walk stops when the caller has enough or when the next slice would take it past its
 * time budget. The caller then says how far back it read ("searched back to …") and offers to go on.
 * A small team's window is one slice: one query, as before.
 */

export interface Slice {
  /** Inclusive lower bound. */
  from: Date;
  /** Upper bound; inclusive for the newest slice (the window's end), exclusive for every other one. */
  to: Date;
  toExclusive: boolean;
  /** The team's events in the slice, as the rollups counted them (an estimate of its cost). */
  events: number;
}

const HOUR = 3_600_000;

/** The first slice's size in team events; each next one holds about twice as many. */
export const FIRST_SLICE_EVENTS = 50_000;

/** How a bounded read walks: its time budget and the first slice's size (tests make both small). */
export interface WalkOptions {
  budgetMs?: number;
  firstSlice?: number;
}

/**
 * Cuts [from, to] into slices newest first at whole UTC hours. `counts` are the team's events per hour
 * (hour start in ms → events), e.g. from hourlyCounts. The last slice always reaches `from`.
 */
export function planSlices(from: Date, to: Date, counts: Map<number, number>, first = FIRST_SLICE_EVENTS): Slice[] {
  const slices: Slice[] = [];
  let upper = to.getTime();
  let toExclusive = false;
  let target = first;
  let events = 0;
  // Walk the hours from the one ending at or after `to` down to the one holding `from`. Every bound is
  // strictly inside (from, upper): each slice, and each "search further" from its bound, moves back.
  for (let h = Math.ceil(to.getTime() / HOUR) * HOUR - HOUR; h > from.getTime() - HOUR; h -= HOUR) {
    events += counts.get(h) ?? 0;
    if (events >= target && h > from.getTime() && h < upper) {
      slices.push({ from: new Date(h), to: new Date(upper), toExclusive, events });
      upper = h;
      toExclusive = true;
      events = 0;
      target *= 2;
    }
  }
  if (upper > from.getTime() || slices.length === 0) slices.push({ from, to: new Date(upper), toExclusive, events });
  return slices;
}

/** Hours of counts hourlyCounts reads at most (reading 90 days of them cost a 90-day chart's time). */
export const COUNTED_HOURS = 72;

/**
 * The team's events per whole UTC hour in [from, to], from the rollups' whole-team slice (bounded by
 * team_id): the newest COUNTED_HOURS are read, older hours are taken at the mean of those (the plan
 * only sizes the slices; what is read is exact whatever it says).
 */
export async function hourlyCounts(teamId: string, from: Date, to: Date): Promise<Map<number, number>> {
  const first = Math.floor(from.getTime() / HOUR) * HOUR;
  const last = Math.floor(to.getTime() / HOUR) * HOUR;
  const readFrom = Math.max(first, last - (COUNTED_HOURS - 1) * HOUR);
  const rows = await getPrisma().$queryRawUnsafe<{ h: Date; n: bigint | number }[]>(
    `SELECT hour AS h, sum(n)::bigint AS n FROM audit_rollups
      WHERE team_id = $1::uuid AND dim = '' AND val = '' AND hour >= $2 AND hour <= $3
      GROUP BY hour`,
    teamId,
    new Date(readFrom),
    to,
  );
  const counts = new Map(rows.map((r) => [r.h.getTime(), Number(r.n)]));
  const mean = [...counts.values()].reduce((a, b) => a + b, 0) / ((last - readFrom) / HOUR + 1);
  for (let h = readFrom - HOUR; h >= first; h -= HOUR) counts.set(h, mean);
  return counts;
}

/**
 * Runs `read` over the slices newest first until it answers true (enough), the slices run out, or the
 * next slice would, at the pace of the last one, end past `budgetMs` since the start. The first slice
 * always runs. Returns where the walk stopped short: the lower bound of the last slice read (events
 * from there on were read; older ones were not), or null when nothing was left unread.
 */
export async function walkSlices(slices: Slice[], budgetMs: number, read: (slice: Slice) => Promise<boolean>): Promise<Date | null> {
  const started = performance.now();
  for (let i = 0; i < slices.length; i++) {
    const slice = slices[i]!;
    const t0 = performance.now();
    if (await read(slice)) return null;
    const next = slices[i + 1];
    if (!next) return null;
    const ms = performance.now() - t0;
    const predicted = ms * Math.max(1, next.events / Math.max(1, slice.events));
    if (performance.now() - started + predicted > budgetMs) return slice.from;
  }
  return null;
}
