import { AUDIT_EVENT_KINDS, AUDIT_PROTOCOL_REVISIONS } from "@portcullis/jobs";
import { z } from "zod";

/**
 * PostgreSQL text cannot hold NUL (a parameter with one is an error, so a search for it was a 500),
 * and stored audit text never has one: ingestion stored NUL as U+FFFD and a lone surrogate the same
 * way. Searching with the same substitution finds exactly the statements that contained them.
 */
export function storableText(value: string): string {
  const s = value as unknown as { isWellFormed(): boolean; toWellFormed(): string } & string;
  return (s.isWellFormed() ? value : s.toWellFormed()).replaceAll("\u0000", "\uFFFD");
}

const text = (max: number) => z.string().max(max).transform(storableText).optional().catch(undefined);

/** The longest window Activity reads (ranges, charts and exports): a 1,000-year range is this. */
export const MAX_WINDOW_MS = 400 * 86_400_000;
/** Most chart buckets one answer carries (buckets widen to stay under it). */
export const MAX_BUCKETS = 400;

/** Activity filters as they travel in the URL (so a filtered view can be shared and exported). */
export const activityFiltersSchema = z.object({
  link: z.string().uuid().optional().catch(undefined),
  key: z.string().uuid().optional().catch(undefined),
  member: z.string().uuid().optional().catch(undefined),
  client: text(200),
  tool: text(100),
  verdict: z.enum(["allowed", "blocked", "error"]).optional().catch(undefined),
  /** config_change: the configuration changes recorded in the chain (who, what, before/after). */
  kind: z.enum(AUDIT_EVENT_KINDS).optional().catch(undefined),
  /** MCP revision the calls were served under (or "playground"). */
  revision: z.enum(AUDIT_PROTOCOL_REVISIONS).optional().catch(undefined),
  /** Issue 17: the server that ran the statement ("primary" or a replica's name). */
  server: text(100),
  /** Issue 17: the link database the call ran on. */
  database: text(100),
  range: z.enum(["1h", "24h", "7d", "30d", "90d", "custom"]).default("7d").catch("7d"),
  from: z.string().max(64).optional().catch(undefined),
  to: z.string().max(64).optional().catch(undefined),
  q: text(500),
});
export type ActivityFilters = z.infer<typeof activityFiltersSchema>;

const RANGE_MS: Record<string, number> = { "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000, "90d": 90 * 86_400_000 };

export function parseFilters(params: Record<string, string | string[] | undefined>): ActivityFilters {
  const flat = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]).filter(([, v]) => v !== undefined && v !== ""));
  return activityFiltersSchema.parse(flat);
}

const validDate = (value: string | undefined): Date | undefined => {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
};

/**
 * The window the filters ask for, clamped: it ends no later than a day from now and spans at most
 * MAX_WINDOW_MS (a custom range keeps its end and loses the oldest part), so neither the charts nor
 * an export can be asked for centuries of buckets or rows.
 */
export function timeWindow(f: ActivityFilters, now = new Date()): { from: Date; to: Date } {
  if (f.range !== "custom") return { from: new Date(now.getTime() - RANGE_MS[f.range]!), to: now };
  const latest = now.getTime() + 86_400_000;
  let to = Math.min(validDate(f.to)?.getTime() ?? now.getTime(), latest);
  let from = validDate(f.from)?.getTime() ?? to - RANGE_MS["7d"]!;
  if (from > to) [from, to] = [to, Math.min(from, latest)];
  from = Math.max(from, to - MAX_WINDOW_MS);
  return { from: new Date(from), to: new Date(to) };
}

export function filtersToSearch(f: Partial<ActivityFilters> & { cursor?: string; event?: string }): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v !== undefined && v !== "" && !(k === "range" && v === "7d")) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : "";
}

/**
 * The longest digit-free run of a search text, when it is long enough (3+) to use the trigram index.
 * Statement shapes are the texts with every run of digits replaced by "?" (audit_sql_shape in the
 * migrations), so a digit-free run of a substring of a text is always a substring of its shape: the
 * shapes containing the anchor are a superset of those whose texts contain the search, and nothing is
 * missed.
 */
export function shapeAnchor(search: string): string | undefined {
  const runs = search.split(/[0-9]+/);
  const longest = runs.reduce((a, b) => (b.length > a.length ? b : a), "");
  return longest.trim().length >= 3 ? longest : undefined;
}

/** Escapes LIKE wildcards so a search for "100%" finds the text, not everything. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * WHERE clause and parameters for the team's events under the filters. Every clause starts from
 * team_id, so each filter rides one of the (team_id, …, time desc) indexes; the SQL text search uses
 * the trigram index of audit_statements (see shapeAnchor). Parameters are numbered from $1; callers append their own after.
 */
export function buildWhere(teamId: string, f: ActivityFilters, now = new Date()): { sql: string; params: unknown[] } {
  const { from, to } = timeWindow(f, now);
  const params: unknown[] = [teamId, from, to];
  const clauses = ["team_id = $1::uuid", "time >= $2", "time <= $3"];
  const add = (clause: (n: string) => string, value: unknown) => {
    params.push(value);
    clauses.push(clause(`$${params.length}`));
  };
  if (f.link) add((n) => `link_id = ${n}::uuid`, f.link);
  if (f.key) add((n) => `api_key_id = ${n}::uuid`, f.key);
  if (f.member) add((n) => `user_id = ${n}::uuid`, f.member);
  if (f.client) add((n) => `client_name = ${n}`, f.client);
  if (f.tool) add((n) => `tool = ${n}`, f.tool);
  if (f.verdict) add((n) => `verdict = ${n}::"AuditVerdict"`, f.verdict);
  if (f.kind) add((n) => `kind = ${n}`, f.kind);
  // No index of its own (each one taxes every ingested event): narrows the team's time-ordered scan.
  if (f.revision) add((n) => `protocol_version = ${n}`, f.revision);
  if (f.server) add((n) => `target_server = ${n}`, f.server);
  if (f.database) add((n) => `database_name = ${n}`, f.database);
  if (f.q?.trim()) {
    const q = f.q.trim();
    const anchor = shapeAnchor(q);
    // Candidate statement shapes first (trigram index of audit_statements), then their events by
    // shape hash, rechecked against the real text. Without an anchor (a search for "42" or "a.5"),
    // the text filter rides the team's time index alone.
    if (anchor) {
      add((n) => `shape_hash IN (SELECT s.shape_hash FROM audit_statements s WHERE s.team_id = $1::uuid AND s.shape ILIKE ${n})`, likePattern(anchor));
    }
    add((n) => `sql ILIKE ${n}`, likePattern(q));
  }
  return { sql: clauses.join(" AND "), params };
}

export function encodeCursor(time: Date, id: string): string {
  return Buffer.from(`${time.toISOString()}|${id}`).toString("base64url");
}

export function decodeCursor(cursor: string | undefined): { time: Date; id: string } | null {
  if (!cursor || cursor.length > 200) return null;
  const [time, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  if (!time || !id || !/^[0-9a-f-]{36}$/i.test(id)) return null;
  const t = new Date(time);
  return Number.isNaN(t.getTime()) ? null : { time: t, id };
}
