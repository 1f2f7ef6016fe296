import type { IncomingMessage } from "node:http";
import type { HttpDeps } from "../deps.js";

const CORS_HEADERS = {
  "access-control-allow-methods": "POST, GET, DELETE, OPTIONS",
  "access-control-allow-headers": "authorization, content-type, accept, mcp-protocol-version, mcp-method, mcp-name, mcp-session-id, last-event-id, traceparent",
  "access-control-expose-headers": "mcp-session-id, www-authenticate, x-request-id",
  "access-control-max-age": "600",
};

/** CORS only for origins the host/origin policy allows; nothing for the rest (and for non-browser clients). */
export function corsHeaders(req: IncomingMessage, deps: HttpDeps): Record<string, string> {
  const origin = req.headers.origin;
  if (!origin || !deps.hostOrigin.originAllowed(req.headers)) return {};
  return { "access-control-allow-origin": origin, vary: "origin", ...CORS_HEADERS };
}
