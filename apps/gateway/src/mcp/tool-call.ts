import type { JSONRPCMessage, JSONRPCRequest, RequestId } from "@modelcontextprotocol/server";
import { renderMcp } from "../calls/render-mcp.js";
import { runCall } from "../calls/run-call.js";
import type { CallContext } from "../context.js";
import type { Services } from "../services.js";
import { SERVER_INFO, protocolErrorOf } from "./handlers.js";

const SERVER_INFO_META = { "io.modelcontextprotocol/serverInfo": SERVER_INFO };

/**
 * `tools/call` — the one method on the hot path — answered without the SDK's dispatch; every other
 * method goes through the long-lived SDK instances. Measured on the bench (2 cores, 10-row read whose
 * text changes every call): the SDK's per-message work for a call (its zod guards on the request and on
 * the result, the modern codec's envelope pass, the serving loop, the dispatch transport's renumbering)
 * was ~60 µs of server CPU per call on 2026-07-28 and ~30 µs on 2025-11-25, which put the modern path
 * 1.5× over the pre-v2 legacy path (issue 13's bar: not more). What the SDK does here is small and
 * fixed by the spec, and is kept: params checked (-32602), the same ProtocolError mapping, and on
 * 2026-07-28 `resultType: "complete"` and `_meta` serverInfo stamped on the result exactly as the SDK's
 * codec does (its envelope was validated by the SDK's classifier before this point). The conformance
 * suite and the v2/1.x clients in the test command hold the two paths to the same wire.
 */
export async function answerToolCall(services: Services, ctx: CallContext, message: JSONRPCRequest, modern: boolean): Promise<JSONRPCMessage> {
  const id = message.id as RequestId;
  const params = message.params as { name?: unknown; arguments?: unknown } | undefined;
  const args = params?.arguments;
  if (typeof params?.name !== "string" || (args !== undefined && (typeof args !== "object" || args === null || Array.isArray(args)))) {
    return { jsonrpc: "2.0", id, error: { code: -32602, message: "Invalid params: tools/call needs params.name (a string) and, optionally, params.arguments (an object)" } };
  }
  let result: Record<string, unknown>;
  try {
    result = renderMcp(params.name, await runCall(services, ctx, params.name, args ?? {}));
  } catch (error) {
    const protocolError = protocolErrorOf(error);
    if (!protocolError) throw error;
    return { jsonrpc: "2.0", id, error: protocolError };
  }
  if (modern) {
    result.resultType = "complete";
    result._meta = SERVER_INFO_META;
  }
  return { jsonrpc: "2.0", id, result } as JSONRPCMessage;
}
