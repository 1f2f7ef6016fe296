import type { JSONRPCMessage } from "@modelcontextprotocol/server";
import type { ConfirmationBroker, WaiterOwner } from "../../mcp/confirmation-broker.js";
import { CONFIRM_WINDOW_MS } from "../../mcp/confirmation.js";
import type { ConfirmOptions } from "../../mcp/tool-call.js";
import type { HttpRefusal } from "./refusal.js";
import type { SseReply } from "./respond.js";

/** A person may take minutes: proxies that cut idle streams see a comment this often. */
const HEARTBEAT_MS = 15_000;

/**
 * 2025 revisions: the confirmation question as a real server→client `elicitation/create` on the call's
 * own SSE stream (opened when the question is asked), waiting for the answer the client POSTs — up to
 * the request's expiry or CONFIRM_WINDOW_MS, whichever is sooner. The waiter is registered (in Redis
 * too) before the question leaves, so an answer can never arrive first.
 */
export function elicitOnStream(broker: ConfirmationBroker, owner: WaiterOwner, openStream: () => SseReply): NonNullable<ConfirmOptions["elicit"]> {
  return async (params, expiresAtMs, signal) => {
    const timeoutMs = Math.max(0, Math.min(expiresAtMs - Date.now(), CONFIRM_WINDOW_MS));
    const waiter = broker.wait(owner, timeoutMs, signal);
    await waiter.registered;
    const stream = openStream();
    stream.write({ jsonrpc: "2.0", id: waiter.id, method: "elicitation/create", params } as JSONRPCMessage);
    const heartbeat = setInterval(() => stream.comment("waiting for the confirmation"), HEARTBEAT_MS);
    try {
      return await waiter.result;
    } finally {
      clearInterval(heartbeat);
    }
  };
}

/**
 * JSON-RPC responses in a POST: those answering our confirmation questions go to the call waiting for
 * them (here or on another instance), and only from the key and link that call belongs to. Others (no
 * question of ours) are accepted and dropped, as before. A refusal when one is not the poster's to give.
 */
export async function deliverResponses(
  broker: ConfirmationBroker | undefined,
  poster: WaiterOwner,
  messages: JSONRPCMessage[],
): Promise<Pick<HttpRefusal, "status" | "code" | "message" | "ruleId" | "reason"> | null> {
  if (!broker) return null;
  for (const message of messages) {
    if ("method" in message || !("id" in message)) continue;
    const delivery = await broker.deliver(poster, message as { id: unknown });
    if (delivery === "foreign" || delivery === "unknown") {
      // One answer for both: whether another key's question exists is not this caller's to learn.
      return {
        status: 404,
        code: -32600,
        message: "No confirmation of yours is waiting for this response (answered, expired, or asked of another key); nothing ran",
        ruleId: "write_request_mismatch",
        reason: delivery === "foreign" ? "confirmation answer from another key or link" : "confirmation answer for no waiting request",
      };
    }
  }
  return null;
}
