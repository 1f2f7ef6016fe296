import { z } from "zod";
import { PortcullisError } from "../errors.js";
import {
  ACCESS_GRANT_COLUMNS,
  ACCESS_GRANT_LEVELS,
  ACCESS_GRANT_STATUSES,
  type AccessGrantLevel,
  type AccessGrantListItem,
  type AccessGrantRow,
  DATABASE_LABEL_COLUMNS,
  databaseConnectionSql,
  toAccessGrant,
  toAccessGrantListItem,
} from "./access-grant-rows.js";
import { approverStanding, linkApprovalOptions } from "./approvers.js";
import { recordConfigChangeSql, recordNotification } from "./audit-sql.js";
import { commentSchema, inTransaction, type OperationsDb, parseInput, type Query, queryOf, tableKeySchema, toDate, uuidSchema } from "./sql-db.js";

export * from "./access-grant-rows.js";

/**
 * Time-boxed elevation (issue 15): a member asks for `access` on one table of one link for some
 * minutes; an approver grants or refuses; the grant lapses by itself at expires_at (the gateway reads
 * only grants in force) or is revoked early. Every transition is one conditional UPDATE; PostgreSQL
 * announces each change to the gateways (trigger of migration 20261208090000), so nothing here publishes.
 */

export type AccessGrantErrorCode = "not_found" | "not_member" | "not_approver" | "own_request" | "already_decided" | "expired" | "not_active";

export class AccessGrantError extends Error {
  constructor(
    readonly code: AccessGrantErrorCode,
    message: string,
    readonly grant?: AccessGrantRow,
  ) {
    super(message);
    this.name = "AccessGrantError";
  }
}

/** A pending request not decided within a day lapses (the member asks again). */
export const ACCESS_REQUEST_WAIT_MINUTES = 24 * 60;

/** The member uses the link: owner/admin, or a member granted it (viewers use no link). */
const USES_LINK = (alias: string) => `EXISTS (
  SELECT 1 FROM memberships m WHERE m.team_id = ${alias}.team_id AND m.user_id = ${alias}.user_id
    AND (m.role IN ('owner', 'admin')
      OR (m.role = 'member' AND EXISTS (SELECT 1 FROM link_access a WHERE a.link_id = ${alias}.link_id AND a.user_id = ${alias}.user_id))))`;

export const requestAccessGrantInput = z.strictObject({
  teamId: uuidSchema,
  linkId: uuidSchema,
  userId: uuidSchema,
  tableKey: tableKeySchema,
  access: z.enum(ACCESS_GRANT_LEVELS),
  minutes: z.number().int().min(1).max(10_080),
  reason: z.string().trim().min(1, "give a reason").max(2000, "a reason is at most 2,000 characters"),
  via: z.enum(["tool", "dashboard", "cli"]),
  requestedBy: uuidSchema.nullish(),
  apiKeyId: uuidSchema.nullish(),
  oauthClientId: z.string().min(1).max(2048).nullish(),
  sourceIp: z.string().max(64).nullish(),
  /** Which of the link's databases the table is in (issue 17); null or absent: the link's first. */
  databaseName: z.string().min(1).max(63).nullish(),
  /** The connection the caller's record of that database uses; the grant applies only there (attack finding 2). */
  connectionId: uuidSchema.nullish(),
});

async function usesLink(q: Query, teamId: string, linkId: string, userId: string): Promise<boolean> {
  const rows = await q(
    `SELECT 1 FROM (SELECT $1::uuid AS team_id, $2::uuid AS link_id, $3::uuid AS user_id) g
     WHERE EXISTS (SELECT 1 FROM links l WHERE l.id = g.link_id AND l.team_id = g.team_id) AND ${USES_LINK("g")}`,
    [teamId, linkId, userId],
  );
  return rows.length > 0;
}

/** Asks for elevation; an open pending request for the same link, member, table and access is returned instead of a second one. */
export async function requestAccessGrant(db: OperationsDb, input: z.input<typeof requestAccessGrantInput>): Promise<AccessGrantRow> {
  const v = parseInput(requestAccessGrantInput, input);
  const outcome = await inTransaction(db, async (q): Promise<AccessGrantRow | AccessGrantError> => {
    const link = await q<{ name: string }>("SELECT name FROM links WHERE id = $1::uuid AND team_id = $2::uuid", [v.linkId, v.teamId]);
    if (!link[0]) return new AccessGrantError("not_found", "link not found");
    if (!(await usesLink(q, v.teamId, v.linkId, v.userId))) return new AccessGrantError("not_member", "only a member who uses this link can ask for more access on it");
    const bound = await q<{ id: string | null }>(`SELECT ${databaseConnectionSql("$1::uuid", "$2")}::text AS id`, [v.linkId, v.databaseName ?? null]);
    const connectionId = bound[0]?.id ?? null;
    if (!connectionId || (v.connectionId && connectionId !== v.connectionId.toLowerCase())) {
      return new AccessGrantError("not_found", `this link's database ${v.databaseName ? `"${v.databaseName}" ` : ""}changed while access was asked for`);
    }
    // Two identical requests at once: the second waits here and then finds the first.
    await q("SELECT count(*)::int AS n FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 15))) AS l", [`${v.linkId}|${v.userId}|${v.tableKey}|${v.access}`]);
    const open = await q(
      `SELECT ${ACCESS_GRANT_COLUMNS} FROM access_grants g
       WHERE g.team_id = $1::uuid AND g.link_id = $2::uuid AND g.user_id = $3::uuid AND g.table_key = $4 AND g.access = $5
         AND g.status = 'pending' AND g.request_expires_at > clock_timestamp() AND g.database_name IS NOT DISTINCT FROM $6 AND g.connection_id = $7::uuid
       ORDER BY g.created_at DESC LIMIT 1`,
      [v.teamId, v.linkId, v.userId, v.tableKey, v.access, v.databaseName ?? null, connectionId],
    );
    if (open[0]) return toAccessGrant(open[0]);
    const rows = await q(
      `WITH g AS (
         INSERT INTO access_grants (team_id, link_id, user_id, table_key, access, minutes, reason, requested_via, requested_by,
           api_key_id, oauth_client_id, request_expires_at, database_name, connection_id)
         VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, $6::int, $7, $8, $9::uuid, $10::uuid, $11,
           clock_timestamp() + make_interval(mins => $12::int), $13, $14::uuid)
         RETURNING *)
       SELECT ${ACCESS_GRANT_COLUMNS} FROM g`,
      [v.teamId, v.linkId, v.userId, v.tableKey, v.access, v.minutes, v.reason, v.via, v.requestedBy ?? null, v.apiKeyId ?? null, v.oauthClientId ?? null, ACCESS_REQUEST_WAIT_MINUTES, v.databaseName ?? null, connectionId],
    );
    const grant = toAccessGrant(rows[0]!);
    // The tool's request is audited as its tool call; a person asking in the dashboard or CLI, here.
    if (v.via !== "tool") {
      await recordConfigChangeSql(q, {
        teamId: v.teamId,
        actorUserId: v.requestedBy ?? v.userId,
        action: "access_grant.requested",
        target: { type: "access_grant", id: grant.id, name: link[0].name },
        after: { userId: grant.userId, table: grant.tableKey, access: grant.access, minutes: grant.minutes, reason: grant.reason },
        sourceIp: v.sourceIp ?? null,
        via: v.via,
        accessGrantId: grant.id,
      });
    }
    await recordNotification(q, v.teamId, "access_grant.requested", grant.id);
    return grant;
  });
  if (outcome instanceof AccessGrantError) throw outcome;
  return outcome;
}

export const decideAccessGrantInput = z.strictObject({
  teamId: uuidSchema,
  id: uuidSchema,
  deciderId: uuidSchema,
  decision: z.enum(["grant", "refuse"]),
  comment: commentSchema.nullish(),
  via: z.enum(["dashboard", "cli"]).default("dashboard"),
  sourceIp: z.string().max(64).nullish(),
});

async function readGrant(q: Query, teamId: string, id: string): Promise<AccessGrantRow | null> {
  const rows = await q(`SELECT ${ACCESS_GRANT_COLUMNS} FROM access_grants g WHERE g.id = $1::uuid AND g.team_id = $2::uuid`, [id, teamId]);
  return rows[0] ? toAccessGrant(rows[0]) : null;
}

async function linkName(q: Query, linkId: string): Promise<string | null> {
  return (await q<{ name: string }>("SELECT name FROM links WHERE id = $1::uuid", [linkId]))[0]?.name ?? null;
}

/**
 * Grants (starts now, lapses after its minutes) or refuses a pending request. The decider must be
 * allowed to approve on the link and may not grant their own request unless the link's scope allows
 * self-approval; the member must still use the link. Audited and notified in the same transaction.
 */
export async function decideAccessGrant(db: OperationsDb, input: z.input<typeof decideAccessGrantInput>): Promise<AccessGrantRow> {
  const v = parseInput(decideAccessGrantInput, input);
  const outcome = await inTransaction(db, async (q): Promise<AccessGrantRow | AccessGrantError> => {
    const grant = await readGrant(q, v.teamId, v.id);
    if (!grant) return new AccessGrantError("not_found", "access request not found");
    if (!(await approverStanding(q, v.teamId, grant.linkId, v.deciderId))) return new AccessGrantError("not_approver", "you are not allowed to decide access requests on this link");
    const give = v.decision === "grant";
    if (give && grant.userId === v.deciderId.toLowerCase() && !(await linkApprovalOptions(q, v.teamId, grant.linkId))?.selfApproval) {
      return new AccessGrantError("own_request", "you cannot grant your own request on this link; another approver must decide it");
    }
    if (give && !(await usesLink(q, v.teamId, grant.linkId, grant.userId))) {
      return new AccessGrantError("not_member", "this member no longer uses the link; the request cannot be granted");
    }
    const rows = await q(
      `WITH g AS (
         UPDATE access_grants SET status = $3::"AccessGrantStatus", decided_by = $4::uuid, decided_at = clock_timestamp(), decision_comment = $5,
           starts_at = CASE WHEN $6 THEN clock_timestamp() END,
           expires_at = CASE WHEN $6 THEN clock_timestamp() + make_interval(mins => minutes) END,
           updated_at = clock_timestamp()
         WHERE id = $1::uuid AND team_id = $2::uuid AND status = 'pending' AND request_expires_at > clock_timestamp()
         RETURNING *)
       SELECT ${ACCESS_GRANT_COLUMNS} FROM g`,
      [v.id, v.teamId, give ? "granted" : "refused", v.deciderId, v.comment ?? null, give],
    );
    if (!rows[0]) {
      const now = await readGrant(q, v.teamId, v.id);
      if (!now || now.status === "pending" || now.status === "expired") return new AccessGrantError("expired", "this access request expired before it was decided", now ?? undefined);
      return new AccessGrantError("already_decided", `this access request was already ${now.status}${now.decidedAt ? ` at ${now.decidedAt.toISOString()}` : ""}`, now);
    }
    const decided = toAccessGrant(rows[0]);
    await recordConfigChangeSql(q, {
      teamId: v.teamId,
      actorUserId: v.deciderId,
      action: give ? "access_grant.granted" : "access_grant.refused",
      target: { type: "access_grant", id: decided.id, name: await linkName(q, decided.linkId) },
      before: { status: "pending" },
      after: { status: decided.status, userId: decided.userId, table: decided.tableKey, access: decided.access, expiresAt: decided.expiresAt?.toISOString() ?? null },
      comment: v.comment ?? null,
      sourceIp: v.sourceIp ?? null,
      via: v.via,
      accessGrantId: decided.id,
    });
    await recordNotification(q, v.teamId, "access_grant.decided", decided.id);
    return decided;
  });
  if (outcome instanceof AccessGrantError) throw outcome;
  return outcome;
}

export const revokeAccessGrantInput = z.strictObject({
  teamId: uuidSchema,
  id: uuidSchema,
  revokerId: uuidSchema,
  via: z.enum(["dashboard", "cli"]).default("dashboard"),
  sourceIp: z.string().max(64).nullish(),
});

/** Ends a grant in force early (an approver of the link, or the member giving it up). */
export async function revokeAccessGrant(db: OperationsDb, input: z.input<typeof revokeAccessGrantInput>): Promise<AccessGrantRow> {
  const v = parseInput(revokeAccessGrantInput, input);
  const outcome = await inTransaction(db, async (q): Promise<AccessGrantRow | AccessGrantError> => {
    const grant = await readGrant(q, v.teamId, v.id);
    if (!grant) return new AccessGrantError("not_found", "access grant not found");
    const own = grant.userId === v.revokerId.toLowerCase();
    if (!own && !(await approverStanding(q, v.teamId, grant.linkId, v.revokerId))) return new AccessGrantError("not_approver", "you are not allowed to revoke access grants on this link");
    const rows = await q(
      `WITH g AS (
         UPDATE access_grants SET status = 'revoked', revoked_by = $3::uuid, revoked_at = clock_timestamp(), updated_at = clock_timestamp()
         WHERE id = $1::uuid AND team_id = $2::uuid AND status = 'granted' AND expires_at > clock_timestamp()
         RETURNING *)
       SELECT ${ACCESS_GRANT_COLUMNS} FROM g`,
      [v.id, v.teamId, v.revokerId],
    );
    if (!rows[0]) return new AccessGrantError("not_active", `this access grant is not in force (it is ${grant.status === "granted" ? "past its end" : grant.status})`, grant);
    const revoked = toAccessGrant(rows[0]);
    await recordConfigChangeSql(q, {
      teamId: v.teamId,
      actorUserId: v.revokerId,
      action: "access_grant.revoked",
      target: { type: "access_grant", id: revoked.id, name: await linkName(q, revoked.linkId) },
      before: { status: "granted", expiresAt: grant.expiresAt?.toISOString() ?? null },
      after: { status: "revoked", userId: revoked.userId, table: revoked.tableKey, access: revoked.access },
      sourceIp: v.sourceIp ?? null,
      via: v.via,
      accessGrantId: revoked.id,
    });
    return revoked;
  });
  if (outcome instanceof AccessGrantError) throw outcome;
  return outcome;
}

const activeInput = z.strictObject({ linkId: uuidSchema, userId: uuidSchema, teamId: uuidSchema.optional(), now: z.date().optional() });

export interface ActiveAccessGrant {
  id: string;
  tableKey: string;
  access: AccessGrantLevel;
  expiresAt: Date;
}

/**
 * The grants in force for a member on a link (the gateway's read): granted, started, not past their
 * end, and the member still uses the link — a member who left or lost the link holds nothing.
 */
export async function activeAccessGrants(db: OperationsDb, input: { linkId: string; userId: string; teamId?: string; now?: Date }): Promise<ActiveAccessGrant[]> {
  const v = parseInput(activeInput, input);
  const rows = await queryOf(db)<{ id: string; table_key: string; access: string; expires_at: unknown }>(
    `SELECT g.id::text AS id, g.table_key, g.access, g.expires_at
     FROM access_grants g JOIN links l ON l.id = g.link_id AND l.team_id = g.team_id
     WHERE g.link_id = $1::uuid AND g.user_id = $2::uuid AND ($3::uuid IS NULL OR g.team_id = $3::uuid)
       AND g.status = 'granted' AND g.starts_at <= COALESCE($4::timestamptz, clock_timestamp())
       AND g.expires_at > COALESCE($4::timestamptz, clock_timestamp())
       AND ${USES_LINK("g")}
     ORDER BY g.expires_at, g.id`,
    [v.linkId, v.userId, v.teamId ?? null, v.now?.toISOString() ?? null],
  );
  return rows.map((r) => ({ id: r.id, tableKey: r.table_key, access: r.access as AccessGrantLevel, expiresAt: toDate(r.expires_at)! }));
}

export const listAccessGrantsInput = z.strictObject({
  teamId: uuidSchema,
  linkId: uuidSchema.optional(),
  userId: uuidSchema.optional(),
  status: z.array(z.enum(ACCESS_GRANT_STATUSES)).min(1).max(ACCESS_GRANT_STATUSES.length).optional(),
  limit: z.number().int().min(1).max(500).default(100),
});

/** The team's access requests and grants, newest first, with names. */
export async function listAccessGrants(db: OperationsDb, input: z.input<typeof listAccessGrantsInput>): Promise<AccessGrantListItem[]> {
  const v = parseInput(listAccessGrantsInput, input);
  const rows = await queryOf(db)(
    `SELECT ${ACCESS_GRANT_COLUMNS}, l.name AS link_name, u.email AS user_email, du.email AS decider_email, ru.email AS revoker_email,
       ${DATABASE_LABEL_COLUMNS}
     FROM access_grants g
     JOIN links l ON l.id = g.link_id
     JOIN users u ON u.id = g.user_id
     LEFT JOIN users du ON du.id = g.decided_by
     LEFT JOIN users ru ON ru.id = g.revoked_by
     WHERE g.team_id = $1::uuid AND ($2::uuid IS NULL OR g.link_id = $2::uuid) AND ($3::uuid IS NULL OR g.user_id = $3::uuid)
       AND ($4::text[] IS NULL OR g.status::text = ANY($4::text[]))
     ORDER BY g.created_at DESC, g.id DESC
     LIMIT $5`,
    [v.teamId, v.linkId ?? null, v.userId ?? null, v.status ?? null, v.limit],
  );
  return rows.map(toAccessGrantListItem);
}

/** One grant of the team (another team's id reads as null). */
export async function getAccessGrant(db: OperationsDb, input: { teamId: string; id: string }): Promise<AccessGrantRow | null> {
  const v = parseInput(z.strictObject({ teamId: uuidSchema, id: uuidSchema }), input);
  return readGrant(queryOf(db), v.teamId, v.id);
}

/**
 * Grants past their end and requests past their wait → expired, every team (the worker's sweep), each
 * with an access_grant.expired notification written by the same statement (the member learns their
 * access ended, or that nobody decided in time). A racing sweep skips rows already expired: told once.
 */
export async function expireAccessGrants(db: OperationsDb, now?: Date): Promise<number> {
  if (now !== undefined && Number.isNaN(now.getTime())) throw new PortcullisError("invalid_input", "now is not a valid time");
  const rows = await queryOf(db)(
    `WITH t AS (SELECT COALESCE($1::timestamptz, clock_timestamp()) AS at),
     e AS (
       UPDATE access_grants SET status = 'expired', updated_at = clock_timestamp()
       FROM t
       WHERE (status = 'granted' AND expires_at <= t.at) OR (status = 'pending' AND request_expires_at <= t.at)
       RETURNING access_grants.id, access_grants.team_id),
     n AS (INSERT INTO notification_outbox (team_id, event, subject_id) SELECT team_id, 'access_grant.expired', id FROM e)
     SELECT id::text AS id FROM e`,
    [now?.toISOString() ?? null],
  );
  return rows.length;
}

/** One database of a link whose name no longer points where it did (removed, renamed, moved). */
export const databaseAccessEndSchema = z.strictObject({
  teamId: uuidSchema,
  linkId: uuidSchema,
  databaseName: z.string().min(1).max(63),
  /** The link's own (first) database: rows stored without a name (null) are its too. */
  first: z.boolean(),
  actorUserId: uuidSchema.nullish(),
  via: z.enum(["dashboard", "cli"]).default("dashboard"),
  sourceIp: z.string().max(64).nullish(),
});
export type DatabaseAccessEnd = z.input<typeof databaseAccessEndSchema>;

/**
 * Attack finding 2: ends the grants in force and the pending requests made for one database of a link,
 * in the caller's transaction (the one that changes the database), each audited as access_grant.revoked
 * as revokeAccessGrant does. Whatever later takes the name inherits nothing.
 */
export async function revokeDatabaseAccessGrants(q: Query, input: DatabaseAccessEnd): Promise<AccessGrantRow[]> {
  const v = parseInput(databaseAccessEndSchema, input);
  const rows = await q(
    `WITH old AS (
       SELECT id, status::text AS status, expires_at FROM access_grants
       WHERE team_id = $1::uuid AND link_id = $2::uuid AND (database_name = $3 OR ($4 AND database_name IS NULL))
         AND (status = 'pending' OR (status = 'granted' AND expires_at > clock_timestamp()))
       FOR UPDATE),
     g AS (
       UPDATE access_grants SET status = 'revoked', revoked_by = $5::uuid, revoked_at = clock_timestamp(), updated_at = clock_timestamp()
       FROM old WHERE access_grants.id = old.id
       RETURNING access_grants.*, old.status AS old_status, old.expires_at AS old_expires_at)
     SELECT ${ACCESS_GRANT_COLUMNS}, g.old_status, g.old_expires_at FROM g`,
    [v.teamId, v.linkId, v.databaseName, v.first, v.actorUserId ?? null],
  );
  const name = rows.length ? await linkName(q, v.linkId) : null;
  const revoked: AccessGrantRow[] = [];
  for (const row of rows) {
    const grant = toAccessGrant(row);
    revoked.push(grant);
    await recordConfigChangeSql(q, {
      teamId: v.teamId,
      actorUserId: v.actorUserId ?? null,
      action: "access_grant.revoked",
      target: { type: "access_grant", id: grant.id, name },
      before: { status: String(row.old_status), expiresAt: toDate(row.old_expires_at)?.toISOString() ?? null },
      after: { status: "revoked", userId: grant.userId, table: grant.tableKey, access: grant.access, database: v.databaseName, why: "the link's database was removed, renamed or moved to another connection" },
      sourceIp: v.sourceIp ?? null,
      via: v.via,
      accessGrantId: grant.id,
    });
  }
  return revoked;
}
