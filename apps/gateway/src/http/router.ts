import { randomUUID } from "node:crypto";
import { clientIp } from "@portcullis/db/client-ip";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { HttpDeps } from "./deps.js";
import { handleMcpDelete, handleMcpGet, handleMcpOptions, handleMcpPost } from "./mcp/endpoint.js";
import { traceMcpPost } from "../telemetry/index.js";
import { resourceMetadataUrl } from "./mcp/refusal.js";
import type { RequestMeta } from "./request-meta.js";
import { handlePlayground } from "./playground.js";
import { jsonRpcError, sendJson, sendText } from "./respond.js";
import { isMetadataUnavailable, sendMetadataUnavailable } from "./unavailable.js";

const MCP_PATH = /^\/mcp\/([^/?]+)\/?$/;
const PRM_PATH = /^\/\.well-known\/oauth-protected-resource\/mcp\/([^/?]+)\/?$/;
const PLAYGROUND_PATH = /^\/internal\/links\/([^/?]+)\/playground\/?$/;
const REQUEST_ID = /^[\w.:-]{1,100}$/;
/** While the metadata database is away every request says so; one log line a second is enough. */
const UNAVAILABLE_LOG_EVERY_MS = 1_000;

/** Path segments are ids; a malformed escape is just an id that matches nothing. */
function decodeSegment(segment: string): string {
  // Only %XX escapes decode: without a '%' the segment is its own decoding (and the call is skipped).
  if (!segment.includes("%")) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function meta(req: IncomingMessage, trustProxy: number): RequestMeta {
  const given = req.headers["x-request-id"];
  const requestId = typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
  // Only the X-Forwarded-For entries our own TRUST_PROXY hops appended are believed (the same rule
  // as the dashboard's): per-IP limits and the audit's source IP must not be chosen by the client.
  if (trustProxy === 0) return { requestId, sourceIp: peerIp(req.socket) };
  const sourceIp = clientIp(req.socket.remoteAddress, req.headers["x-forwarded-for"], trustProxy);
  return { requestId, sourceIp: sourceIp?.slice(0, 64) ?? null };
}

// Without trusted proxies the source is the socket's peer: normalised once per connection, not once
// per request (keep-alive clients send thousands of calls on one socket).
const peerIps = new WeakMap<Socket, string | null>();
function peerIp(socket: Socket): string | null {
  let ip = peerIps.get(socket);
  if (ip === undefined) {
    ip = clientIp(socket.remoteAddress, undefined, 0)?.slice(0, 64) ?? null;
    peerIps.set(socket, ip);
  }
  return ip;
}

/** RFC 9728 metadata: where OAuth-capable clients find the authorization server for a link. */
function protectedResourceMetadata(deps: HttpDeps, linkId: string) {
  return {
    resource: `${deps.publicUrl}/mcp/${encodeURIComponent(linkId)}`,
    authorization_servers: [deps.webUrl],
    bearer_methods_supported: ["header"],
    resource_name: "Portcullis MCP link",
    resource_documentation: `${deps.webUrl}/docs`,
  };
}

export function createRouter(deps: HttpDeps) {
  const { metrics, logger } = deps.services;
  let lastUnavailableLog = 0;
  return async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const m = meta(req, deps.trustProxy);
    res.setHeader("x-request-id", m.requestId);
    const path = (req.url ?? "/").split("?")[0]!;
    const method = req.method ?? "GET";
    let routeName = "other";
    const started = performance.now();
    metrics.inFlight.inc();
    try {
      let match: RegExpExecArray | null;
      if ((match = MCP_PATH.exec(path))) {
        routeName = "mcp";
        const linkId = decodeSegment(match[1]!);
        if (method === "POST") await traceMcpPost(req, res, () => handleMcpPost(req, res, deps, linkId, m));
        else if (method === "GET") await handleMcpGet(req, res, deps, linkId, m);
        else if (method === "DELETE") await handleMcpDelete(req, res, deps, linkId, m);
        else if (method === "OPTIONS") handleMcpOptions(req, res, deps);
        else sendJson(res, 405, jsonRpcError(-32000, "Method not allowed"), { allow: "POST, GET, DELETE, OPTIONS" });
      } else if ((match = PRM_PATH.exec(path)) && (method === "GET" || method === "HEAD")) {
        routeName = "protected_resource";
        // Served for any link id: answering 404 for unknown links would reveal which exist.
        sendJson(res, 200, protectedResourceMetadata(deps, decodeSegment(match[1]!)), {
          "access-control-allow-origin": "*",
          "cache-control": "public, max-age=300",
        });
      } else if (path === "/healthz") {
        routeName = "healthz";
        sendJson(res, 200, { status: "ok" });
      } else if (path === "/readyz") {
        routeName = "readyz";
        const { ready, checks } = await deps.isReady();
        sendJson(res, ready ? 200 : 503, { status: ready ? "ready" : "not ready", checks });
      } else if (path === "/metrics") {
        routeName = "metrics";
        sendText(res, 200, await metrics.registry.metrics(), { "content-type": metrics.registry.contentType });
      } else {
        sendJson(res, 404, { error: "not found" });
      }
    } catch (error) {
      if (isMetadataUnavailable(error)) {
        metrics.refused.inc({ reason: "metadata_unavailable" });
        if (Date.now() - lastUnavailableLog > UNAVAILABLE_LOG_EVERY_MS) {
          lastUnavailableLog = Date.now();
          logger.warn({ err: (error as Error).message, requestId: m.requestId }, "metadata database unavailable: answering 503 with Retry-After");
        }
        if (!res.headersSent) sendMetadataUnavailable(res, routeName === "mcp");
        else res.end();
        return;
      }
      logger.error({ err: error, requestId: m.requestId, path }, "request failed");
      if (!res.headersSent) sendJson(res, 500, jsonRpcError(-32603, "Internal error"));
      else res.end();
    } finally {
      metrics.inFlight.dec();
      metrics.http.inc({ route: routeName, method, status: String(res.statusCode) });
      // Access log at debug: at thousands of calls per second an info line per request is a measurable
      // share of the CPU; refusals and failures are logged at info/error where they happen.
      if (logger.isLevelEnabled("debug")) {
        logger.debug({ requestId: m.requestId, method, route: routeName, status: res.statusCode, ms: Math.round((performance.now() - started) * 100) / 100, ip: m.sourceIp }, "request");
      }
    }
  };
}

/**
 * The internal listener's routes: the Playground endpoint and a health check, nothing of the public
 * surface. The public listener does not know the Playground path at all (404 like any unknown path).
 */
export function createInternalRouter(deps: HttpDeps) {
  const { metrics, logger } = deps.services;
  return async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Whoever reaches this listener is on the operator's side of the network: its peer is the dashboard.
    const m = meta(req, 0);
    res.setHeader("x-request-id", m.requestId);
    const path = (req.url ?? "/").split("?")[0]!;
    const method = req.method ?? "GET";
    let routeName = "internal_other";
    try {
      const match = PLAYGROUND_PATH.exec(path);
      if (match && method === "POST") {
        routeName = "playground";
        await handlePlayground(req, res, deps, decodeSegment(match[1]!), m);
      } else if (path === "/healthz") {
        routeName = "internal_healthz";
        sendJson(res, 200, { status: "ok" });
      } else {
        req.resume();
        sendJson(res, 404, { error: "not found" });
      }
    } catch (error) {
      if (isMetadataUnavailable(error)) {
        if (!res.headersSent) sendMetadataUnavailable(res, false);
        else res.end();
        return;
      }
      logger.error({ err: error, requestId: m.requestId, path }, "internal request failed");
      if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      else res.end();
    } finally {
      metrics.http.inc({ route: routeName, method, status: String(res.statusCode) });
    }
  };
}

export { resourceMetadataUrl };
