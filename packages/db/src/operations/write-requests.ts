import { createHash } from "node:crypto";
import { z } from "zod";
import { PortcullisError } from "../errors.js";
import { DATABASE_LABEL_COLUMNS, databaseConnectionSql } from "./access-grant-rows.js";
import { recordNotification } from "./audit-sql.js";
import { inTransaction, jsonParam, type OperationsDb, parseInput, queryOf, uuidSchema } from "./sql-db.js";
import {
  toWriteRequest,
  toWriteRequestListItem,
  WRITE_REQUEST_COLUMNS,
  WRITE_REQUEST_KINDS,
  WRITE_REQUEST_MODES,
  WRITE_REQUEST_STATUSES,
  type WriteRequestListItem,
  type WriteRequestRow,
} from "./write-request-rows.js";

export * from "./write-request-rows.js";
export * from "./write-request-transitions.js";

/**
 * Write requests (issue 15): a statement the policy allows but a person must decide first. The gateway
 * creates one with the dry run's preview; a lead approves or rejects it (or, for a confirmation, the
 * caller confirms); the caller then executes exactly the statement that was approved, once. The
 * transitions are in write-request-transitions.ts; this file creates and reads.
 */

/** sha256 hex of JSON.stringify([sql, params ?? []]): what an approval binds, checked again at execution. */
export function statementHash(sql: string, params: unknown[] | undefined): string {
  return createHash("sha256").update(JSON.stringify([sql, params ?? []])).digest("hex");
}

const text = (min: number, max: number) => z.string().min(min).max(max);

export const createWriteRequestInput = z.strictObject({
  teamId: uuidSchema,
  linkId: uuidSchema,
  kind: z.enum(WRITE_REQUEST_KINDS),
  mode: z.enum(WRITE_REQUEST_MODES),
  tables: z.array(text(1, 200)).max(200),
  reason: text(1, 4000),
  sql: text(1, 100_000),
  params: z.array(z.unknown()).max(10_000).optional(),
  catalogVersion: text(1, 200),
  scopeHash: text(1, 200),
  userId: uuidSchema.nullable(),
  apiKeyId: uuidSchema.nullish(),
  oauthClientId: text(1, 2048).nullish(),
  principalSubject: text(1, 2048),
  clientName: text(0, 200).nullish(),
  preview: z.unknown(),
  expiresAt: z.union([z.date(), z.string().datetime({ offset: true })]),
  /** The id of the audit event the gateway records for the call that made the request (producer-generated). */
  requestAuditId: uuidSchema.nullish(),
  /** Which of the link's databases it runs on (issue 17); null or absent: the link's first. */
  databaseName: z.string().min(1).max(63).nullish(),
  /**
   * The connection the caller's record of that database uses (what the dry run ran on). Stored as the
   * binding; when the name points elsewhere by now, nothing is stored (attack finding 2).
   */
  connectionId: uuidSchema.nullish(),
});
export type CreateWriteRequestInput = z.input<typeof createWriteRequestInput>;

/** Stores a pending request and its notification_outbox row (write_request.created) in one transaction. */
export async function createWriteRequest(db: OperationsDb, input: CreateWriteRequestInput): Promise<WriteRequestRow> {
  const v = parseInput(createWriteRequestInput, input);
  const params = v.params ?? [];
  const expiresAt = v.expiresAt instanceof Date ? v.expiresAt.toISOString() : v.expiresAt;
  return inTransaction(db, async (q) => {
    // INSERT … SELECT from the team's link: a link of another team inserts nothing.
    const rows = await q(
      `WITH r AS (
         INSERT INTO write_requests (team_id, link_id, kind, mode, tables, reason, sql, params, statement_hash, catalog_version,
           scope_hash, user_id, api_key_id, oauth_client_id, principal_subject, client_name, preview, expires_at, request_audit_id, database_name, connection_id)
         SELECT l.team_id, l.id, $3::"WriteRequestKind", $4, $5::text[], $6, $7, $8::jsonb, $9, $10, $11, $12::uuid, $13::uuid, $14,
           $15, $16, $17::jsonb, $18::timestamptz, $19::uuid, $20, c.id
         FROM links l CROSS JOIN LATERAL (SELECT ${databaseConnectionSql("l.id", "$20")} AS id) c
         WHERE l.id = $2::uuid AND l.team_id = $1::uuid AND c.id IS NOT NULL AND ($21::uuid IS NULL OR c.id = $21::uuid)
         RETURNING *)
       SELECT ${WRITE_REQUEST_COLUMNS} FROM r`,
      [
        v.teamId,
        v.linkId,
        v.kind,
        v.mode,
        v.tables,
        v.reason,
        v.sql,
        jsonParam(params),
        statementHash(v.sql, params),
        v.catalogVersion,
        v.scopeHash,
        v.userId,
        v.apiKeyId ?? null,
        v.oauthClientId ?? null,
        v.principalSubject,
        v.clientName ?? null,
        jsonParam(v.preview),
        expiresAt,
        v.requestAuditId ?? null,
        v.databaseName ?? null,
        v.connectionId ?? null,
      ],
    );
    if (!rows[0]) {
      const link = await q("SELECT 1 FROM links WHERE id = $1::uuid AND team_id = $2::uuid", [v.linkId, v.teamId]);
      if (!link[0]) throw new PortcullisError("not_found", "link not found");
      // Removed, renamed or moved to another connection since the caller's record was loaded.
      throw new PortcullisError("conflict", `this link's database ${v.databaseName ? `"${v.databaseName}" ` : ""}changed while the request was made; nothing was stored — ask again`);
    }
    const request = toWriteRequest(rows[0]);
    await recordNotification(q, request.teamId, "write_request.created", request.id);
    return request;
  });
}

const getInput = z.strictObject({ teamId: uuidSchema, id: uuidSchema });

/** One request of the team (another team's id reads as null). */
export async function getWriteRequest(db: OperationsDb, input: { teamId: string; id: string }): Promise<WriteRequestRow | null> {
  const { teamId, id } = parseInput(getInput, input);
  const rows = await queryOf(db)(`SELECT ${WRITE_REQUEST_COLUMNS} FROM write_requests r WHERE r.id = $1::uuid AND r.team_id = $2::uuid`, [id, teamId]);
  return rows[0] ? toWriteRequest(rows[0]) : null;
}

export const listWriteRequestsInput = z.strictObject({
  teamId: uuidSchema,
  status: z.array(z.enum(WRITE_REQUEST_STATUSES)).min(1).max(WRITE_REQUEST_STATUSES.length).optional(),
  linkId: uuidSchema.optional(),
  limit: z.number().int().min(1).max(500).default(100),
  /** Cursor: requests created before this time (the last item's createdAt). */
  before: z.union([z.date(), z.string().datetime({ offset: true })]).optional(),
});

/** The team's requests, newest first, with the link's name and the requester's and decider's e-mail. */
export async function listWriteRequests(db: OperationsDb, input: z.input<typeof listWriteRequestsInput>): Promise<WriteRequestListItem[]> {
  const v = parseInput(listWriteRequestsInput, input);
  const before = v.before instanceof Date ? v.before.toISOString() : (v.before ?? null);
  const rows = await queryOf(db)(
    `SELECT ${WRITE_REQUEST_COLUMNS}, l.name AS link_name, ru.email AS requester_email, du.email AS decider_email, ${DATABASE_LABEL_COLUMNS}
     FROM write_requests r
     JOIN links l ON l.id = r.link_id
     LEFT JOIN users ru ON ru.id = r.user_id
     LEFT JOIN users du ON du.id = r.decided_by
     WHERE r.team_id = $1::uuid
       AND ($2::text[] IS NULL OR r.status::text = ANY($2::text[]))
       AND ($3::uuid IS NULL OR r.link_id = $3::uuid)
       AND ($4::timestamptz IS NULL OR r.created_at < $4::timestamptz)
     ORDER BY r.created_at DESC, r.id DESC
     LIMIT $5`,
    [v.teamId, v.status ?? null, v.linkId ?? null, before, v.limit],
  );
  return rows.map(toWriteRequestListItem);
}
