import type { IncomingMessage, ServerResponse } from "node:http";
import {
  ErrorCode,
  InitializeRequestSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCMessage,
  type RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import { bearerToken } from "../auth/strategy.js";
import { UUID } from "../links/link-store.js";
import type { CallContext, LinkRecord, Principal } from "../context.js";
import { decodeSessionId, encodeSessionId } from "../mcp/session.js";
import { BodyTooLargeError, readBody } from "./body.js";
import type { HttpDeps } from "./deps.js";
import { jsonRpcError, sendJson } from "./respond.js";

export interface RequestMeta {
  requestId: string;
  sourceIp: string | null;
}

const SESSION_HEADER = "mcp-session-id";
/** Batches (protocol versions up to 2025-03-26) are bounded: each message may run a statement. */
const MAX_BATCH = 32;
const CORS_HEADERS = {
  "access-control-allow-methods": "POST, GET, DELETE, OPTIONS",
  "access-control-allow-headers": "authorization, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id",
  "access-control-expose-headers": "mcp-session-id, www-authenticate, x-request-id",
  "access-control-max-age": "600",
};

function corsHeaders(req: IncomingMessage, deps: HttpDeps): Record<string, string> {
  const origin = req.headers.origin;
  if (!origin || !deps.hostOrigin.originAllowed(req.headers)) return {};
  return { "access-control-allow-origin": origin, vary: "origin", ...CORS_HEADERS };
}

export function resourceMetadataUrl(deps: HttpDeps, linkId: string): string {
  return `${deps.publicUrl}/.well-known/oauth-protected-resource/mcp/${encodeURIComponent(linkId)}`;
}

/** Records a refused request when the link is known (audit events belong to a team). */
function auditRefusal(deps: HttpDeps, meta: RequestMeta, link: LinkRecord | null, principal: Principal | null, ruleId: string, reason: string): void {
  deps.services.metrics.refused.inc({ reason: ruleId });
  deps.services.logger.info({ requestId: meta.requestId, linkId: link?.id, ruleId }, "request refused");
  if (!link) return; // unknown link: no team to file it under; counted in metrics and logged
  deps.services.audit.record({
    teamId: link.teamId,
    kind: "request_refused",
    linkId: link.id,
    apiKeyId: principal?.apiKeyId ?? null,
    oauthClientId: principal?.oauthClientId ?? null,
    userId: principal?.userId ?? null,
    verdict: "blocked",
    ruleId,
    reason,
    sourceIp: meta.sourceIp,
    requestId: meta.requestId,
  });
}

/**
 * The one answer for every authentication failure: unknown link, missing/malformed/unknown/revoked/
 * expired key, key of another link. Same status, headers and body, so nothing tells them apart.
 */
function sendUnauthorized(res: ServerResponse, req: IncomingMessage, deps: HttpDeps, linkId: string): void {
  sendJson(res, 401, jsonRpcError(-32001, "Unauthorized: a valid bearer token for this link is required"), {
    "www-authenticate": `Bearer resource_metadata="${resourceMetadataUrl(deps, linkId)}"`,
    ...corsHeaders(req, deps),
  });
}

interface Authorized {
  principal: Principal;
  link: LinkRecord;
}

/**
 * Refusals anyone can cause without a valid credential: counted in metrics and audited once per source,
 * link, rule and minute with a count (RefusalCoalescer), never one row per request.
 */
function coalescedRefusal(deps: HttpDeps, meta: RequestMeta, linkId: string, principal: Principal | null, ruleId: string, reason: string): void {
  deps.services.metrics.refused.inc({ reason: ruleId });
  deps.refusals.refuse({
    linkId,
    sourceIp: meta.sourceIp,
    ruleId,
    reason,
    requestId: meta.requestId,
    apiKeyId: principal?.apiKeyId ?? null,
    oauthClientId: principal?.oauthClientId ?? null,
    userId: principal?.userId ?? null,
  });
}

function sendTooMany(req: IncomingMessage, res: ServerResponse, deps: HttpDeps, waitMs: number, message: string): void {
  sendJson(res, 429, jsonRpcError(-32000, message), {
    "retry-after": String(Math.max(1, Math.ceil(waitMs / 1000))),
    ...corsHeaders(req, deps),
  });
}

async function authorize(req: IncomingMessage, res: ServerResponse, deps: HttpDeps, rawLinkId: string, meta: RequestMeta): Promise<Authorized | null> {
  const token = bearerToken(req.headers.authorization);
  // Before any lookup: the source's request rate and its failed authentications (all instances).
  const source = deps.preAuth.checkSource(meta.sourceIp);
  if (source) {
    sendTooMany(req, res, deps, source.waitMs, "Too many requests from this address; slow down");
    if (UUID.test(rawLinkId)) coalescedRefusal(deps, meta, rawLinkId.toLowerCase(), null, source.ruleId, source.reason);
    return null;
  }
  // The path's link id is parsed before it names a counter, a cache entry or an audit tally: anything
  // but a UUID is no link (answered as one, counted against the source only).
  if (!UUID.test(rawLinkId)) {
    deps.preAuth.authenticationFailed(meta.sourceIp, null);
    sendUnauthorized(res, req, deps, rawLinkId);
    return null;
  }
  const linkId = rawLinkId.toLowerCase();
  // A link that many sources fail on accepts, until the minute ends, only credentials this instance has
  // already verified: its members keep working while random keys cost no lookup at all.
  const attacked = deps.preAuth.linkUnderAttack(linkId);
  const principal = attacked > 0 ? deps.authenticator.peek(token, linkId) : await deps.authenticator.authenticate(token, linkId);
  if (!principal && attacked > 0) {
    coalescedRefusal(deps, meta, linkId, null, "auth_failures_link", "too many failed authentications on this link; only credentials already verified are accepted for now");
    sendTooMany(req, res, deps, attacked, "Too many failed authentications on this link; try again later");
    return null;
  }
  const link = await deps.links.get(linkId);
  if (!principal || !link || link.status !== "active" || principal.linkId !== link.id || principal.teamId !== link.teamId) {
    deps.preAuth.authenticationFailed(meta.sourceIp, linkId);
    const reason = !token ? "no bearer token" : "invalid, revoked or expired credentials, or a disabled link";
    coalescedRefusal(deps, meta, linkId, null, "unauthenticated", reason);
    deps.services.logger.info({ requestId: meta.requestId, linkId: link?.id, ruleId: "unauthenticated" }, "request refused");
    sendUnauthorized(res, req, deps, linkId);
    return null;
  }
  const wait = deps.rateLimiter.check(principal.subject);
  if (wait > 0) {
    coalescedRefusal(deps, meta, link.id, principal, "rate_limited", "per-key rate limit exceeded");
    sendTooMany(req, res, deps, wait, "Too many requests for this key; slow down");
    return null;
  }
  if (principal.apiKeyId) deps.lastUsed.touch(principal.apiKeyId);
  return { principal, link };
}

function checkHostOrigin(req: IncomingMessage, res: ServerResponse, deps: HttpDeps): boolean {
  if (!deps.hostOrigin.hostAllowed(req.headers)) {
    deps.services.metrics.refused.inc({ reason: "host_not_allowed" });
    sendJson(res, 403, jsonRpcError(-32000, "Forbidden: Host not allowed"));
    return false;
  }
  if (!deps.hostOrigin.originAllowed(req.headers)) {
    deps.services.metrics.refused.inc({ reason: "origin_not_allowed" });
    sendJson(res, 403, jsonRpcError(-32000, "Forbidden: Origin not allowed"));
    return false;
  }
  return true;
}

export function handleMcpOptions(req: IncomingMessage, res: ServerResponse, deps: HttpDeps): void {
  res.writeHead(204, corsHeaders(req, deps));
  res.end();
}

/** GET opens a server-to-client stream in stateful servers; a stateless gateway has nothing to push. */
export async function handleMcpGet(req: IncomingMessage, res: ServerResponse, deps: HttpDeps, linkId: string, meta: RequestMeta): Promise<void> {
  if (!checkHostOrigin(req, res, deps)) return;
  if (!(await authorize(req, res, deps, linkId, meta))) return;
  sendJson(res, 405, jsonRpcError(-32000, "Method not allowed: this server does not offer a server-to-client stream"), {
    allow: "POST, DELETE",
    ...corsHeaders(req, deps),
  });
}

/** Sessions hold no server state, so ending one has nothing to release. */
export async function handleMcpDelete(req: IncomingMessage, res: ServerResponse, deps: HttpDeps, linkId: string, meta: RequestMeta): Promise<void> {
  if (!checkHostOrigin(req, res, deps)) return;
  if (!(await authorize(req, res, deps, linkId, meta))) return;
  res.writeHead(204, corsHeaders(req, deps));
  res.end();
}

type RequestMessage = JSONRPCMessage & { id: RequestId; method: string; params?: Record<string, unknown> };

function isJsonRpcMessage(value: unknown): value is JSONRPCMessage {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const m = value as Record<string, unknown>;
  if (m.jsonrpc !== "2.0") return false;
  const idOk = m.id === undefined || typeof m.id === "string" || (typeof m.id === "number" && Number.isInteger(m.id));
  if (!idOk) return false;
  if (typeof m.method === "string") return m.params === undefined || (typeof m.params === "object" && m.params !== null);
  return m.id !== undefined && ("result" in m || "error" in m);
}

function isRequest(message: JSONRPCMessage): message is RequestMessage {
  return "method" in message && "id" in message && message.id !== undefined;
}

export async function handleMcpPost(req: IncomingMessage, res: ServerResponse, deps: HttpDeps, linkId: string, meta: RequestMeta): Promise<void> {
  if (!checkHostOrigin(req, res, deps)) return;
  const cors = corsHeaders(req, deps);

  const auth = await authorize(req, res, deps, linkId, meta);
  if (!auth) {
    req.resume();
    return;
  }

  const accept = (req.headers.accept ?? "").toLowerCase();
  const acceptsJson = accept.includes("application/json") || accept.includes("*/*") || accept === "";
  const acceptsSse = accept.includes("text/event-stream");
  if (!acceptsJson && !acceptsSse) {
    req.resume();
    auditRefusal(deps, meta, auth.link, auth.principal, "not_acceptable", `Accept: ${accept.slice(0, 100)}`);
    sendJson(res, 406, jsonRpcError(-32000, "Not Acceptable: accept application/json or text/event-stream"), cors);
    return;
  }
  const contentType = (req.headers["content-type"] ?? "").toLowerCase();
  if (!contentType.startsWith("application/json")) {
    req.resume();
    auditRefusal(deps, meta, auth.link, auth.principal, "unsupported_media_type", `Content-Type: ${contentType.slice(0, 100)}`);
    sendJson(res, 415, jsonRpcError(-32000, "Unsupported Media Type: Content-Type must be application/json"), cors);
    return;
  }
  const version = req.headers["mcp-protocol-version"];
  if (typeof version === "string" && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
    req.resume();
    auditRefusal(deps, meta, auth.link, auth.principal, "unsupported_protocol_version", `MCP-Protocol-Version ${version.slice(0, 40)}`);
    sendJson(
      res,
      400,
      jsonRpcError(-32000, `Bad Request: unsupported protocol version ${version.slice(0, 40)} (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})`),
      cors,
    );
    return;
  }

  let raw: string;
  try {
    raw = await readBody(req, deps.maxBodyBytes);
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      auditRefusal(deps, meta, auth.link, auth.principal, "body_too_large", error.message);
      sendJson(res, 413, jsonRpcError(-32000, `Payload Too Large: at most ${deps.maxBodyBytes} bytes`), { connection: "close", ...cors });
      // Stop reading the rest of an oversized upload.
      req.socket.destroySoon?.();
      return;
    }
    throw error;
  }

  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    auditRefusal(deps, meta, auth.link, auth.principal, "parse_error", "body is not JSON");
    sendJson(res, 400, jsonRpcError(ErrorCode.ParseError, "Parse error: body is not valid JSON"), cors);
    return;
  }
  const batch = Array.isArray(body);
  const items = batch ? (body as unknown[]) : [body];
  const messages: JSONRPCMessage[] = [];
  for (const item of items) {
    // A structural check only: the SDK validates each message against its schema when it handles it,
    // and a second zod pass here measured as a visible share of the per-call CPU.
    if (!isJsonRpcMessage(item)) {
      auditRefusal(deps, meta, auth.link, auth.principal, "invalid_request", "not a JSON-RPC 2.0 message");
      sendJson(res, 400, jsonRpcError(ErrorCode.InvalidRequest, "Invalid Request: not a JSON-RPC 2.0 message"), cors);
      return;
    }
    messages.push(item);
  }
  if (messages.length === 0 || messages.length > MAX_BATCH) {
    const reason = messages.length === 0 ? "empty batch" : `more than ${MAX_BATCH} messages in one batch`;
    auditRefusal(deps, meta, auth.link, auth.principal, "invalid_request", reason);
    sendJson(res, 400, jsonRpcError(ErrorCode.InvalidRequest, `Invalid Request: ${reason}`), cors);
    return;
  }

  const requests = messages.filter(isRequest);
  const initialize = requests.find((m) => m.method === "initialize");
  let session = decodeSessionId(req.headers[SESSION_HEADER] as string | undefined);
  const headers: Record<string, string> = { ...cors };
  if (initialize) {
    const parsed = InitializeRequestSchema.safeParse(initialize);
    const clientInfo = parsed.success ? parsed.data.params.clientInfo : undefined;
    headers[SESSION_HEADER] = encodeSessionId(clientInfo?.name, clientInfo?.version);
    session = { clientName: clientInfo?.name?.slice(0, 100) ?? null, clientVersion: clientInfo?.version?.slice(0, 50) ?? null };
  }

  if (requests.length === 0) {
    // Notifications and responses only: accepted, nothing to answer. Client notifications are not
    // forwarded: cancellations name ids of other requests that a stateless server cannot map.
    res.writeHead(202, headers);
    res.end();
    return;
  }

  const ctx: CallContext = {
    requestId: meta.requestId,
    principal: auth.principal,
    link: auth.link,
    clientName: session.clientName ?? auth.principal.clientName?.slice(0, 100) ?? null,
    clientVersion: session.clientVersion,
    protocolVersion: null,
    traceId: null,
    sourceIp: meta.sourceIp,
  };
  const authInfo = {
    token: auth.principal.subject,
    clientId: auth.principal.oauthClientId ?? auth.principal.apiKeyId ?? "internal",
    scopes: [],
    extra: { ctx },
  };

  const useSse = !acceptsJson || (acceptsSse && !accept.includes("application/json"));
  if (useSse) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", ...headers });
    const write = (message: JSONRPCMessage) => {
      if (!res.writableEnded) res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
    };
    await Promise.all(requests.map((m) => deps.transport.request(m, authInfo, write).then(write)));
    res.end();
    return;
  }

  const responses = await Promise.all(requests.map((m) => deps.transport.request(m, authInfo)));
  if (res.writableEnded || res.destroyed) return;
  sendJson(res, 200, JSON.stringify(batch ? responses : responses[0]), headers);
}
