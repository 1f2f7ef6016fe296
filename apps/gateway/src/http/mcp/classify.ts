import { classifyInboundRequest, type JSONRPCMessage, type JSONRPCRequest, type RequestId } from "@modelcontextprotocol/server";
import type { ProtocolRevision } from "../../context.js";

export const MODERN_VERSION = "2026-07-28";
export const LEGACY_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;
export type LegacyVersion = (typeof LEGACY_VERSIONS)[number];
export const SUPPORTED_VERSIONS: readonly string[] = [MODERN_VERSION, ...LEGACY_VERSIONS];
/** Batches (protocol versions up to 2025-03-26) are bounded: each message may run a statement. */
export const MAX_BATCH = 32;

export const HEADER_MISMATCH = -32020;
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;

/** Self-reported by the client on each modern request; audit only, never a decision. */
export interface RequestIdentity {
  clientName: string | null;
  clientVersion: string | null;
  traceId: string | null;
}

/** A 2026-07-28 request, checked at the edge, for the modern instance. */
export interface ModernCall {
  kind: "modern";
  message: JSONRPCRequest;
  protocolVersion: typeof MODERN_VERSION;
  identity: RequestIdentity;
}

/** A modern notification: nothing to dispatch (the revision defines no client notifications over HTTP). */
export interface ModernNotification {
  kind: "modern-notification";
}

/** 2025-era traffic for the legacy instance: one message or a batch. */
export interface LegacyCall {
  kind: "legacy";
  messages: JSONRPCMessage[];
  batch: boolean;
  /** The MCP-Protocol-Version header when it named a supported 2025 revision. */
  headerVersion: LegacyVersion | null;
}

/** A request refused at the edge: the HTTP status, the JSON-RPC error, and the rule for audit. */
export interface EdgeRejection {
  kind: "reject";
  httpStatus: number;
  code: number;
  message: string;
  data?: unknown;
  ruleId: "header_mismatch" | "invalid_envelope" | "unsupported_protocol_version" | "invalid_request";
  /** The request's id when the body had a usable one (the error then answers it). */
  id: RequestId | null;
}

export type Classified = ModernCall | ModernNotification | LegacyCall | EdgeRejection;

/** Lower-cased request headers (node:http's IncomingHttpHeaders fits). */
export type InboundHeaders = Record<string, string | string[] | undefined>;

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);
/** Where `Mcp-Name` comes from in the body (SEP-2243, the methods this server has or may have). */
const NAME_SOURCE: Record<string, "name" | "uri"> = { "tools/call": "name", "prompts/get": "name", "resources/read": "uri" };
const BASE64_SENTINEL = /^=\?base64\?(.*)\?=$/s;
const BASE64_CANONICAL = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function bodyId(body: unknown): RequestId | null {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return null;
  const id = (body as { id?: unknown }).id;
  return typeof id === "string" || (typeof id === "number" && Number.isInteger(id)) ? id : null;
}

function reject(ruleId: EdgeRejection["ruleId"], httpStatus: number, code: number, message: string, id: RequestId | null, data?: unknown): EdgeRejection {
  return { kind: "reject", httpStatus, code, message, id, ruleId, ...(data === undefined ? {} : { data }) };
}

function unsupportedVersion(requested: string, supported: readonly string[], id: RequestId | null): EdgeRejection {
  const shown = requested.slice(0, 40);
  return reject(
    "unsupported_protocol_version",
    400,
    UNSUPPORTED_PROTOCOL_VERSION,
    `Unsupported protocol version: ${shown} (supported: ${supported.join(", ")})`,
    id,
    { supported: [...supported], requested: shown },
  );
}

function mismatch(message: string, header: string, id: RequestId | null): EdgeRejection {
  return reject("header_mismatch", 400, HEADER_MISMATCH, `Bad Request: the request headers and body disagree: ${message}`, id, { mismatch: { header: header.slice(0, 200), body: message } });
}

/** `Mcp-Name` as the client meant it: OWS stripped, a Base64 sentinel decoded; undefined when the sentinel is invalid. */
export function decodeMcpName(raw: string): string | undefined {
  const value = raw.replace(/^[ \t]+|[ \t]+$/g, "");
  const sentinel = BASE64_SENTINEL.exec(value);
  if (!sentinel) return value;
  const b64 = sentinel[1]!;
  if (!BASE64_CANONICAL.test(b64)) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(b64, "base64"));
  } catch {
    return undefined;
  }
}

/**
 * The presence and `Mcp-Name` half of the standard-header rung, which the SDK keeps internal
 * (core-internal `shared/inboundClassification.ts`, `validateStandardRequestHeaders`): the classifier
 * routes by the body alone, so a proxy stripping a header cannot change the era, and this refuses to
 * serve a request whose headers are missing or disagree — what a router or WAF saw must be what runs.
 */
function checkStandardHeaders(message: JSONRPCRequest, headers: InboundHeaders): EdgeRejection | null {
  const id = message.id;
  if (single(headers["mcp-protocol-version"]) === undefined) return mismatch("the required MCP-Protocol-Version header is absent", "(missing)", id);
  if (single(headers["mcp-method"]) === undefined) return mismatch(`the body names method ${message.method} but the required Mcp-Method header is absent`, "(missing)", id);
  const field = Object.hasOwn(NAME_SOURCE, message.method) ? NAME_SOURCE[message.method] : undefined;
  if (!field) return null;
  const raw = (message.params as Record<string, unknown> | undefined)?.[field];
  const bodyValue = typeof raw === "string" ? raw : undefined;
  const header = single(headers["mcp-name"]);
  if (header === undefined) return bodyValue === undefined ? null : mismatch(`the body carries params.${field} but the required Mcp-Name header is absent`, "(missing)", id);
  const decoded = decodeMcpName(header);
  if (decoded === undefined) return mismatch("the Mcp-Name header carries an invalid Base64 sentinel value", header, id);
  if (bodyValue !== undefined && decoded !== bodyValue) return mismatch(`params.${field} and the Mcp-Name header name different ${field === "uri" ? "resources" : "targets"}`, header, id);
  return null;
}

/**
 * 2025 revisions define no Mcp-Method/Mcp-Name, but when a client (or a proxy) sends them they must agree
 * with the body as on 2026-07-28: a router or WAF that filters on them must not be bypassed by sending a
 * 2025-shaped body (found by attack: `Mcp-Method: tools/list` over a tools/call ran the SQL). A batch has
 * no single method or name, so it carries neither.
 */
function checkLegacyHeaders(messages: JSONRPCMessage[], batch: boolean, headers: InboundHeaders): EdgeRejection | null {
  const methodHeader = single(headers["mcp-method"]);
  const nameHeader = single(headers["mcp-name"]);
  if (methodHeader === undefined && nameHeader === undefined) return null;
  if (batch) return mismatch("a batch names several methods, so it carries no Mcp-Method or Mcp-Name header", methodHeader ?? nameHeader ?? "", null);
  const message = messages[0]!;
  if (!("method" in message)) return mismatch("the body is a response, which names no method", methodHeader ?? nameHeader ?? "", null);
  const id = "id" in message && message.id !== undefined ? message.id : null;
  if (methodHeader !== undefined && methodHeader !== message.method) return mismatch(`the Mcp-Method header names ${methodHeader.slice(0, 100)} but the body calls ${message.method}`, methodHeader, id);
  if (nameHeader === undefined) return null;
  const field = Object.hasOwn(NAME_SOURCE, message.method) ? NAME_SOURCE[message.method] : undefined;
  const raw = field ? (message.params as Record<string, unknown> | undefined)?.[field] : undefined;
  const decoded = decodeMcpName(nameHeader);
  if (decoded === undefined || typeof raw !== "string" || decoded !== raw) return mismatch("the Mcp-Name header and the body name different targets", nameHeader, id);
  return null;
}

function text(value: unknown, max: number): string | null {
  return typeof value === "string" && value.length > 0 ? value.slice(0, max) : null;
}

/** Client name/version from the request's own envelope and a valid W3C trace id, if any. */
function identityOf(message: JSONRPCRequest): RequestIdentity {
  const meta = (message.params as { _meta?: Record<string, unknown> } | undefined)?._meta ?? {};
  const info = meta["io.modelcontextprotocol/clientInfo"] as { name?: unknown; version?: unknown } | undefined;
  const trace = typeof meta.traceparent === "string" ? TRACEPARENT.exec(meta.traceparent) : null;
  return {
    clientName: text(info?.name, 100),
    clientVersion: text(info?.version, 50),
    traceId: trace && trace[1] !== ZERO_TRACE && trace[2] !== ZERO_SPAN ? trace[1]! : null,
  };
}

function isJsonRpcMessage(value: unknown): value is JSONRPCMessage {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const m = value as Record<string, unknown>;
  if (m.jsonrpc !== "2.0") return false;
  const idOk = m.id === undefined || typeof m.id === "string" || (typeof m.id === "number" && Number.isInteger(m.id));
  if (!idOk) return false;
  if (typeof m.method === "string") return m.params === undefined || (typeof m.params === "object" && m.params !== null && !Array.isArray(m.params));
  return m.id !== undefined && ("result" in m || "error" in m);
}

const PLAIN_LEGACY: ReturnType<typeof classifyInboundRequest> = { kind: "legacy", reason: "no-claim" };

const REQUEST_KEYS = new Set(["jsonrpc", "id", "method", "params"]);

/**
 * The SDK's answer for the common 2025 call, without asking it: a body that its strict JSON-RPC request
 * schema accepts (only these four keys, jsonrpc "2.0", a string or safe-integer id, a string method,
 * params absent or an object) — so no result/error key —, that is not `initialize`, whose params carry
 * no `_meta` (so no envelope claim) and whose version header is absent or exactly a 2025 revision: for
 * such a body classifyInboundRequest can only answer legacy/no-claim. It first tries the body as a
 * result and as an error response, and then as a request (three zod parses, two failing, whose error
 * objects were ~3% of the gateway's CPU per call). Anything else — any doubt — still goes to it.
 */
export function plainLegacyRequest(versionHeader: string | undefined, body: unknown): boolean {
  if (versionHeader !== undefined && !(LEGACY_VERSIONS as readonly string[]).includes(versionHeader)) return false;
  if (typeof body !== "object" || body === null || Array.isArray(body) || Object.getPrototypeOf(body) !== Object.prototype) return false;
  const { jsonrpc, id, method, params } = body as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };
  if (jsonrpc !== "2.0" || typeof method !== "string" || method === "initialize") return false;
  if (typeof id !== "string" && !Number.isSafeInteger(id)) return false;
  if (params !== undefined && (typeof params !== "object" || params === null || Array.isArray(params) || Object.getPrototypeOf(params) !== Object.prototype || "_meta" in params)) return false;
  for (const key of Object.keys(body)) if (!REQUEST_KEYS.has(key)) return false;
  return true;
}

/**
 * `_meta` envelopes (as JSON text) the SDK's classifier accepted on a 2026-07-28 request. A client sends
 * the same envelope with every call; validating it (the SDK parses the body as a result and as an error
 * response first, both failing, then as a request, then the envelope) was ~8 µs per call. Bounded;
 * dropped wholesale when full.
 */
const acceptedEnvelopes = new Set<string>();
const MAX_ENVELOPES = 512;
const MAX_ENVELOPE_CHARS = 2048;
const PROTOCOL_VERSION_KEY = "io.modelcontextprotocol/protocolVersion";

/** Forgets every accepted envelope (tests compare the fast answer with the SDK's own). */
export function forgetAcceptedEnvelopes(): void {
  acceptedEnvelopes.clear();
}

function plainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * The `_meta` of a body that has exactly the shape for which classifyInboundRequest's answer depends on
 * nothing but that `_meta`: a strict JSON-RPC request (the four keys, jsonrpc "2.0", a string or
 * safe-integer id, a string method other than `initialize`), object params whose `_meta` claims exactly
 * 2026-07-28, sent with exactly that MCP-Protocol-Version header and an Mcp-Method header equal to the
 * method (no whitespace to strip). For such a body the SDK's answer is modern/request when the `_meta`
 * passes its request-meta and envelope schemas, which depend on the `_meta` alone. Undefined otherwise.
 */
export function modernEnvelopeOf(versionHeader: string | undefined, methodHeader: string | undefined, body: unknown): Record<string, unknown> | undefined {
  if (versionHeader !== MODERN_VERSION || !plainObject(body)) return undefined;
  const { jsonrpc, id, method, params } = body as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };
  if (jsonrpc !== "2.0" || typeof method !== "string" || method === "initialize" || methodHeader !== method) return undefined;
  if (typeof id !== "string" && !Number.isSafeInteger(id)) return undefined;
  if (!plainObject(params) || !plainObject(params._meta) || params._meta[PROTOCOL_VERSION_KEY] !== MODERN_VERSION) return undefined;
  for (const key of Object.keys(body)) if (!REQUEST_KEYS.has(key)) return undefined;
  return params._meta;
}

/** The envelope's key in acceptedEnvelopes: its JSON text (bodies come from JSON.parse, so the text is the value). */
function envelopeKey(meta: Record<string, unknown> | undefined): string | undefined {
  if (!meta) return undefined;
  const text = JSON.stringify(meta);
  return text.length <= MAX_ENVELOPE_CHARS ? text : undefined;
}

/**
 * Decides the era of one parsed POST body and applies every edge rule of 2026-07-28 (design §2.3),
 * returning a value; the endpoint turns rejections into HTTP through the one refusal mapper.
 */
export function classifyMcpPost(headers: InboundHeaders, body: unknown): Classified {
  const versionHeader = single(headers["mcp-protocol-version"]);
  const methodHeader = single(headers["mcp-method"]);
  const envelope = versionHeader === MODERN_VERSION ? envelopeKey(modernEnvelopeOf(versionHeader, methodHeader, body)) : undefined;
  const outcome =
    envelope !== undefined && acceptedEnvelopes.has(envelope)
      ? ({ kind: "modern", messageKind: "request", message: body as JSONRPCRequest, classification: { era: "modern", revision: MODERN_VERSION } } as const)
      : plainLegacyRequest(versionHeader, body)
        ? PLAIN_LEGACY
        : classifyInboundRequest({
            httpMethod: "POST",
            protocolVersionHeader: versionHeader,
            mcpMethodHeader: methodHeader,
            mcpNameHeader: single(headers["mcp-name"]),
            body,
          });
  if (envelope !== undefined && outcome.kind === "modern" && outcome.messageKind === "request" && !acceptedEnvelopes.has(envelope)) {
    if (acceptedEnvelopes.size >= MAX_ENVELOPES) acceptedEnvelopes.clear();
    acceptedEnvelopes.add(envelope);
  }
  if (outcome.kind === "reject") {
    const id = bodyId(body);
    // A 2025-shaped body with a version header we do not know: -32022 listing every revision we
    // serve, so a dual-era client recognises a modern server instead of falling back (spec: a 400 whose
    // body is not a recognised modern error means "legacy only").
    if (outcome.cell === "modern-header-without-claim" && versionHeader !== undefined && !SUPPORTED_VERSIONS.includes(versionHeader)) {
      return unsupportedVersion(versionHeader, SUPPORTED_VERSIONS, id);
    }
    const ruleId = outcome.code === HEADER_MISMATCH ? "header_mismatch" : outcome.code === UNSUPPORTED_PROTOCOL_VERSION ? "unsupported_protocol_version" : outcome.rung === "envelope" ? "invalid_envelope" : "invalid_request";
    return reject(ruleId, outcome.httpStatus, outcome.code, outcome.message, id, outcome.data);
  }
  if (outcome.kind === "modern") {
    if (outcome.messageKind === "notification") return { kind: "modern-notification" };
    const message = outcome.message;
    const requested = (message.params as { _meta?: Record<string, unknown> })._meta?.["io.modelcontextprotocol/protocolVersion"];
    if (requested !== MODERN_VERSION) return unsupportedVersion(String(requested), [MODERN_VERSION], message.id);
    const refused = checkStandardHeaders(message, headers);
    if (refused) return refused;
    return { kind: "modern", message, protocolVersion: MODERN_VERSION, identity: identityOf(message) };
  }
  // Legacy: the header, when sent, must name a 2025 revision (absent = 2025-03-26, which had none).
  if (versionHeader !== undefined && !(LEGACY_VERSIONS as readonly string[]).includes(versionHeader)) {
    return unsupportedVersion(versionHeader, SUPPORTED_VERSIONS, bodyId(body));
  }
  const batch = Array.isArray(body);
  const items = batch ? (body as unknown[]) : [body];
  if (items.length === 0 || items.length > MAX_BATCH) {
    return reject("invalid_request", 400, -32600, `Invalid Request: ${items.length === 0 ? "empty batch" : `more than ${MAX_BATCH} messages in one batch`}`, null);
  }
  // JSON-RPC batching was removed in 2025-06-18: only 2025-03-26 (which sends no version header) batches.
  if (batch && versionHeader !== undefined && versionHeader !== "2025-03-26") {
    return reject("invalid_request", 400, -32600, `Invalid Request: JSON-RPC batches are not part of protocol revision ${versionHeader} (removed in 2025-06-18); send one request per POST`, null);
  }
  // A structural check only: the SDK validates each message against its schema when it handles it,
  // and a second zod pass here measured as a visible share of the per-call CPU.
  for (const item of items) {
    if (!isJsonRpcMessage(item)) return reject("invalid_request", 400, -32600, "Invalid Request: not a JSON-RPC 2.0 message", null);
  }
  const refused = checkLegacyHeaders(items as JSONRPCMessage[], batch, headers);
  if (refused) return refused;
  return { kind: "legacy", messages: items as JSONRPCMessage[], batch, headerVersion: (versionHeader as LegacyVersion | undefined) ?? null };
}

/** The revision a legacy request is served under: header, else what its session negotiated, else 2025-03-26. */
export function legacyRevision(headerVersion: LegacyVersion | null, sessionVersion: string | null): ProtocolRevision {
  if (headerVersion) return headerVersion;
  if (sessionVersion && (LEGACY_VERSIONS as readonly string[]).includes(sessionVersion)) return sessionVersion as LegacyVersion;
  return "2025-03-26";
}
