import type { ServerResponse } from "node:http";
import type { JSONRPCMessage } from "@modelcontextprotocol/server";
import { serializeMessage } from "../../mcp/wire-json.js";
import { sendJson } from "../respond.js";

export { serializeMessage };

export type Era = "modern" | "legacy";

/**
 * HTTP status of a dispatched reply. 2026-07-28 maps some JSON-RPC errors onto HTTP (404 for an
 * unknown method, 400 for a capability the client did not declare); a 2025 client expects 200 for
 * every JSON-RPC answer, as before. Tool refusals are results, never errors.
 */
export function statusOf(message: JSONRPCMessage, era: Era): number {
  if (era === "legacy" || !("error" in message)) return 200;
  const code = message.error.code;
  if (code === -32601) return 404;
  if (code === -32020 || code === -32021 || code === -32022) return 400;
  return 200;
}

/** Whether the reply is a stream: only when the client accepts SSE and not plain JSON. */
export function wantsSse(accept: string): boolean {
  const json = accept.includes("application/json") || accept.includes("*/*") || accept === "";
  return !json || (accept.includes("text/event-stream") && !accept.includes("application/json"));
}

export function acceptable(accept: string): boolean {
  return accept.includes("application/json") || accept.includes("*/*") || accept === "" || accept.includes("text/event-stream");
}

/**
 * An SSE reply whose head is written late: on the first related notification, or with the answer —
 * so a lone answer still gets its own status (404, 403 step-up) when nothing was streamed before it.
 */
export class SseReply {
  private opened = false;
  constructor(
    private readonly res: ServerResponse,
    private readonly headers: Record<string, string>,
  ) {}

  get started(): boolean {
    return this.opened;
  }

  write = (message: JSONRPCMessage, status = 200): void => {
    if (this.res.writableEnded || this.res.destroyed) return;
    if (!this.opened) {
      this.opened = true;
      this.res.writeHead(status, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no", ...this.headers });
    }
    this.res.write(`event: message\ndata: ${serializeMessage(message)}\n\n`);
  };

  /** An SSE comment: keeps an idle stream (a question waiting for a person) open through proxies; clients ignore it. */
  comment(text: string): void {
    if (!this.opened || this.res.writableEnded || this.res.destroyed) return;
    this.res.write(`: ${text.replace(/[\r\n]/g, " ")}\n\n`);
  }

  end(): void {
    if (!this.opened) {
      this.opened = true;
      this.res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", ...this.headers });
    }
    this.res.end();
  }
}

export function sendReply(res: ServerResponse, status: number, body: JSONRPCMessage | JSONRPCMessage[], headers: Record<string, string>): void {
  if (res.writableEnded || res.destroyed) return;
  sendJson(res, status, serializeMessage(body), headers);
}
