import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { JSONRPCMessage, MessageExtraInfo, RequestId } from "@modelcontextprotocol/sdk/types.js";

interface Pending {
  originalId: RequestId;
  resolve(message: JSONRPCMessage): void;
  onNotification?: (message: JSONRPCMessage) => void;
}

/**
 * A Transport that lets one long-lived SDK server answer every HTTP request of the process.
 *
 * The SDK's Streamable HTTP transport is built for a connection per session; the stateless recipe
 * builds a server and a transport per request, which measured at most of the per-call cost. Here the
 * HTTP layer hands each request's JSON-RPC messages to `dispatch`, which gives every request a
 * process-unique id (two clients both sending id 1 must not meet), passes the caller's identity in
 * `authInfo`, and resolves when the server sends the response with that id, restoring the client's id.
 */
export class DispatchTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;

  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  async start(): Promise<void> {}

  async close(): Promise<void> {
    this.onclose?.();
  }

  /** Number of requests awaiting a response. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Delivers one request and resolves with its response. `onNotification` receives notifications the
   * server relates to this request (progress, logging), for SSE responses. The message's id is
   * replaced while it is in flight: callers pass an object they own and do not reuse.
   */
  request(
    message: JSONRPCMessage & { id: RequestId; method: string },
    authInfo: AuthInfo,
    onNotification?: (message: JSONRPCMessage) => void,
  ): Promise<JSONRPCMessage> {
    const internalId = this.nextId++;
    if (this.nextId > Number.MAX_SAFE_INTEGER - 1) this.nextId = 1;
    return new Promise((resolve) => {
      this.pending.set(internalId, { originalId: message.id, resolve, onNotification });
      // The message is the HTTP layer's own freshly parsed object: renumbered in place rather than
      // copied (a copy per request and per response was a visible share of the per-call allocations).
      message.id = internalId;
      this.onmessage?.(message, { authInfo });
    });
  }

  /** Delivers a notification (or a response to a server request, which this server never makes). */
  notify(message: JSONRPCMessage, authInfo: AuthInfo): void {
    this.onmessage?.(message, { authInfo });
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if ("id" in message && message.id !== undefined && ("result" in message || "error" in message)) {
      const internalId = message.id as number;
      const pending = this.pending.get(internalId);
      if (!pending) return; // caller gave up (client disconnected); nothing to deliver
      this.pending.delete(internalId);
      // The SDK builds a new response object per request and keeps no reference to it once sent.
      (message as { id: RequestId }).id = pending.originalId;
      pending.resolve(message);
      return;
    }
    const related = options?.relatedRequestId;
    if (related !== undefined) {
      this.pending.get(related as number)?.onNotification?.(message);
    }
    // Unrelated server-initiated messages have nowhere to go in a stateless deployment: dropped.
  }
}
