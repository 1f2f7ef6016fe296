import type { AuditRecord } from "../audit/producer.js";
import type { CallContext, ProtocolRevision } from "../context.js";
import type { CallAudit } from "./call-outcome.js";

/**
 * The only place audit event objects are assembled: tool calls (MCP in either era and the Playground),
 * refused requests and coalesced refusals all go through here, so every path caps the same fields the
 * same way and a new field (client, revision, trace) reaches all of them at once.
 */

// An invalid trace id would make the worker dead-letter the whole event: dropped here instead.
const traceIdOf = (id: string | null | undefined): string | null => (id && /^[0-9a-f]{32}$/.test(id) && !/^0+$/.test(id) ? id : null);

const cap = (text: string | null | undefined, max: number): string | undefined => (text == null ? undefined : text.slice(0, max));

// C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Tool, client name and client version are one-line labels the client chose (an unknown tool's name,
 * MCP clientInfo): an ESC sequence or a line break in them would forge lines and drive terminals
 * wherever the trail is shown (`portcullis audit tail`, Activity). Dropped, then capped; empty is
 * absent. The SQL is not cleaned: it is evidence, and its readers escape it.
 */
const label = (text: string | null | undefined, max: number): string | undefined => {
  const cleaned = cap(text?.replace(CONTROLS, ""), max);
  return cleaned ? cleaned : undefined;
};

/** The event of one tool call (allowed, blocked or failed), after it ran. */
export function toolCallEvent(ctx: CallContext, tool: string, audit: CallAudit, durationMs: number): AuditRecord {
  return {
    ...(audit.eventId ? { id: audit.eventId } : {}),
    teamId: ctx.principal.teamId,
    kind: "tool_call",
    linkId: ctx.link.id,
    apiKeyId: ctx.principal.apiKeyId,
    oauthClientId: ctx.principal.oauthClientId,
    userId: ctx.principal.userId,
    // Self-reported by the client; the OAuth client's registered name stands in when it sent none.
    clientName: label(ctx.clientName ?? ctx.principal.clientName, 200) ?? null,
    clientVersion: label(ctx.clientVersion, 100) ?? null,
    tool: tool.replace(CONTROLS, "").slice(0, 100),
    sql: cap(audit.sql, 100_000),
    fingerprint: audit.fingerprint,
    tables: (audit.tables ?? []).slice(0, 200),
    verdict: audit.verdict,
    ruleId: cap(audit.ruleId, 100),
    reason: cap(audit.reason, 4000),
    durationMs: Math.round(durationMs * 1000) / 1000,
    rows: audit.rows,
    bytes: audit.bytes,
    error: cap(audit.error, 4000),
    sourceIp: ctx.sourceIp,
    requestId: ctx.requestId,
    protocolVersion: ctx.protocolVersion,
    traceId: traceIdOf(ctx.traceId),
    // Issue 14: what ran when the policy rewrote the statement, and which attributes it bound (names only).
    ...(audit.rewrittenSql ? { rewrittenSql: audit.rewrittenSql.slice(0, 100_000) } : {}),
    ...(audit.attributeNames?.length ? { attributeNames: audit.attributeNames.slice(0, 100) } : {}),
    // Issue 15: the chain request → decision → execution, and the grant a call relied on.
    ...(audit.writeRequestId ? { writeRequestId: audit.writeRequestId } : {}),
    ...(audit.accessGrantId ? { accessGrantId: audit.accessGrantId } : {}),
    // Issue 17: which of the link's databases, and which of its servers, the call ran on.
    ...(label(audit.databaseName !== undefined ? audit.databaseName : ctx.link.databaseName, 100)
      ? { databaseName: label(audit.databaseName !== undefined ? audit.databaseName : ctx.link.databaseName, 100) }
      : {}),
    ...(label(audit.targetServer, 100) ? { targetServer: label(audit.targetServer, 100) } : {}),
  };
}

/** A request refused before any tool ran (authentication, limits, protocol, Playground access). */
export interface RequestRefusal {
  ruleId: string;
  reason: string;
  sourceIp: string | null;
  requestId: string;
  apiKeyId?: string | null;
  oauthClientId?: string | null;
  userId?: string | null;
  clientName?: string | null;
  clientVersion?: string | null;
  protocolVersion?: ProtocolRevision | null;
  traceId?: string | null;
}

/**
 * The event of a refused request, without its team and link: the coalescer files it under the link's
 * team only when the link is known, so those two are added by whoever knows them (`refusedRequestEvent`).
 */
export function requestRefusedFields(refusal: RequestRefusal): Omit<AuditRecord, "teamId" | "linkId"> {
  return {
    kind: "request_refused",
    apiKeyId: refusal.apiKeyId ?? null,
    oauthClientId: refusal.oauthClientId ?? null,
    userId: refusal.userId ?? null,
    ...(label(refusal.clientName, 200) ? { clientName: label(refusal.clientName, 200) } : {}),
    ...(label(refusal.clientVersion, 100) ? { clientVersion: label(refusal.clientVersion, 100) } : {}),
    verdict: "blocked",
    ruleId: refusal.ruleId.slice(0, 100),
    reason: refusal.reason.slice(0, 4000),
    sourceIp: refusal.sourceIp,
    requestId: refusal.requestId,
    ...(refusal.protocolVersion ? { protocolVersion: refusal.protocolVersion } : {}),
    ...(traceIdOf(refusal.traceId) ? { traceId: refusal.traceId } : {}),
  };
}

/** A refused request filed under a known link's team. */
export function refusedRequestEvent(link: { id: string; teamId: string }, refusal: RequestRefusal): AuditRecord {
  return { ...requestRefusedFields(refusal), teamId: link.teamId, linkId: link.id };
}
