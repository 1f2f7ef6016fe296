import { PortcullisError } from "@portcullis/db/errors";
import { authorizeTeam, type Actor } from "../../lib/authz";
import { can, type Permission } from "../../lib/permissions";
import { getPrisma } from "../../lib/db";
import { buildWhere, decodeCursor, encodeCursor, timeWindow, type ActivityFilters } from "./filters";
import { computeStats, type ActivityStats } from "./stats";
import { hourlyCounts, planSlices, walkSlices, type WalkOptions } from "./walk";

export interface AuditRow {
  id: string;
  time: Date;
  link_id: string | null;
  api_key_id: string | null;
  oauth_client_id: string | null;
  user_id: string | null;
  client_name: string | null;
  client_version: string | null;
  tool: string | null;
  sql: string | null;
  tables: string[];
  verdict: "allowed" | "blocked" | "error";
  rule_id: string | null;
  reason: string | null;
  duration_ms: number;
  rows: number | null;
  bytes: number | null;
  error: string | null;
  source_ip: string | null;
  kind: string;
  /** Configuration changes: JSON {action, target, via?, before, after}. */
  detail: string | null;
  /** MCP revision the call was served under ("playground" for the dashboard's); null before issue 13. */
  protocol_version: string | null;
  /** W3C trace id the request carried (traceparent), for finding the call in logs and traces. */
  trace_id: string | null;
  /** Issue 17: which of the link's databases the call ran on (its `database` name); null before, or when none. */
  database_name: string | null;
  /** Issue 17: the server that ran the statement, "primary" or a replica's name; null when none ran. */
  target_server: string | null;
  /** The detail only: the statement that ran when the policy rewrote it (row filters, masks, virtual catalog). */
  rewritten_sql?: string | null;
  /** The detail only: names (never values) of the member attributes the rewritten statement bound. */
  attribute_names?: string[];
}

const COLUMNS = `id, time, link_id, api_key_id, oauth_client_id, user_id, client_name, client_version, tool, sql, tables,
  verdict::text AS verdict, rule_id, reason, duration_ms, rows, bytes, error, source_ip, kind, detail, protocol_version, trace_id,
  database_name, target_server`;

export const PAGE_SIZE = 50;

/**
 * Roles with "activity:read-all" (owners, admins, viewers, auditors) see the whole team's activity;
 * everyone else (members) sees that of their own keys. The restriction is part of the WHERE clause,
 * not a filter applied after reading, and it is the default: a role not listed sees only its own.
 */
async function scopedFilters(actor: Actor, teamId: string, filters: ActivityFilters, need: Permission = "activity:read"): Promise<ActivityFilters> {
  const { role } = await authorizeTeam(actor, teamId, need);
  if (!can(role, "activity:read-all")) return { ...filters, member: actor.userId };
  return filters;
}

/** At most this long reading events for one page of a filter no index answers alone (then: "search further"). */
export const LIST_BUDGET_MS = 300;
const NIL_UUID = "00000000-0000-0000-0000-000000000000";

/**
 * Filters that one (team_id, …, time desc) index answers in order, so a page is its first 51 entries
 * whatever the team's size: none, or exactly one of link, key, member, tool, verdict, kind. Anything
 * else (text search, client, revision, server, database, two filters together) filters the walk of
 * an index, and a rare match means reading the whole window: those pages walk it in bounded slices.
 */
function indexAnswers(f: ActivityFilters): boolean {
  if (f.q?.trim() || f.client || f.revision || f.server || f.database) return false;
  return [f.link, f.key, f.member, f.tool, f.verdict, f.kind].filter(Boolean).length <= 1;
}

export interface EventPage {
  events: AuditRow[];
  nextCursor: string | null;
  /**
   * Set when the page stopped reading before the window's start (its time budget spent): events from
   * this time on were all read, older ones not yet; nextCursor goes on from here ("search further").
   */
  searchedBackTo: Date | null;
}

/**
 * One page, newest first, by keyset (time, id): constant cost at any depth, unlike OFFSET. Filters no
 * single index answers read the window in slices (walk.ts) for at most LIST_BUDGET_MS, and say how far back
 * they got when they stopped short.
 */
export async function listEvents(actor: Actor, teamId: string, filters: ActivityFilters, cursor?: string, walk: WalkOptions = {}): Promise<EventPage> {
  const f = await scopedFilters(actor, teamId, filters);
  const where = buildWhere(teamId, f);
  const after = decodeCursor(cursor);
  // One read of the window, or of [lo, hi) within it when a slice is given.
  const query = (limit: number, lo?: Date, hi?: Date) => {
    const params = [...where.params];
    let sql = `SELECT ${COLUMNS} FROM audit_events WHERE ${where.sql}`;
    if (after) {
      params.push(after.time, after.id);
      sql += ` AND (time, id) < ($${params.length - 1}, $${params.length}::uuid)`;
    }
    if (lo) {
      params.push(lo);
      sql += ` AND time >= $${params.length}`;
    }
    if (hi) {
      params.push(hi);
      sql += ` AND time < $${params.length}`;
    }
    return getPrisma().$queryRawUnsafe<AuditRow[]>(`${sql} ORDER BY time DESC, id DESC LIMIT ${limit}`, ...params);
  };
  let rows: AuditRow[] = [];
  let searchedBackTo: Date | null = null;
  if (indexAnswers(f)) rows = await query(PAGE_SIZE + 1);
  else {
    const { from, to } = timeWindow(f);
    const upper = after && after.time < to ? after.time : to;
    const slices = upper < from ? [] : planSlices(from, upper, await hourlyCounts(teamId, from, upper), walk.firstSlice);
    searchedBackTo = await walkSlices(slices, walk.budgetMs ?? LIST_BUDGET_MS, async (s) => {
      const found = await query(PAGE_SIZE + 1 - rows.length, s.from, s.toExclusive ? s.to : undefined);
      rows.push(...found);
      return rows.length > PAGE_SIZE;
    });
  }
  const page = rows.slice(0, PAGE_SIZE);
  const last = page[page.length - 1];
  if (rows.length > PAGE_SIZE && last) return { events: page, nextCursor: encodeCursor(last.time, last.id), searchedBackTo: null };
  // Stopped short: go on strictly before the last slice's lower bound (all of it was read).
  if (searchedBackTo) return { events: page, nextCursor: encodeCursor(searchedBackTo, NIL_UUID), searchedBackTo };
  return { events: page, nextCursor: null, searchedBackTo: null };
}

export async function getEvent(actor: Actor, teamId: string, eventId: string) {
  const { role } = await authorizeTeam(actor, teamId, "activity:read");
  const own = !can(role, "activity:read-all");
  if (!/^[0-9a-f-]{36}$/i.test(eventId)) throw new PortcullisError("not_found", "event not found");
  const [row] = await getPrisma().$queryRawUnsafe<AuditRow[]>(
    // The rewritten text (up to 100 000 characters) is read for the one event shown, not for lists.
    `SELECT ${COLUMNS}, rewritten_sql, attribute_names FROM audit_events WHERE team_id = $1::uuid AND id = $2::uuid${own ? " AND user_id = $3::uuid" : ""}`,
    ...[teamId, eventId, ...(own ? [actor.userId] : [])],
  );
  if (!row) throw new PortcullisError("not_found", "event not found");
  return row;
}

export { bucketFor, type ActivityStats } from "./stats";

export async function activityStats(actor: Actor, teamId: string, filters: ActivityFilters, walk: WalkOptions = {}): Promise<ActivityStats> {
  const f = await scopedFilters(actor, teamId, filters);
  return computeStats(teamId, f, new Date(), walk);
}

/** Most events one export carries; narrow the filters or the range for more. */
export const EXPORT_MAX_ROWS = 200_000;

/**
 * Streams matching events in keyset batches (no OFFSET), at most `maxRows` of them, newest first.
 * The caller learns that the export was cut by the generator's return value (true: rows were left).
 */
export async function* iterateEvents(actor: Actor, teamId: string, filters: ActivityFilters, batch = 1000, maxRows = EXPORT_MAX_ROWS): AsyncGenerator<AuditRow, boolean> {
  const f = await scopedFilters(actor, teamId, filters, "activity:export");
  const where = buildWhere(teamId, f);
  let after: { time: Date; id: string } | null = null;
  let sent = 0;
  for (;;) {
    if (sent >= maxRows) return true;
    batch = Math.min(batch, maxRows - sent);
    const params = [...where.params];
    let keyset = "";
    if (after) {
      params.push(after.time, after.id);
      keyset = ` AND (time, id) < ($${params.length - 1}, $${params.length}::uuid)`;
    }
    const rows: AuditRow[] = await getPrisma().$queryRawUnsafe<AuditRow[]>(
      `SELECT ${COLUMNS} FROM audit_events WHERE ${where.sql}${keyset} ORDER BY time DESC, id DESC LIMIT ${batch}`,
      ...params,
    );
    for (const row of rows) yield row;
    sent += rows.length;
    if (rows.length < batch) return false;
    const last: AuditRow = rows[rows.length - 1]!;
    after = { time: last.time, id: last.id };
  }
}

/** Names for ids in the filter menus and the table (links, keys, members, clients, tools). */
export async function activityLookups(actor: Actor, teamId: string) {
  const { role } = await authorizeTeam(actor, teamId, "activity:read");
  const prisma = getPrisma();
  const own = !can(role, "activity:read-all");
  const [links, keys, members, clients, tools, servers] = await Promise.all([
    // Members know only the links they were granted: not even the names of the others.
    prisma.link.findMany({ where: { teamId, ...(own ? { access: { some: { userId: actor.userId } } } : {}) }, select: { id: true, name: true }, orderBy: { name: "asc" } }),
    prisma.apiKey.findMany({ where: { teamId, ...(own ? { userId: actor.userId } : {}) }, select: { id: true, name: true, prefix: true, userId: true }, orderBy: { createdAt: "desc" } }),
    prisma.membership.findMany({ where: { teamId }, include: { user: { select: { id: true, email: true, name: true } } } }),
    prisma.$queryRawUnsafe<{ client_name: string }[]>(
      `SELECT DISTINCT client_name FROM (SELECT client_name FROM audit_events WHERE team_id = $1::uuid AND client_name IS NOT NULL ORDER BY time DESC LIMIT 5000) s ORDER BY 1`,
      teamId,
    ),
    prisma.$queryRawUnsafe<{ tool: string }[]>(
      `SELECT DISTINCT tool FROM (SELECT tool FROM audit_events WHERE team_id = $1::uuid AND tool IS NOT NULL ORDER BY time DESC LIMIT 5000) s ORDER BY 1`,
      teamId,
    ),
    serverNames(teamId, own ? actor.userId : null),
  ]);
  return {
    role,
    canSeeEveryone: !own,
    links,
    keys,
    members: members.map((m) => ({ id: m.user.id, label: m.user.name ?? m.user.email, email: m.user.email })),
    clients: clients.map((c) => c.client_name),
    tools: tools.map((t) => t.tool),
    servers,
  };
}

/**
 * The servers a "Server" filter offers (issue 17): for leads, "primary" and the team's replicas, and
 * nothing when the team has none (every call ran on a primary: no filter to show); for a member, the
 * servers their own calls ran on — the team's connections are not theirs to enumerate.
 */
async function serverNames(teamId: string, ownUserId: string | null): Promise<string[]> {
  const prisma = getPrisma();
  if (ownUserId) {
    const rows = await prisma.$queryRawUnsafe<{ target_server: string }[]>(
      `SELECT DISTINCT target_server FROM (SELECT target_server FROM audit_events WHERE team_id = $1::uuid AND user_id = $2::uuid AND target_server IS NOT NULL ORDER BY time DESC LIMIT 5000) s ORDER BY 1`,
      teamId,
      ownUserId,
    );
    const names = rows.map((r) => r.target_server);
    return names.some((n) => n !== "primary") ? names : [];
  }
  const replicas = await prisma.connectionReplica.findMany({ where: { teamId }, select: { name: true }, distinct: ["name"], orderBy: { name: "asc" } });
  return replicas.length ? ["primary", ...replicas.map((r) => r.name)] : [];
}
