import type { ServerResponse } from "node:http";
import { jsonRpcError, sendJson } from "./respond.js";

/**
 * Failures of the gateway's own metadata database that mean "not now" rather than "no": the server
 * is down, restarting, in crash recovery, or out of connections. A request that meets one gets 503
 * with Retry-After — never a 500 (clients report it as a bug and do not retry) nor a 401 (clients
 * drop the key). Errors of a target database never get here: they are tool results.
 */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0[1-3])/; // connection, resources, admin/crash shutdown, starting up
const UNAVAILABLE_SOCKET = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);
// pg and pg-pool say these in plain messages, without a code.
const UNAVAILABLE_MESSAGE = /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|connection error/i;

export const METADATA_RETRY_AFTER_SECONDS = 1;

export function isMetadataUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== "object" || depth > 3) return false;
  const code = String((error as { code?: unknown }).code ?? "");
  if (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_SOCKET.has(code)) return true;
  if (error instanceof Error && UNAVAILABLE_MESSAGE.test(error.message)) return true;
  // Node reports a refused connection to a name with several addresses as an AggregateError.
  const nested = (error as { errors?: unknown }).errors;
  return Array.isArray(nested) && nested.some((e) => isMetadataUnavailable(e, depth + 1));
}

export function sendMetadataUnavailable(res: ServerResponse, jsonRpc: boolean): void {
  const message = "Service unavailable: the gateway cannot reach its metadata database right now; retry in a moment";
  sendJson(res, 503, jsonRpc ? jsonRpcError(-32000, message) : { error: message }, {
    "retry-after": String(METADATA_RETRY_AFTER_SECONDS),
  });
}
