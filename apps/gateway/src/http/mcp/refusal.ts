import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestId } from "@modelcontextprotocol/server";
import type { AuthFailure } from "../../auth/authenticate-request.js";
import { refusedRequestEvent, type RequestRefusal } from "../../calls/audit-event.js";
import type { LinkRecord, Principal, ProtocolRevision } from "../../context.js";
import type { HttpDeps } from "../deps.js";
import { sendJson } from "../respond.js";
import type { EdgeRejection } from "./classify.js";
import { corsHeaders } from "./cors.js";
import { requestTraceId } from "../../telemetry/index.js";
import type { RequestMeta } from "../request-meta.js";

/**
 * Every way the MCP endpoint says no before (or instead of) a result, as data. `audit`:
 * `coalesced` for refusals anyone can cause without a credential (one event per source, link, rule and
 * minute), `record` for refusals of an authenticated caller (one event each), `none` when nothing is
 * filed (no link to file it under, or the call was audited by the call path already).
 */
export interface HttpRefusal {
  status: number;
  code: number;
  message: string;
  data?: unknown;
  id?: RequestId | null;
  ruleId: string;
  reason: string;
  audit: "coalesced" | "record" | "none";
  linkId?: string | null;
  link?: LinkRecord | null;
  principal?: Principal | null;
  headers?: Record<string, string>;
  /** What the client said it is (2026-07-28 envelope or legacy session), for the audit event. */
  clientName?: string | null;
  clientVersion?: string | null;
  protocolVersion?: ProtocolRevision | null;
  traceId?: string | null;
  /** Stop reading the rest of the request (an oversized upload). */
  closeConnection?: boolean;
}

export function resourceMetadataUrl(deps: HttpDeps, linkId: string): string {
  return `${deps.publicUrl}/.well-known/oauth-protected-resource/mcp/${encodeURIComponent(linkId)}`;
}

const UNAUTHORIZED = "Unauthorized: a valid bearer token for this link is required";

/** An authentication failure as the one refusal: same 401 for every credential failure (no oracle). */
export function authRefusal(deps: HttpDeps, failure: AuthFailure, rawLinkId: string): HttpRefusal {
  if (failure.kind === "unauthenticated") {
    return {
      status: 401,
      code: -32001,
      message: UNAUTHORIZED,
      ruleId: failure.ruleId,
      reason: failure.reason,
      audit: failure.auditLinkId ? "coalesced" : "none",
      linkId: failure.auditLinkId,
      headers: { "www-authenticate": `Bearer resource_metadata="${resourceMetadataUrl(deps, failure.auditLinkId ?? rawLinkId)}"` },
    };
  }
  return {
    status: 429,
    code: -32000,
    message: failure.message,
    ruleId: failure.ruleId,
    reason: failure.reason,
    audit: failure.auditLinkId ? "coalesced" : "none",
    linkId: failure.auditLinkId,
    principal: failure.principal,
    headers: { "retry-after": String(Math.max(1, Math.ceil(failure.waitMs / 1000))) },
  };
}

/** An edge rule (era, headers, envelope, version, shape) refusing an authenticated caller's request. */
export function edgeRefusal(rejection: EdgeRejection, link: LinkRecord, principal: Principal): HttpRefusal {
  return {
    status: rejection.httpStatus,
    code: rejection.code,
    message: rejection.message,
    data: rejection.data,
    id: rejection.id,
    ruleId: rejection.ruleId,
    reason: rejection.message.slice(0, 500),
    audit: "record",
    link,
    principal,
  };
}

/**
 * Step-up (2026-07-28 authorization, scope challenge): the link allows the call but the token lacks
 * the scopes; every scope the call needs in one challenge. The call itself was audited by the call path.
 */
export function insufficientScopeRefusal(deps: HttpDeps, link: LinkRecord, scopes: string[], id: RequestId | null): HttpRefusal {
  const scope = scopes.join(" ");
  const description = `this call needs the OAuth scope(s) ${scope}; authorize again with them`;
  return {
    status: 403,
    code: -32001,
    message: `Forbidden: ${description}`,
    data: { requiredScopes: scopes },
    id,
    ruleId: "insufficient_scope",
    reason: description,
    audit: "none",
    link,
    headers: {
      "www-authenticate": `Bearer error="insufficient_scope", scope="${scope}", resource_metadata="${resourceMetadataUrl(deps, link.id)}", error_description="${description}"`,
    },
  };
}

/** The one place a refusal becomes metrics, a log line, its audit event and the HTTP answer. */
export function sendRefusal(req: IncomingMessage, res: ServerResponse, deps: HttpDeps, meta: RequestMeta, refusal: HttpRefusal): void {
  const { services } = deps;
  if (refusal.audit !== "none" || refusal.status !== 401) services.metrics.refused.inc({ reason: refusal.ruleId });
  services.logger.info({ requestId: meta.requestId, linkId: refusal.link?.id ?? refusal.linkId ?? undefined, ruleId: refusal.ruleId }, "request refused");
  const principal = refusal.principal ?? null;
  const event: RequestRefusal = {
    ruleId: refusal.ruleId,
    reason: refusal.reason,
    sourceIp: meta.sourceIp,
    requestId: meta.requestId,
    apiKeyId: principal?.apiKeyId ?? null,
    oauthClientId: principal?.oauthClientId ?? null,
    userId: principal?.userId ?? null,
    clientName: refusal.clientName ?? null,
    clientVersion: refusal.clientVersion ?? null,
    protocolVersion: refusal.protocolVersion ?? null,
    traceId: requestTraceId(refusal.traceId ?? null),
  };
  if (refusal.audit === "coalesced" && refusal.linkId) deps.refusals.refuse({ ...event, linkId: refusal.linkId });
  else if (refusal.audit === "record" && refusal.link) services.audit.record(refusedRequestEvent(refusal.link, event));
  const error = { code: refusal.code, message: refusal.message, ...(refusal.data === undefined ? {} : { data: refusal.data }) };
  const headers = { ...refusal.headers, ...corsHeaders(req, deps), ...(refusal.closeConnection ? { connection: "close" } : {}) };
  if (!refusal.closeConnection && !req.readableEnded) req.resume();
  sendJson(res, refusal.status, JSON.stringify({ jsonrpc: "2.0", id: refusal.id ?? null, error }), headers);
  if (refusal.closeConnection) req.socket.destroySoon?.();
}
