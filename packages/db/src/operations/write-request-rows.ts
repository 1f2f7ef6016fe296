import { databaseLabelOf } from "./access-grant-rows.js";
import { toDate } from "./sql-db.js";

export const WRITE_REQUEST_STATUSES = ["pending", "approved", "rejected", "expired", "executing", "executed", "failed"] as const;
export type WriteRequestStatus = (typeof WRITE_REQUEST_STATUSES)[number];
export const WRITE_REQUEST_KINDS = ["approval", "confirm"] as const;
export type WriteRequestKind = (typeof WRITE_REQUEST_KINDS)[number];
export const WRITE_REQUEST_MODES = ["writes", "destructive", "confirm"] as const;
export type WriteRequestMode = (typeof WRITE_REQUEST_MODES)[number];

export interface WriteRequestRow {
  id: string;
  teamId: string;
  linkId: string;
  kind: WriteRequestKind;
  status: WriteRequestStatus;
  mode: WriteRequestMode;
  tables: string[];
  reason: string;
  sql: string;
  params: unknown[];
  statementHash: string;
  catalogVersion: string;
  scopeHash: string;
  userId: string | null;
  apiKeyId: string | null;
  oauthClientId: string | null;
  principalSubject: string;
  clientName: string | null;
  /** The gateway's WritePreview (docs/design/approvals.md §3). */
  preview: unknown;
  expiresAt: Date;
  executeBefore: Date | null;
  decidedBy: string | null;
  decidedAt: Date | null;
  decisionComment: string | null;
  executedAt: Date | null;
  result: unknown;
  error: string | null;
  requestAuditId: string | null;
  executionAuditId: string | null;
  /** Which of the link's databases it was made on and runs on (issue 17); null: the link's first. */
  databaseName: string | null;
  /** The connection that database was when the request was made (attack finding 2); null: unbound, never runs. */
  connectionId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A row of the queue, with the names a person reads. */
export interface WriteRequestListItem extends WriteRequestRow {
  linkName: string;
  requesterEmail: string | null;
  deciderEmail: string | null;
  /** The database a person reads it as on (access-grant-rows' databaseLabelOf); null on a single-database link. */
  databaseLabel: string | null;
}

/** Every column, cast so pg and Prisma decode them alike; `r` is the table's alias. */
export const WRITE_REQUEST_COLUMNS = `
  r.id::text AS id, r.team_id::text AS team_id, r.link_id::text AS link_id, r.kind::text AS kind, r.status::text AS status,
  r.mode, r.tables, r.reason, r.sql, r.params::text AS params, r.statement_hash, r.catalog_version, r.scope_hash,
  r.user_id::text AS user_id, r.api_key_id::text AS api_key_id, r.oauth_client_id, r.principal_subject, r.client_name,
  r.preview::text AS preview, r.expires_at, r.execute_before, r.decided_by::text AS decided_by, r.decided_at, r.decision_comment,
  r.executed_at, r.result::text AS result, r.error, r.request_audit_id::text AS request_audit_id,
  r.execution_audit_id::text AS execution_audit_id, r.database_name, r.connection_id::text AS connection_id, r.created_at, r.updated_at`;

type Raw = Record<string, unknown>;

// jsonb columns are selected as text and parsed here: one decoding whatever the driver.
const json = (v: unknown): unknown => (v == null ? null : JSON.parse(String(v)));
const text = (v: unknown): string | null => (v == null ? null : String(v));

export function toWriteRequest(r: Raw): WriteRequestRow {
  const params = json(r.params);
  return {
    id: String(r.id),
    teamId: String(r.team_id),
    linkId: String(r.link_id),
    kind: r.kind as WriteRequestKind,
    status: r.status as WriteRequestStatus,
    mode: r.mode as WriteRequestMode,
    tables: Array.isArray(r.tables) ? r.tables.map(String) : [],
    reason: String(r.reason),
    sql: String(r.sql),
    params: Array.isArray(params) ? params : [],
    statementHash: String(r.statement_hash),
    catalogVersion: String(r.catalog_version),
    scopeHash: String(r.scope_hash),
    userId: text(r.user_id),
    apiKeyId: text(r.api_key_id),
    oauthClientId: text(r.oauth_client_id),
    principalSubject: String(r.principal_subject),
    clientName: text(r.client_name),
    preview: json(r.preview),
    expiresAt: toDate(r.expires_at)!,
    executeBefore: toDate(r.execute_before),
    decidedBy: text(r.decided_by),
    decidedAt: toDate(r.decided_at),
    decisionComment: text(r.decision_comment),
    executedAt: toDate(r.executed_at),
    result: r.result == null ? null : json(r.result),
    error: text(r.error),
    requestAuditId: text(r.request_audit_id),
    executionAuditId: text(r.execution_audit_id),
    databaseName: text(r.database_name),
    connectionId: text(r.connection_id),
    createdAt: toDate(r.created_at)!,
    updatedAt: toDate(r.updated_at)!,
  };
}

export function toWriteRequestListItem(r: Raw): WriteRequestListItem {
  return { ...toWriteRequest(r), linkName: String(r.link_name), requesterEmail: text(r.requester_email), deciderEmail: text(r.decider_email), databaseLabel: databaseLabelOf(r) };
}
