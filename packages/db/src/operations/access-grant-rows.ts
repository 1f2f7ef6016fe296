import { toDate } from "./sql-db.js";

export const ACCESS_GRANT_STATUSES = ["pending", "granted", "refused", "revoked", "expired"] as const;
export type AccessGrantStatus = (typeof ACCESS_GRANT_STATUSES)[number];
export const ACCESS_GRANT_LEVELS = ["read", "write", "admin"] as const;
export type AccessGrantLevel = (typeof ACCESS_GRANT_LEVELS)[number];

export interface AccessGrantRow {
  id: string;
  teamId: string;
  linkId: string;
  userId: string;
  tableKey: string;
  access: AccessGrantLevel;
  minutes: number;
  reason: string;
  status: AccessGrantStatus;
  requestedVia: "tool" | "dashboard" | "cli";
  requestedBy: string | null;
  apiKeyId: string | null;
  oauthClientId: string | null;
  decidedBy: string | null;
  decidedAt: Date | null;
  decisionComment: string | null;
  startsAt: Date | null;
  expiresAt: Date | null;
  revokedBy: string | null;
  revokedAt: Date | null;
  requestExpiresAt: Date;
  createdAt: Date;
  updatedAt: Date;
  /** Which of the link's databases (issue 17); null: the link's first. */
  databaseName: string | null;
  /** The connection that database was when asked for (attack finding 2); null: unbound, never applies. */
  connectionId: string | null;
}

export interface AccessGrantListItem extends AccessGrantRow {
  linkName: string;
  userEmail: string;
  deciderEmail: string | null;
  revokerEmail: string | null;
  /**
   * The database a person reads it as on: its name, or the link's first database's when it names none
   * and the link has several; null on a single-database link for a row naming none (attack finding 2).
   */
  databaseLabel: string | null;
}

export const ACCESS_GRANT_COLUMNS = `
  g.id::text AS id, g.team_id::text AS team_id, g.link_id::text AS link_id, g.user_id::text AS user_id, g.table_key, g.access,
  g.minutes, g.reason, g.status::text AS status, g.requested_via, g.requested_by::text AS requested_by,
  g.api_key_id::text AS api_key_id, g.oauth_client_id, g.decided_by::text AS decided_by, g.decided_at, g.decision_comment,
  g.starts_at, g.expires_at, g.revoked_by::text AS revoked_by, g.revoked_at, g.request_expires_at, g.created_at, g.updated_at,
  g.database_name, g.connection_id::text AS connection_id`;

type Raw = Record<string, unknown>;
const text = (v: unknown): string | null => (v == null ? null : String(v));

export function toAccessGrant(r: Raw): AccessGrantRow {
  return {
    id: String(r.id),
    teamId: String(r.team_id),
    linkId: String(r.link_id),
    userId: String(r.user_id),
    tableKey: String(r.table_key),
    access: r.access as AccessGrantLevel,
    minutes: Number(r.minutes),
    reason: String(r.reason),
    status: r.status as AccessGrantStatus,
    requestedVia: r.requested_via as AccessGrantRow["requestedVia"],
    requestedBy: text(r.requested_by),
    apiKeyId: text(r.api_key_id),
    oauthClientId: text(r.oauth_client_id),
    decidedBy: text(r.decided_by),
    decidedAt: toDate(r.decided_at),
    decisionComment: text(r.decision_comment),
    startsAt: toDate(r.starts_at),
    expiresAt: toDate(r.expires_at),
    revokedBy: text(r.revoked_by),
    revokedAt: toDate(r.revoked_at),
    requestExpiresAt: toDate(r.request_expires_at)!,
    createdAt: toDate(r.created_at)!,
    updatedAt: toDate(r.updated_at)!,
    databaseName: text(r.database_name),
    connectionId: text(r.connection_id),
  };
}

export function toAccessGrantListItem(r: Raw): AccessGrantListItem {
  return {
    ...toAccessGrant(r),
    linkName: String(r.link_name),
    userEmail: String(r.user_email),
    deciderEmail: text(r.decider_email),
    revokerEmail: text(r.revoker_email),
    databaseLabel: databaseLabelOf(r),
  };
}

/**
 * The connection a link's database name points at now ($link uuid, $name text; NULL name: the first),
 * NULL when the link has no database of that name. What a grant or write request is bound to when made.
 */
export function databaseConnectionSql(link: string, name: string): string {
  return `COALESCE(
    (SELECT l0.connection_id FROM links l0 WHERE l0.id = ${link} AND (${name}::text IS NULL OR l0.database_name = ${name}::text)),
    (SELECT d0.connection_id FROM link_databases d0 WHERE d0.link_id = ${link} AND d0.name = ${name}::text))`;
}

/** The columns databaseLabelOf reads, for a list joined with `links l`. */
export const DATABASE_LABEL_COLUMNS = `l.database_name AS link_first_database,
  (SELECT count(*) FROM link_databases ld WHERE ld.link_id = l.id)::int AS link_more_databases`;

export function databaseLabelOf(r: Raw): string | null {
  if (r.database_name != null) return String(r.database_name);
  return Number(r.link_more_databases ?? 0) > 0 && r.link_first_database != null ? String(r.link_first_database) : null;
}
