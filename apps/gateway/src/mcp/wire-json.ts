import type { JSONRPCMessage } from "@modelcontextprotocol/server";
import { compactJson } from "../calls/render-mcp.js";
import { jsonWithRawKey, lazyRowsJson } from "../calls/lazy-rows.js";

/** Answers serialized ahead of sending (while their audit write was in flight), by message object. */
const ahead = new WeakMap<object, string>();

function serialize(body: JSONRPCMessage): string {
  const result = (body as { result?: unknown }).result as Record<string, unknown> | undefined;
  const structured = result?.structuredContent;
  if (typeof structured !== "object" || structured === null || lazyRowsJson(structured) === undefined) return JSON.stringify(body);
  return jsonWithRawKey(body, "result", jsonWithRawKey(result!, "structuredContent", compactJson(structured as Record<string, unknown>)));
}

/**
 * JSON-RPC message(s) as JSON text. A result whose structuredContent still holds its rows as the text
 * they were read as (calls/lazy-rows.ts) has them spliced in rather than parsed and serialized again.
 * A message serialized ahead is not serialized twice: it is a fresh object nobody changes after.
 */
export function serializeMessage(body: JSONRPCMessage | JSONRPCMessage[]): string {
  if (Array.isArray(body)) return `[${body.map((m) => serializeMessage(m)).join(",")}]`;
  return ahead.get(body) ?? serialize(body);
}

/** Serializes an answer now, for serializeMessage to send later; the message must not change after. */
export function serializeAhead(body: JSONRPCMessage): void {
  ahead.set(body, serialize(body));
}
