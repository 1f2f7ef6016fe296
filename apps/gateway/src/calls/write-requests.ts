import { randomUUID } from "node:crypto";
import { claimWriteRequest, createWriteRequest, finishWriteRequest, getWriteRequest, statementHash, type WriteRequestRow } from "@portcullis/db/operations";
import { DEFAULT_APPROVAL_EXPIRY_MINUTES, type ApprovalRequirement, type Verdict } from "@portcullis/policy";
import { scopeHash } from "@portcullis/policy/scope";
import { databaseRecord, isMultiDatabase, storedDatabaseName } from "../access/link-database.js";
import type { CallContext } from "../context.js";
import { dryRunWrite } from "../execution/dry-run.js";
import { CODE_CHANGED_MARKER, CODE_DIGEST_SQL, codeDigestValues, codeGuardSql, codeReach, reachesCode } from "../execution/code-digest.js";
import { executeChecked, ranOn } from "../execution/execute-checked.js";
import { THROUGH_NOTE } from "../execution/tables-changed.js";
import { aheadOf, approvalNeeded, approvalRuleId, auditBase, refusedOrFailed, stepUpGate } from "../mcp/tools/sql-outcome.js";
import type { Services } from "../services.js";
import type { CallOutcome, WritePreview } from "./call-outcome.js";
import { linkAllowance } from "./link-allowance.js";
import { insufficientScope } from "./step-up.js";
import { sqlResultOf, sqlResultSchema, type SqlResultData } from "./sql-result.js";
import { OPAQUE_COMMAND, writePreviewSchema } from "./pending-write.js";

export interface SqlArgs {
  sql: string;
  params?: unknown[];
}

// Scope objects are long-lived (one per cached link): hashed once each, by the one definition the
// dashboard also compares with (@portcullis/policy/scope).
const scopeHashes = new WeakMap<CallContext["link"]["scope"], string>();
function scopeHashOf(scope: CallContext["link"]["scope"]): string {
  let hash = scopeHashes.get(scope);
  if (!hash) scopeHashes.set(scope, (hash = scopeHash(scope)));
  return hash;
}

export const SCOPE_CHANGED_NOTE = "the link's scope changed since this preview was taken; rows are withheld — ask again to see a fresh preview";

/**
 * A stored request as the link's current (effective) scope may show it. Its preview and result were
 * read under the scope it was made under; once that scope differs (a column hidden, a filter added, a
 * grant ended) the stored rows may hold what the link no longer shows, so they are withheld — columns,
 * rows and plan — and only the counts stay. Fails closed: any difference withholds.
 */
export function throughCurrentScope(request: WriteRequestRow, ctx: CallContext | null): { preview: WritePreview | null; result: unknown; error: string | null; withheld: boolean } {
  const parsed = writePreviewSchema.safeParse(request.preview);
  const preview = parsed.success ? parsed.data : null;
  // ctx null: the request's database is no longer the link's (issue 17), so no current scope shows it.
  if (ctx && request.scopeHash === scopeHashOf(ctx.link.scope)) return { preview, result: request.result, error: request.error, withheld: false };
  // tablesChanged names tables the old scope showed: withheld with the rows (it is not a count of the request's own).
  const withheld = preview && { ...preview, columns: [], keyColumns: [], before: [], after: [], plan: null, notes: [SCOPE_CHANGED_NOTE], tablesChanged: undefined };
  const stored = sqlResultSchema.safeParse(request.result);
  const result =
    request.result === null || request.result === undefined
      ? request.result
      : stored.success
        ? { ...stored.data, columns: [], rows: [], truncated: { value: stored.data.rowCount > 0, note: SCOPE_CHANGED_NOTE } }
        : { note: SCOPE_CHANGED_NOTE };
  // A stored error's DETAIL/HINT can print row values; the message itself is the statement's.
  const error = request.error?.replace(/; (detail|hint): [\s\S]*$/, "") ?? null;
  return { preview: withheld, result, error, withheld: true };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** What the statement would do, from the dry run's numbers: "this DELETE would remove 340 rows from public.invoice". */
function effectWords(preview: WritePreview): string {
  if (preview.command === OPAQUE_COMMAND) {
    const calls = preview.functions?.length ? ` (it calls ${preview.functions.map((f) => `${f}()`).join(", ")})` : "";
    const own = preview.table && preview.affected !== null ? `; its own write changes ${plural(preview.affected, "row")} in ${preview.table}` : "";
    return `this statement ${OPAQUE_COMMAND}${calls}${own}`;
  }
  const where = preview.table ? ` ${preview.command === "INSERT" ? "into" : preview.command === "DELETE" || preview.command === "TRUNCATE" ? "from" : "in"} ${preview.table}` : "";
  if (preview.affected === null) return `this ${preview.command} would change ${preview.table ?? "the database"} (the dry run could not count the rows)`;
  const verb = { INSERT: "insert", UPDATE: "update", DELETE: "remove", TRUNCATE: "remove", MERGE: "change" }[preview.command] ?? "change";
  return `this ${preview.command} would ${verb} ${plural(preview.affected, "row")}${where}`;
}

export function pendingMessage(request: { id: string; kind: "approval" | "confirm"; reason: string; expiresAt: Date; databaseName?: string | null }, preview: WritePreview, multiDatabase = false): string {
  const on = multiDatabase && request.databaseName ? ` and "database": ${JSON.stringify(request.databaseName)}` : "";
  const next = `Check it with get_write_request {"requestId": "${request.id}"}; once it is approved, run execute_sql again with exactly the same sql and params plus "requestId": "${request.id}"${on} (it runs once).`;
  const who =
    request.kind === "approval"
      ? `A lead must approve request ${request.id} (Portcullis dashboard → Approvals, or \`portcullis approvals approve\`) before ${request.expiresAt.toISOString()}; tell the user it is waiting.`
      : `You (the caller) must confirm request ${request.id}: your client may ask you now; otherwise confirm it in the Portcullis dashboard (Approvals) before ${request.expiresAt.toISOString()}.`;
  const through = preview.notes.find((n) => n.startsWith(THROUGH_NOTE));
  const also = through ? `; it also ${through.slice(THROUGH_NOTE.length).replace(/\.$/, "")} through rules or triggers` : "";
  return `${request.reason.replace(/[.\s]+$/, "")}: ${effectWords(preview)}${also}. Nothing was run. ${who} ${next}`;
}

/**
 * A write that needs a decision and came without a requestId: dry run (nothing kept), store the request
 * with the call's binding (statement hash, key or grant, member, link, catalog version, scope), and
 * answer pending. A statement that fails in the dry run is not stored: the call fails as the write would.
 */
export async function requestDecision(services: Services, ctx: CallContext, args: SqlArgs, verdict: Verdict, requirement: ApprovalRequirement): Promise<CallOutcome> {
  const base = auditBase(args.sql, verdict, ctx.link);
  const dry = await dryRunWrite(services, ctx, { sql: args.sql, params: args.params, verdict });
  if (!dry.ok) {
    if (dry.refusal) {
      const { ruleId, reason } = dry.refusal;
      return { kind: "refused", refusal: { ruleId, reason, allows: linkAllowance(ctx.link) }, audit: { ...base, verdict: "blocked", ruleId, reason } };
    }
    return {
      kind: "failed",
      failure: { code: dry.code, message: dry.error, retryable: false },
      audit: { ...base, verdict: "error", error: dry.error },
    };
  }
  const catalog = await services.catalogFor(ctx.link);
  const minutes = ctx.link.scope.approvalOptions?.expiresAfterMinutes ?? DEFAULT_APPROVAL_EXPIRY_MINUTES;
  const eventId = randomUUID();
  const { principal } = ctx;
  const request = await createWriteRequest(services.metadata, {
    teamId: ctx.link.teamId,
    linkId: ctx.link.id,
    kind: requirement.kind,
    mode: requirement.mode,
    tables: requirement.tables,
    reason: requirement.reason,
    sql: args.sql,
    params: args.params ?? [],
    catalogVersion: catalog.version,
    scopeHash: scopeHashOf(ctx.link.scope),
    userId: principal.userId,
    apiKeyId: principal.apiKeyId,
    oauthClientId: principal.oauthClientId,
    principalSubject: principal.subject,
    clientName: (ctx.clientName ?? principal.clientName ?? null)?.slice(0, 200) ?? null,
    preview: dry.preview,
    expiresAt: new Date(Date.now() + minutes * 60_000),
    requestAuditId: eventId,
    // Issue 17: the request runs on this database only, and (attack finding 2) only while that name
    // is this connection: the one the dry run ran on.
    databaseName: storedDatabaseName(ctx.link),
    connectionId: ctx.link.connection.id,
  });
  const ruleId = approvalRuleId(requirement);
  const message = pendingMessage({ ...request, databaseName: ctx.link.databaseName ?? null }, dry.preview, isMultiDatabase(ctx.link));
  return {
    kind: "pending",
    data: { status: "pending_approval", requestId: request.id, kind: requirement.kind, preview: dry.preview, expiresAt: request.expiresAt.toISOString(), message },
    audit: { ...base, eventId, verdict: "blocked", ruleId, reason: `${requirement.reason.replace(/[.\s]+$/, "")}. Request ${request.id} waits for a decision; nothing was run. [rule ${ruleId}]`, writeRequestId: request.id },
  };
}

/**
 * The request as the caller may see it: on this link, made by this member through this key or grant; else
 * null (no existence leak). Issue 17: a caller who named another database than the request's is answered
 * as for a request that does not exist.
 */
export async function ownRequest(services: Services, ctx: CallContext, id: string, sameSubject = true): Promise<WriteRequestRow | null> {
  const request = await getWriteRequest(services.metadata, { teamId: ctx.link.teamId, id });
  if (!request || request.linkId !== ctx.link.id) return null;
  if (ctx.databaseNamed !== undefined && ctx.databaseNamed !== requestDatabase(ctx, request)) return null;
  const sameMember = ctx.principal.userId !== null && request.userId === ctx.principal.userId;
  if (sameSubject ? request.principalSubject !== ctx.principal.subject || request.userId !== ctx.principal.userId : !sameMember && request.principalSubject !== ctx.principal.subject) return null;
  return request;
}

/** The name of the database a request was made on (null stored: the link's first). */
function requestDatabase(ctx: CallContext, request: WriteRequestRow): string | undefined {
  return request.databaseName ?? databaseRecord(ctx.link, null)?.databaseName;
}

/**
 * The caller's context moved to the record of the request's database (issue 17): a request runs, and is
 * shown, under the scope of the database it was made on, whatever database the call defaulted to. Null
 * when the link no longer has that database (renamed or removed) or the name is another connection now:
 * the request cannot run.
 */
export function onRequestDatabase(ctx: CallContext, request: WriteRequestRow): CallContext | null {
  const record = databaseRecord(ctx.link, request.databaseName);
  if (!record) return null;
  // Attack finding 2: the name now pointing at another connection (removed and added again, moved) is
  // not the database the request was made and approved for; a request bound to none runs nowhere.
  if (!request.connectionId || request.connectionId.toLowerCase() !== record.connection.id.toLowerCase()) return null;
  return record === ctx.link ? ctx : { ...ctx, link: record };
}

type Refusable = "write_request_mismatch" | "write_request_not_approved" | "write_request_expired" | "write_request_used" | "write_request_schema_changed";

function refuse(ctx: CallContext, args: SqlArgs, id: string, ruleId: Refusable, words: string, verdict?: Verdict): CallOutcome {
  const reason = `${words} Nothing was run. [rule ${ruleId}]`;
  return {
    kind: "refused",
    refusal: { ruleId, reason, allows: linkAllowance(ctx.link) },
    audit: { ...(verdict ? auditBase(args.sql, verdict, ctx.link) : { sql: args.sql }), verdict: "blocked", ruleId, reason, writeRequestId: id },
  };
}

const NOT_FOUND = (id: string) =>
  `There is no write request ${id} for you on this link (requests are executed by the key or sign-in that made them, on the link they were made on).`;

/** Refusal words for a request that cannot run now, by its state. */
function stateRefusal(ctx: CallContext, args: SqlArgs, request: WriteRequestRow, code: string): CallOutcome {
  const id = request.id;
  switch (code) {
    case "not_approved":
      return request.status === "rejected"
        ? refuse(ctx, args, id, "write_request_not_approved", `Write request ${id} was rejected${request.decisionComment ? ` (“${request.decisionComment}”)` : ""}; do not run it. Change the statement if the reason allows, and ask again.`)
        : refuse(
            ctx,
            args,
            id,
            "write_request_not_approved",
            request.kind === "confirm"
              ? `Write request ${id} waits for your confirmation: confirm it when your client asks, or in the Portcullis dashboard (Approvals), then run it.`
              : `Write request ${id} is still waiting for a lead's decision. Check it with get_write_request and run it once it is approved.`,
          );
    case "expired":
      return refuse(ctx, args, id, "write_request_expired", `Write request ${id} expired before it ran. Run execute_sql without requestId to ask again.`);
    case "used":
      return refuse(ctx, args, id, "write_request_used", `Write request ${id} has already been ${request.status === "executing" ? "claimed for execution" : request.status === "failed" ? "run (it failed)" : "run"}; a request runs at most once. get_write_request shows its result.`);
    case "schema_changed":
      return refuse(ctx, args, id, "write_request_schema_changed", `The database's schema changed since write request ${id} was made, so its preview may no longer hold. Run execute_sql without requestId to ask again.`);
    default:
      return refuse(ctx, args, id, "write_request_mismatch", `The sql and params must be exactly those of write request ${id} (text and values, byte for byte).`);
  }
}

/** A result small enough to keep on the request row (the caller got the whole of it). */
function bounded(data: SqlResultData): SqlResultData {
  const LIMIT = 64 * 1024;
  let size = 0;
  const rows: unknown[][] = [];
  for (const row of data.rows) {
    size += JSON.stringify(row).length + 1;
    if (size > LIMIT) break;
    rows.push(row);
  }
  if (rows.length === data.rows.length) return { ...data, rows: [...data.rows] };
  return { ...data, rows, truncated: { value: true, by: "bytes", limit: LIMIT, note: `The stored result keeps the first ${rows.length} rows.` } };
}

/**
 * The code the approved write reaches must be what it was: compared inside the execution transaction,
 * right before the statement, with the digest taken in the dry run (the code the approver's preview ran),
 * or, for a request stored without one, with a digest taken right after the fresh catalog load. The
 * guard goes out in the same pipelined write as the statement, right before it and again right before
 * its COMMIT (run-statement's `guard`); it fails in the server when the digest differs, which aborts the
 * transaction and skips what follows. The digest carries the rows' xmin, so any version the statement
 * could have run other than the approved one shows at the second check. Measured before, with one check
 * answered to the gateway first, a body flipped every 3 ms still ran 1 time in ~7. Not covered: code
 * those functions call in turn, defaults and CHECK constraints' functions, DO/CALL whose code has no name.
 */
async function codeGuard(services: Services, ctx: CallContext, request: WriteRequestRow, verdict: Verdict): Promise<NonNullable<Parameters<typeof executeChecked>[2]["guard"]> | null> {
  const reach = codeReach(verdict);
  if (!reachesCode(reach)) return null;
  const values = codeDigestValues(reach);
  const stored = writePreviewSchema.safeParse(request.preview);
  let expect = stored.success ? stored.data.codeDigest : undefined;
  if (!expect) {
    const pool = await services.poolFor(ctx.link);
    expect = (await pool.query<{ digest: string }>(CODE_DIGEST_SQL, values)).rows[0]!.digest;
  }
  const ruleId = "write_request_schema_changed";
  return {
    sql: codeGuardSql(reach, expect),
    marker: CODE_CHANGED_MARKER,
    refusal: {
      ruleId,
      reason: `The code write request ${request.id} runs (a function, trigger or rule) was replaced since it was approved, so its preview no longer holds; it was not run and the request is spent. Run execute_sql without requestId to ask again. [rule ${ruleId}]`,
    },
  };
}

/**
 * execute_sql with a requestId: the approved statement runs once, for the key or grant that asked, on
 * the link it was asked on, against the link's current scope. The cheap checks come first for clear
 * words; the claim (one conditional UPDATE) is what makes it exactly once, even under concurrency.
 */
export async function executeApproved(services: Services, callCtx: CallContext, args: SqlArgs & { requestId: string }): Promise<CallOutcome> {
  const id = args.requestId;
  const request = await ownRequest(services, callCtx, id);
  if (!request) return refuse(callCtx, args, id, "write_request_mismatch", NOT_FOUND(id));
  // Bound to its database: it runs there (the confirmation path and a call naming no database follow it;
  // a call naming another one found no request above), or nowhere once the link no longer has it.
  const ctx = onRequestDatabase(callCtx, request);
  if (!ctx)
    return refuse(
      callCtx,
      args,
      id,
      "write_request_mismatch",
      `Write request ${id} was made on ${request.databaseName ? `database "${request.databaseName}"` : "the link's first database"}, which this link no longer has (the database was removed, or the name is another connection now).`,
    );
  const outcome = await executeOnDatabase(services, ctx, request, args);
  if (ctx !== callCtx && ctx.insufficientScope) callCtx.insufficientScope = ctx.insufficientScope;
  return ctx === callCtx ? outcome : ({ ...outcome, audit: { ...outcome.audit, databaseName: ctx.link.databaseName ?? null } } as CallOutcome);
}

async function executeOnDatabase(services: Services, ctx: CallContext, request: WriteRequestRow, args: SqlArgs & { requestId: string }): Promise<CallOutcome> {
  const id = args.requestId;
  const hash = statementHash(args.sql, args.params);
  if (hash !== request.statementHash) return stateRefusal(ctx, args, request, "mismatch");
  // The cached catalog learns of DDL sent through a gateway at once, of DDL sent straight to the database
  // (a function body replaced after the approval) only at its TTL: the binding is judged on one loaded now.
  // Only for a request about to run, so refused retries cannot make the gateway reload catalogs.
  if (request.status === "approved") services.catalogs.invalidate(ctx.link.connection.id);
  const catalog = await services.catalogFor(ctx.link);
  const verdict = services.checker.check(args.sql, ctx.link.scope, catalog);
  const binding = {
    teamId: ctx.link.teamId,
    id,
    linkId: ctx.link.id,
    statementHash: hash,
    principalSubject: ctx.principal.subject,
    userId: ctx.principal.userId,
    catalogVersion: catalog.version,
    connectionId: ctx.link.connection.id,
  };
  // A token whose scopes no longer cover it steps up first; the request stays approved.
  const scopeRefusal = verdict.allowed && ctx.principal.grantedScopes !== null ? insufficientScope(ctx, verdict.classes) : null;
  if (scopeRefusal) return refusedOrFailed({ verdict, refusal: scopeRefusal }, args.sql, ctx)!;
  // A confirmation the caller gave themselves does not stand in for a lead's approval the link has
  // required since: the request stays as it is, and the caller asks again.
  if (verdict.allowed && request.kind === "confirm" && approvalNeeded(verdict, ctx)?.kind === "approval")
    return refuse(ctx, args, id, "write_request_not_approved", `This link now requires a lead's approval for this write; your confirmation of request ${id} does not replace it. Run execute_sql without requestId to ask for the approval.`, verdict);
  // One attempt per approval: a changed schema spends the request (claimed on the version it was made
  // under, then failed with the reason), so retrying until a swapped body lines up wins nothing.
  const schemaChanged = catalog.version !== request.catalogVersion;
  const claim = await claimWriteRequest(services.metadata, schemaChanged ? { ...binding, catalogVersion: request.catalogVersion } : binding);
  if (!claim.ok) return claim.request ? stateRefusal(ctx, args, claim.request, claim.code) : refuse(ctx, args, id, "write_request_mismatch", NOT_FOUND(id));
  const eventId = randomUUID();
  let outcome: CallOutcome;
  if (schemaChanged) {
    outcome = stateRefusal(ctx, args, request, "schema_changed");
  } else if (!verdict.allowed) {
    // The scope was narrowed since the approval: the request is spent, with the policy's reason.
    outcome = refusedOrFailed({ verdict }, args.sql, ctx)!;
  } else {
    const guard = await codeGuard(services, ctx, request, verdict);
    const execution = await executeChecked(services, ctx.link, {
      sql: args.sql,
      params: args.params,
      principal: ctx.principal,
      signal: ctx.signal,
      gate: stepUpGate(ctx, "approved"),
      ...(guard ? { guard } : {}),
      // Written ahead under the event id the request will link to as its execution.
      ...aheadOf(ctx, args.sql, { eventId, writeRequestId: id }),
    });
    const stopped = refusedOrFailed(execution, args.sql, ctx);
    if (stopped) outcome = stopped;
    else {
      const result = await sqlResultOf(services, ctx, execution);
      outcome = {
        kind: "ok",
        data: result.data,
        audit: { ...auditBase(args.sql, execution.verdict, ctx.link), ...ranOn(execution), verdict: "allowed", wrote: !execution.verdict.readOnly, rows: result.rows, bytes: result.bytes },
      };
    }
  }
  const finished =
    outcome.kind === "ok"
      ? { ok: true as const, result: bounded(outcome.data as SqlResultData) }
      : { ok: false as const, error: (outcome.kind === "refused" ? outcome.refusal.reason : outcome.kind === "failed" ? outcome.failure.message : "not run").slice(0, 4000) };
  try {
    await finishWriteRequest(services.metadata, { teamId: ctx.link.teamId, id, outcome: finished, executionAuditId: eventId });
  } catch (error) {
    // The statement has run (or been refused) and the claim already spends the request: the caller gets
    // the real answer; the row stays `executing` and the log says why (the audit event still links it).
    services.logger.error({ err: error, writeRequestId: id, requestId: ctx.requestId }, "write request result not stored");
  }
  return { ...outcome, audit: { ...outcome.audit, eventId, writeRequestId: id } } as CallOutcome;
}
