import { z } from "zod";
import { PortcullisError } from "../errors.js";
import { approverStanding, linkApprovalOptions } from "./approvers.js";
import { recordConfigChangeSql, recordNotification } from "./audit-sql.js";
import { commentSchema, inTransaction, jsonParam, type OperationsDb, parseInput, type Query, queryOf, uuidSchema } from "./sql-db.js";
import { toWriteRequest, WRITE_REQUEST_COLUMNS, type WriteRequestRow } from "./write-request-rows.js";

/**
 * The transitions of a write request. Each is ONE conditional UPDATE on the current status (and, where
 * time matters, on the database clock), so two deciders at once, or a decision racing the expiry sweep,
 * have exactly one winner; the losers read the row afterwards only to explain what happened.
 */

export type WriteRequestDecisionCode = "not_found" | "not_approver" | "own_request" | "already_decided" | "expired" | "not_confirmable" | "not_executing";

export class WriteRequestDecisionError extends Error {
  constructor(
    readonly code: WriteRequestDecisionCode,
    message: string,
    readonly request?: WriteRequestRow,
  ) {
    super(message);
    this.name = "WriteRequestDecisionError";
  }
}

export const decideWriteRequestInput = z.strictObject({
  teamId: uuidSchema,
  id: uuidSchema,
  deciderId: uuidSchema,
  decision: z.enum(["approve", "reject"]),
  comment: commentSchema.nullish(),
  via: z.enum(["dashboard", "cli", "client"]),
  sourceIp: z.string().max(64).nullish(),
});
export type DecideWriteRequestInput = z.input<typeof decideWriteRequestInput>;

async function readRequest(q: Query, teamId: string, id: string): Promise<WriteRequestRow | null> {
  const rows = await q(`SELECT ${WRITE_REQUEST_COLUMNS} FROM write_requests r WHERE r.id = $1::uuid AND r.team_id = $2::uuid`, [id, teamId]);
  return rows[0] ? toWriteRequest(rows[0]) : null;
}

async function emailOf(q: Query, userId: string | null): Promise<string> {
  if (!userId) return "someone no longer in the team";
  const rows = await q<{ email: string }>("SELECT email FROM users WHERE id = $1::uuid", [userId]);
  return rows[0]?.email ?? "someone no longer in the team";
}

/**
 * Approves or rejects a pending request. Approval kind: the decider must be allowed to approve on the
 * link (mayApprove), and may not approve their own request unless the link's current scope says
 * `approvalOptions.selfApproval: true`. Confirm kind: only the requester confirms; an approver may still
 * reject. The UPDATE, the audit record (config_change with writeRequestId) and the notification row
 * commit together.
 */
export async function decideWriteRequest(db: OperationsDb, input: DecideWriteRequestInput): Promise<WriteRequestRow> {
  const v = parseInput(decideWriteRequestInput, input);
  const outcome = await inTransaction(db, async (q): Promise<WriteRequestRow | WriteRequestDecisionError> => {
    const request = await readRequest(q, v.teamId, v.id);
    if (!request) return new WriteRequestDecisionError("not_found", "write request not found");
    const standing = await approverStanding(q, v.teamId, request.linkId, v.deciderId);
    const isRequester = request.userId !== null && request.userId === v.deciderId.toLowerCase();
    const options = await linkApprovalOptions(q, v.teamId, request.linkId);
    if (!options) return new WriteRequestDecisionError("not_found", "write request not found");
    if (request.kind === "approval") {
      if (v.via === "client") return new WriteRequestDecisionError("not_confirmable", "this request needs a lead's approval; the client cannot decide it");
      if (!standing) return new WriteRequestDecisionError("not_approver", "you are not allowed to decide write requests on this link");
      if (isRequester && v.decision === "approve" && !options.selfApproval) {
        return new WriteRequestDecisionError("own_request", "you cannot approve your own request on this link; another approver must decide it");
      }
    } else if (v.decision === "approve") {
      if (!isRequester) return new WriteRequestDecisionError("not_confirmable", "only the member who made this request can confirm it");
      const member = await q("SELECT 1 FROM memberships WHERE team_id = $1::uuid AND user_id = $2::uuid FOR SHARE", [v.teamId, v.deciderId]);
      if (!member.length) return new WriteRequestDecisionError("not_confirmable", "only a member of the team can confirm a request");
    } else if (!isRequester && !standing) {
      return new WriteRequestDecisionError("not_approver", "you are not allowed to decide write requests on this link");
    }

    const approve = v.decision === "approve";
    const rows = await q(
      `WITH r AS (
         UPDATE write_requests SET status = $3::"WriteRequestStatus", decided_by = $4::uuid, decided_at = clock_timestamp(),
           decision_comment = $5, execute_before = CASE WHEN $6 THEN clock_timestamp() + make_interval(mins => $7::int) END,
           updated_at = clock_timestamp()
         WHERE id = $1::uuid AND team_id = $2::uuid AND status = 'pending' AND expires_at > clock_timestamp()
         RETURNING *)
       SELECT ${WRITE_REQUEST_COLUMNS} FROM r`,
      [v.id, v.teamId, approve ? "approved" : "rejected", v.deciderId, v.comment ?? null, approve, options.expiresAfterMinutes],
    );
    if (!rows[0]) {
      // Past its time but not yet swept: record the expiry now (committed, the error is returned not thrown),
      // and tell the requester as the sweep would have.
      await q(expireOneSql("status = 'pending' AND expires_at <= clock_timestamp()"), [v.id, v.teamId]);
      const now = await readRequest(q, v.teamId, v.id);
      if (now && now.status === "pending") return new WriteRequestDecisionError("expired", "this request expired before it was decided", now);
      if (now?.status === "expired") return new WriteRequestDecisionError("expired", "this request expired before it was decided", now);
      if (now && now.decidedBy) {
        const by = await emailOf(q, now.decidedBy);
        return new WriteRequestDecisionError("already_decided", `this request was already ${now.status} by ${by} at ${now.decidedAt?.toISOString()}`, now);
      }
      return new WriteRequestDecisionError("already_decided", `this request is already ${now?.status ?? "gone"}`, now ?? undefined);
    }
    const decided = toWriteRequest(rows[0]);
    const linkName = await q<{ name: string }>("SELECT name FROM links WHERE id = $1::uuid", [decided.linkId]);
    await recordConfigChangeSql(q, {
      teamId: v.teamId,
      actorUserId: v.deciderId,
      action: approve ? "write_request.approved" : "write_request.rejected",
      target: { type: "write_request", id: decided.id, name: linkName[0]?.name ?? null },
      before: { status: "pending", kind: decided.kind, mode: decided.mode, tables: decided.tables, sql: decided.sql.slice(0, 2000) },
      after: { status: decided.status, executeBefore: decided.executeBefore?.toISOString() ?? null },
      comment: v.comment ?? null,
      sourceIp: v.sourceIp ?? null,
      via: v.via,
      writeRequestId: decided.id,
    });
    await recordNotification(q, v.teamId, "write_request.decided", decided.id);
    return decided;
  });
  if (outcome instanceof WriteRequestDecisionError) throw outcome;
  return outcome;
}

export const claimWriteRequestInput = z.strictObject({
  teamId: uuidSchema,
  id: uuidSchema,
  linkId: uuidSchema,
  statementHash: z.string().regex(/^[0-9a-f]{64}$/),
  principalSubject: z.string().min(1).max(2048),
  userId: uuidSchema.nullable(),
  catalogVersion: z.string().min(1).max(200),
  /** The connection of the record it is about to run on (attack finding 2): only the one it was made for. */
  connectionId: uuidSchema.optional(),
});

export type ClaimWriteRequestResult =
  | { ok: true; request: WriteRequestRow }
  | { ok: false; code: "not_found" | "mismatch" | "not_approved" | "expired" | "used" | "schema_changed"; request?: WriteRequestRow };

/**
 * approved → executing, atomically with the binding: the same link, statement (text and parameters),
 * key or OAuth grant, member and catalog version, before execute_before. At most once: a second claim
 * finds the row executing. A caller whose binding differs learns nothing of the request's state.
 */
export async function claimWriteRequest(db: OperationsDb, input: z.input<typeof claimWriteRequestInput>): Promise<ClaimWriteRequestResult> {
  const v = parseInput(claimWriteRequestInput, input);
  const q = queryOf(db);
  const rows = await q(
    `WITH r AS (
       UPDATE write_requests SET status = 'executing', updated_at = clock_timestamp()
       WHERE id = $1::uuid AND team_id = $2::uuid AND status = 'approved' AND execute_before > clock_timestamp()
         AND link_id = $3::uuid AND statement_hash = $4 AND principal_subject = $5
         AND user_id IS NOT DISTINCT FROM $6::uuid AND catalog_version = $7
         AND ($8::uuid IS NULL OR connection_id = $8::uuid)
       RETURNING *)
     SELECT ${WRITE_REQUEST_COLUMNS} FROM r`,
    [v.id, v.teamId, v.linkId, v.statementHash, v.principalSubject, v.userId, v.catalogVersion, v.connectionId ?? null],
  );
  if (rows[0]) return { ok: true, request: toWriteRequest(rows[0]) };
  const request = await readRequest(q, v.teamId, v.id);
  if (!request) return { ok: false, code: "not_found" };
  const sameCaller = request.linkId === v.linkId.toLowerCase() && request.principalSubject === v.principalSubject && request.userId === (v.userId?.toLowerCase() ?? null);
  if (!sameCaller || request.statementHash !== v.statementHash) return { ok: false, code: "mismatch" };
  if (v.connectionId && request.connectionId !== v.connectionId.toLowerCase()) return { ok: false, code: "mismatch" };
  switch (request.status) {
    case "pending":
    case "rejected":
      return { ok: false, code: "not_approved", request };
    case "expired":
      return { ok: false, code: "expired", request };
    case "executing":
    case "executed":
    case "failed":
      return { ok: false, code: "used", request };
    case "approved":
      if (request.catalogVersion !== v.catalogVersion) return { ok: false, code: "schema_changed", request };
      await q(expireOneSql("status = 'approved' AND execute_before <= clock_timestamp()"), [v.id, v.teamId]);
      return { ok: false, code: "expired", request };
  }
}

export const finishWriteRequestInput = z.strictObject({
  teamId: uuidSchema,
  id: uuidSchema,
  outcome: z.union([z.strictObject({ ok: z.literal(true), result: z.unknown() }), z.strictObject({ ok: z.literal(false), error: z.string().max(4000) })]),
  executionAuditId: uuidSchema.nullish(),
});

/** executing → executed | failed, with the result (bounded by the caller) or the error. */
export async function finishWriteRequest(db: OperationsDb, input: z.input<typeof finishWriteRequestInput>): Promise<void> {
  const v = parseInput(finishWriteRequestInput, input);
  const ok = v.outcome.ok;
  const rows = await queryOf(db)(
    `UPDATE write_requests SET status = $3::"WriteRequestStatus", executed_at = clock_timestamp(), result = $4::jsonb, error = $5,
       execution_audit_id = $6::uuid, updated_at = clock_timestamp()
     WHERE id = $1::uuid AND team_id = $2::uuid AND status = 'executing'
     RETURNING id`,
    [v.id, v.teamId, ok ? "executed" : "failed", v.outcome.ok ? jsonParam(v.outcome.result) : null, v.outcome.ok ? null : v.outcome.error, v.executionAuditId ?? null],
  );
  if (!rows.length) throw new WriteRequestDecisionError("not_executing", "this write request is not being executed (it was never claimed, or already finished)");
}

/**
 * One request → expired when `condition` holds ($1 id, $2 team), with its write_request.expired
 * notification in the same statement: the expiry and the requester's notice commit together or not at all.
 */
function expireOneSql(condition: string): string {
  return expireWhereSql(`id = $1::uuid AND team_id = $2::uuid AND ${condition}`);
}

function expireWhereSql(where: string): string {
  return `WITH e AS (
       UPDATE write_requests SET status = 'expired', updated_at = clock_timestamp()
       WHERE ${where}
       RETURNING id, team_id),
     n AS (INSERT INTO notification_outbox (team_id, event, subject_id) SELECT team_id, 'write_request.expired', id FROM e)
     SELECT id::text AS id FROM e`;
}

/**
 * pending past expires_at and approved past execute_before → expired, every team (the worker's sweep),
 * each with a write_request.expired notification written by the same statement. A second sweep racing
 * this one re-checks the status after the row lock and skips the row, so each expiry is told once.
 */
export async function expireWriteRequests(db: OperationsDb, now?: Date): Promise<number> {
  if (now !== undefined && Number.isNaN(now.getTime())) throw new PortcullisError("invalid_input", "now is not a valid time");
  const rows = await queryOf(db)(
    `WITH t AS (SELECT COALESCE($1::timestamptz, clock_timestamp()) AS at),
     e AS (
       UPDATE write_requests SET status = 'expired', updated_at = clock_timestamp()
       FROM t
       WHERE (status = 'pending' AND expires_at <= t.at) OR (status = 'approved' AND execute_before <= t.at)
       RETURNING write_requests.id, write_requests.team_id),
     n AS (INSERT INTO notification_outbox (team_id, event, subject_id) SELECT team_id, 'write_request.expired', id FROM e)
     SELECT id::text AS id FROM e`,
    [now?.toISOString() ?? null],
  );
  return rows.length;
}

export const expireDatabaseWriteRequestsInput = z.strictObject({
  teamId: uuidSchema,
  linkId: uuidSchema,
  databaseName: z.string().min(1).max(63),
  /** The link's own (first) database: requests stored without a name (null) are its too. */
  first: z.boolean(),
});

/**
 * Attack finding 2: pending and approved requests made for one database of a link → expired, with their
 * write_request.expired notifications, in the caller's transaction (the one that removes, renames or
 * moves the database). Nothing whatever later takes the name can run them.
 */
export async function expireDatabaseWriteRequests(q: Query, input: z.input<typeof expireDatabaseWriteRequestsInput>): Promise<string[]> {
  const v = parseInput(expireDatabaseWriteRequestsInput, input);
  const rows = await q<{ id: string }>(
    expireWhereSql("team_id = $1::uuid AND link_id = $2::uuid AND (database_name = $3 OR ($4 AND database_name IS NULL)) AND status IN ('pending', 'approved')"),
    [v.teamId, v.linkId, v.databaseName, v.first],
  );
  return rows.map((r) => r.id);
}
