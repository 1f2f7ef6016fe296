import type { IncomingMessage, ServerResponse } from "node:http";
import type { JSONRPCMessage, JSONRPCRequest, RequestId } from "@modelcontextprotocol/server";
import { authenticateRequest } from "../../auth/authenticate-request.js";
import { bearerToken } from "../../auth/strategy.js";
import type { CallContext, LinkRecord, Principal, ProtocolRevision } from "../../context.js";
import type { DispatchTransport } from "../../mcp/dispatch-transport.js";
import { declaresFormElicitation } from "../../mcp/confirmation.js";
import { answerToolCall, type ConfirmOptions } from "../../mcp/tool-call.js";
import { BodyTooLargeError, readBody } from "../body.js";
import type { HttpDeps } from "../deps.js";
import type { RequestMeta } from "../request-meta.js";
import { LEGACY_VERSIONS, SUPPORTED_VERSIONS, classifyMcpPost, legacyRevision, type LegacyCall, type ModernCall } from "./classify.js";
import { deliverResponses, elicitOnStream } from "./confirm-stream.js";
import { corsHeaders } from "./cors.js";
import { decodeSessionId, encodeSessionId, type SessionInfo } from "./legacy-session.js";
import { authRefusal, edgeRefusal, insufficientScopeRefusal, sendRefusal, type HttpRefusal } from "./refusal.js";
import { SseReply, acceptable, sendReply, statusOf, wantsSse, type Era } from "./respond.js";
import { notedCall, requestTraceId, tracedAuth } from "../../telemetry/index.js";

const SESSION_HEADER = "mcp-session-id";

interface Caller {
  principal: Principal;
  link: LinkRecord;
}

/** Host/Origin first (DNS rebinding), before anything is looked up. */
function hostOriginRefusal(req: IncomingMessage, deps: HttpDeps): HttpRefusal | null {
  if (!deps.hostOrigin.hostAllowed(req.headers)) return { status: 403, code: -32000, message: "Forbidden: Host not allowed", ruleId: "host_not_allowed", reason: "Host not allowed", audit: "none" };
  if (!deps.hostOrigin.originAllowed(req.headers)) return { status: 403, code: -32000, message: "Forbidden: Origin not allowed", ruleId: "origin_not_allowed", reason: "Origin not allowed", audit: "none" };
  return null;
}

/** Steps 1–2 of every method: host/origin, then authentication as a value; refusals answered here. */
async function admit(req: IncomingMessage, res: ServerResponse, deps: HttpDeps, rawLinkId: string, meta: RequestMeta): Promise<Caller | null> {
  const blocked = hostOriginRefusal(req, deps);
  if (blocked) {
    sendRefusal(req, res, deps, meta, blocked);
    return null;
  }
  const auth = await tracedAuth(() => authenticateRequest(deps, { token: bearerToken(req.headers.authorization), rawLinkId, sourceIp: meta.sourceIp }));
  if (!auth.ok) {
    sendRefusal(req, res, deps, meta, authRefusal(deps, auth.failure, rawLinkId));
    return null;
  }
  return auth;
}

export function handleMcpOptions(req: IncomingMessage, res: ServerResponse, deps: HttpDeps): void {
  res.writeHead(204, corsHeaders(req, deps));
  res.end();
}

/** GET opens a server-to-client stream in stateful servers; a stateless gateway has nothing to push. */
export async function handleMcpGet(req: IncomingMessage, res: ServerResponse, deps: HttpDeps, linkId: string, meta: RequestMeta): Promise<void> {
  if (!(await admit(req, res, deps, linkId, meta))) return;
  req.resume();
  if (deps.endedSessions.has(single(req.headers[SESSION_HEADER]))) return sessionNotFound(req, res, deps);
  res.writeHead(405, { "content-type": "application/json", allow: "POST, DELETE", ...corsHeaders(req, deps) });
  res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32000, message: "Method not allowed: this server does not offer a server-to-client stream" } }));
}

/** Ends a 2025-era session: its id is answered 404 from then on, on every instance. */
export async function handleMcpDelete(req: IncomingMessage, res: ServerResponse, deps: HttpDeps, linkId: string, meta: RequestMeta): Promise<void> {
  if (!(await admit(req, res, deps, linkId, meta))) return;
  req.resume();
  const sessionId = single(req.headers[SESSION_HEADER]);
  if (sessionId && deps.endedSessions.has(sessionId)) return sessionNotFound(req, res, deps);
  if (sessionId) deps.endedSessions.end(sessionId);
  res.writeHead(204, corsHeaders(req, deps));
  res.end();
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** 2025 transports: a request bearing a terminated session id MUST be answered 404 (the client re-initializes). */
function sessionNotFound(req: IncomingMessage, res: ServerResponse, deps: HttpDeps, id: RequestId | null = null): void {
  res.writeHead(404, { "content-type": "application/json", ...corsHeaders(req, deps) });
  res.end(JSON.stringify({ jsonrpc: "2.0", id, error: { code: -32001, message: "Session not found: this session was terminated; start a new one with initialize" } }));
}

/**
 * POST /mcp/{linkId}, in the order a request is handled: host/origin → authenticate → content
 * negotiation → read + parse → classify the era → dispatch to the long-lived instance → respond.
 */
export async function handleMcpPost(req: IncomingMessage, res: ServerResponse, deps: HttpDeps, linkId: string, meta: RequestMeta): Promise<void> {
  const caller = await admit(req, res, deps, linkId, meta);
  if (!caller) return;
  const refuse = (status: number, code: number, message: string, ruleId: string, reason: string, extra: Partial<HttpRefusal> = {}) =>
    sendRefusal(req, res, deps, meta, { status, code, message, ruleId, reason, audit: "record", link: caller.link, principal: caller.principal, ...extra });

  const accept = (req.headers.accept ?? "").toLowerCase();
  if (!acceptable(accept)) return refuse(406, -32000, "Not Acceptable: accept application/json or text/event-stream", "not_acceptable", `Accept: ${accept.slice(0, 100)}`);
  const contentType = (req.headers["content-type"] ?? "").toLowerCase();
  if (!contentType.startsWith("application/json")) {
    return refuse(415, -32000, "Unsupported Media Type: Content-Type must be application/json", "unsupported_media_type", `Content-Type: ${contentType.slice(0, 100)}`);
  }

  // The era is decided by the body, so it is read (within the limit) before any version check.
  let raw: string;
  try {
    raw = await readBody(req, deps.maxBodyBytes);
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) throw error;
    return refuse(413, -32000, `Payload Too Large: at most ${deps.maxBodyBytes} bytes`, "body_too_large", error.message, { closeConnection: true });
  }
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return refuse(400, -32700, "Parse error: body is not valid JSON", "parse_error", "body is not JSON");
  }

  const classified = notedCall(req, classifyMcpPost(req.headers, body));
  const cors = corsHeaders(req, deps);
  switch (classified.kind) {
    case "reject": {
      const refusal = edgeRefusal(classified, caller.link, caller.principal);
      const identity = envelopeIdentity(body);
      return sendRefusal(req, res, deps, meta, { ...refusal, clientName: identity.name, clientVersion: identity.version, protocolVersion: identity.revision });
    }
    case "modern-notification":
      res.writeHead(202, cors);
      res.end();
      return;
    case "modern":
      return serveModern(req, res, deps, meta, caller, classified, accept, cors);
    case "legacy":
      return serveLegacy(req, res, deps, meta, caller, classified, accept, cors);
  }
}

/**
 * Client name/version and revision from a (possibly refused) body's envelope, for the refusal's audit
 * event; the revision only when it is one we serve (the event schema takes no other).
 */
function envelopeIdentity(body: unknown): { name: string | null; version: string | null; revision: ProtocolRevision | null } {
  const meta = (body as { params?: { _meta?: Record<string, unknown> } } | null)?.params?._meta;
  const info = meta?.["io.modelcontextprotocol/clientInfo"] as { name?: unknown; version?: unknown } | undefined;
  const name = typeof info?.name === "string" ? info.name.slice(0, 100) : null;
  const version = typeof info?.version === "string" ? info.version.slice(0, 50) : null;
  const claimed = meta?.["io.modelcontextprotocol/protocolVersion"];
  const revision = typeof claimed === "string" && SUPPORTED_VERSIONS.includes(claimed) ? (claimed as ProtocolRevision) : null;
  return { name, version, revision };
}

function callContext(meta: RequestMeta, caller: Caller, fields: Pick<CallContext, "clientName" | "clientVersion" | "protocolVersion" | "traceId">): CallContext {
  return {
    requestId: meta.requestId,
    principal: caller.principal,
    link: caller.link,
    clientName: fields.clientName ?? caller.principal.clientName?.slice(0, 100) ?? null,
    clientVersion: fields.clientVersion,
    protocolVersion: fields.protocolVersion,
    traceId: requestTraceId(fields.traceId),
    sourceIp: meta.sourceIp,
  };
}

async function serveModern(
  req: IncomingMessage,
  res: ServerResponse,
  deps: HttpDeps,
  meta: RequestMeta,
  caller: Caller,
  call: ModernCall,
  accept: string,
  cors: Record<string, string>,
): Promise<void> {
  if (call.message.method === "subscriptions/listen") {
    // Not offered (design §2.14 risk 6): a long-lived stream would outlive a revoked key, and nothing
    // here pushes change notifications (listChanged is false; lists carry ttlMs instead).
    return sendRefusal(req, res, deps, meta, {
      status: 404,
      code: -32601,
      message: "Method not found: subscriptions/listen is not offered; this server sends no change notifications (tool and resource lists carry ttlMs)",
      id: call.message.id,
      ruleId: "method_not_offered",
      reason: "subscriptions/listen",
      audit: "none",
    });
  }
  const ctx = callContext(meta, caller, { ...call.identity, protocolVersion: call.protocolVersion });
  await dispatch(req, res, deps, caller, deps.mcp.modern, [call.message], false, ctx, "modern", accept, cors, meta);
}

async function serveLegacy(
  req: IncomingMessage,
  res: ServerResponse,
  deps: HttpDeps,
  meta: RequestMeta,
  caller: Caller,
  call: LegacyCall,
  accept: string,
  cors: Record<string, string>,
): Promise<void> {
  const requests = call.messages.filter((m): m is JSONRPCRequest => "method" in m && "id" in m && m.id !== undefined);
  const initialize = requests.find((m) => m.method === "initialize");
  const sessionId = single(req.headers[SESSION_HEADER]);
  if (!initialize && deps.endedSessions.has(sessionId)) {
    const first = requests[0];
    return sessionNotFound(req, res, deps, call.batch || !first ? null : (first.id as RequestId));
  }
  let session: SessionInfo = decodeSessionId(sessionId);
  const headers: Record<string, string> = { ...cors };
  if (initialize) {
    const params = initialize.params as { protocolVersion?: unknown; clientInfo?: { name?: unknown; version?: unknown }; capabilities?: unknown } | undefined;
    const name = typeof params?.clientInfo?.name === "string" ? params.clientInfo.name : undefined;
    const version = typeof params?.clientInfo?.version === "string" ? params.clientInfo.version : undefined;
    const requested = typeof params?.protocolVersion === "string" ? params.protocolVersion : "";
    const negotiated = (LEGACY_VERSIONS as readonly string[]).includes(requested) ? requested : LEGACY_VERSIONS[0];
    const elicitation = declaresFormElicitation(params?.capabilities);
    headers[SESSION_HEADER] = encodeSessionId(name, version, negotiated, elicitation);
    session = { clientName: name?.slice(0, 100) ?? null, clientVersion: version?.slice(0, 50) ?? null, protocolVersion: negotiated, ...(elicitation ? { elicitation: true as const } : {}) };
  }
  if (requests.length === 0) {
    // Answers to our confirmation questions go to the call waiting for them (here or on another
    // instance), and only from the key that call belongs to.
    const refused = await deliverResponses(deps.confirmations, { linkId: caller.link.id, subject: caller.principal.subject }, call.messages);
    if (refused) return sendRefusal(req, res, deps, meta, { ...refused, audit: "record", link: caller.link, principal: caller.principal });
    // Notifications and other responses: accepted, nothing to answer. Client notifications are not
    // forwarded: cancellations name ids of other requests that a stateless server cannot map.
    res.writeHead(202, headers);
    res.end();
    return;
  }
  const ctx = callContext(meta, caller, {
    clientName: session.clientName,
    clientVersion: session.clientVersion,
    protocolVersion: legacyRevision(call.headerVersion, session.protocolVersion),
    traceId: null,
  });
  await dispatch(req, res, deps, caller, deps.mcp.legacy, requests, call.batch, ctx, "legacy", accept, headers, meta, session.elicitation === true);
}



/**
 * Hands the requests to an instance and answers. A client that goes away before its answer cancels
 * its requests (2026-07-28: closing the response stream is cancellation; the statement is cancelled).
 */
async function dispatch(
  req: IncomingMessage,
  res: ServerResponse,
  deps: HttpDeps,
  caller: Caller,
  wire: DispatchTransport,
  requests: JSONRPCRequest[],
  batch: boolean,
  ctx: CallContext,
  era: Era,
  accept: string,
  headers: Record<string, string>,
  meta: RequestMeta,
  elicitation = false,
): Promise<void> {
  let sse = wantsSse(accept) ? new SseReply(res, headers) : null;
  const confirm: ConfirmOptions = { broker: deps.confirmations };
  // 2025: a question can only reach the client on this call's own stream — a single request whose
  // client declared elicitation and accepts SSE. Batches and JSON-only clients confirm in the dashboard.
  if (era === "legacy" && elicitation && !batch && deps.confirmations && accept.includes("text/event-stream")) {
    const owner = { linkId: caller.link.id, subject: caller.principal.subject };
    confirm.elicit = elicitOnStream(deps.confirmations, owner, () => (sse ??= new SseReply(res, headers)));
  }
  const inFlight = requests.map((m): { response: Promise<JSONRPCMessage>; cancel(): void } => {
    if (m.method === "tools/call") {
      // Each call gets its own context (its own signal and step-up outcome) even inside a batch.
      const controller = new AbortController();
      const own: CallContext = { ...ctx, signal: controller.signal };
      const response = answerToolCall(deps.services, own, m, era === "modern", confirm).then((answer) => {
        if (own.insufficientScope) ctx.insufficientScope = own.insufficientScope;
        return answer;
      });
      return { response, cancel: () => controller.abort() };
    }
    const stream = sse;
    const dispatched = wire.request(m as JSONRPCRequest & { id: RequestId }, ctx, stream ? (n) => stream.write(n) : undefined);
    return { response: dispatched.response, cancel: () => wire.cancel(dispatched.internalId) };
  });
  const onClose = () => {
    if (!res.writableFinished) for (const d of inFlight) d.cancel();
  };
  res.once("close", onClose);
  const responses = await Promise.all(inFlight.map((d) => d.response));
  res.off("close", onClose);
  if (res.writableEnded || res.destroyed) return;
  // A batch is answered item by item (found by attack: a 403 for the whole batch hid a write of the same
  // batch that had committed, and a retry would apply it twice); its refused call carries stepUpScopes.
  if (ctx.insufficientScope?.length && !sse?.started && !batch) {
    const id = batch ? null : ((responses[0] as { id?: RequestId }).id ?? null);
    return sendRefusal(req, res, deps, meta, insufficientScopeRefusal(deps, caller.link, ctx.insufficientScope, id));
  }
  const status = batch ? 200 : statusOf(responses[0]!, era);
  if (sse) {
    for (const r of responses) sse.write(r, status);
    sse.end();
    return;
  }
  sendReply(res, status, batch ? (responses as JSONRPCMessage[]) : responses[0]!, headers);
}
