import type { IncomingMessage, ServerResponse } from "node:http";
import type { JSONRPCMessage } from "@modelcontextprotocol/server";
import { activeTelemetry } from "@portcullis/telemetry";
import type { Classified } from "../http/mcp/classify.js";
import { currentRequestTrace, runTraced, type McpRequestTrace } from "./request-trace.js";

/*
 * The one-line hooks the request path calls. With telemetry off each is a null check and a direct call:
 * no span, no context, no storage (it is created by the first traced request only).
 */

/** Wraps one MCP POST: its SERVER span and its duration metric. */
export function traceMcpPost(req: IncomingMessage, res: ServerResponse, handle: () => Promise<void>): Promise<void> {
  const telemetry = activeTelemetry();
  if (!telemetry) return handle();
  return runTraced(telemetry, req, async (requestTrace) => {
    try {
      await handle();
    } catch (error) {
      requestTrace.end(res.statusCode || 500, error);
      throw error;
    }
    requestTrace.end(res.statusCode);
  });
}

/** Authentication, timed for its span (written once the request's parent is known). */
export function tracedAuth<T extends { ok: boolean }>(authenticate: () => Promise<T>): Promise<T> {
  const requestTrace = currentRequestTrace();
  // Not async itself: with telemetry off the caller awaits the very same promise (no extra tick).
  return requestTrace ? timedAuth(requestTrace, authenticate) : authenticate();
}

async function timedAuth<T extends { ok: boolean }>(requestTrace: McpRequestTrace, authenticate: () => Promise<T>): Promise<T> {
  const start = requestTrace.now();
  const result = await authenticate();
  requestTrace.authenticated(start, result.ok);
  return result;
}

const SESSION_HEADER = "mcp-session-id";

/** The classified body, handed back unchanged; its method, tool and trace context noted on the span. */
export function notedCall<C extends Classified>(req: IncomingMessage, classified: C): C {
  const requestTrace = currentRequestTrace();
  if (!requestTrace) return classified;
  const first: JSONRPCMessage | undefined = classified.kind === "modern" ? classified.message : classified.kind === "legacy" ? classified.messages[0] : undefined;
  const request = first && "method" in first ? first : undefined;
  const params = request?.params as { name?: unknown; _meta?: unknown } | undefined;
  const meta = params?._meta && typeof params._meta === "object" && !Array.isArray(params._meta) ? (params._meta as Record<string, unknown>) : null;
  const session = req.headers[SESSION_HEADER];
  const version = classified.kind === "modern" ? classified.protocolVersion : classified.kind === "legacy" ? (classified.headerVersion ?? single(req.headers["mcp-protocol-version"])) : null;
  requestTrace.classified({
    // Names only from what the protocol defines; a tool name is the client's text, bounded like a name.
    method: request ? request.method.slice(0, 64) : null,
    tool: request?.method === "tools/call" && typeof params?.name === "string" ? params.name.slice(0, 100) : null,
    requestId: request && "id" in request && (typeof request.id === "string" || typeof request.id === "number") ? request.id : null,
    protocolVersion: version ?? null,
    sessionId: typeof session === "string" ? session.slice(0, 200) : null,
    meta,
    modern: classified.kind === "modern",
    batch: classified.kind === "legacy" && classified.batch,
  });
  return classified;
}

function single(value: string | string[] | undefined): string | null {
  const v = Array.isArray(value) ? value[0] : value;
  return typeof v === "string" ? v.slice(0, 32) : null;
}

/**
 * The trace id an audit event carries: the request span's when tracing is on (the client's own trace
 * id when it sent one), else what the protocol layer read.
 */
export function requestTraceId(fallback: string | null): string | null {
  const requestTrace = currentRequestTrace();
  return requestTrace ? (requestTrace.traceId() ?? fallback) : fallback;
}
