import type { JSONRPCMessage, RequestId, Transport, TransportSendOptions, MessageExtraInfo } from "@modelcontextprotocol/server";
import type { CallContext } from "../context.js";

interface Pending {
  originalId: RequestId;
  resolve(message: JSONRPCMessage): void;
  onNotification?: (message: JSONRPCMessage) => void;
}

/** A request in flight: its process-unique id (for `cancel`) and its answer. */
export interface Dispatched {
  internalId: number;
  response: Promise<JSONRPCMessage>;
}

/**
 * A Transport that lets one long-lived SDK server answer every HTTP request of the process.
 *
 * The SDK's HTTP handler builds a server and a transport per request, which measured at most of the
 * per-call cost (design §1.4). Here the HTTP layer hands each request's JSON-RPC message to `request`,
 * which gives it a process-unique id (two clients both sending id 1 must not meet), remembers the
 * caller's CallContext under that id, and resolves when the server sends the response with that id,
 * restoring the client's id. The caller travels by id, not in MessageExtraInfo: `serveStdio`, which
 * pins the modern instance, drops the extra info of every message it forwards.
 */
export class DispatchTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;

  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly contexts = new Map<number, CallContext>();

  private markStarted!: () => void;
  /** Resolves once the SDK has installed its callbacks and started the transport (messages before that would be lost). */
  readonly started = new Promise<void>((resolve) => (this.markStarted = resolve));

  async start(): Promise<void> {
    this.markStarted();
  }

  async close(): Promise<void> {
    this.onclose?.();
  }

  /** Number of requests awaiting a response. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Callers remembered (equals inFlight unless something leaks). */
  get contextsHeld(): number {
    return this.contexts.size;
  }

  /** The caller of an in-flight request, by the id the server sees. */
  contextOf(requestId: RequestId): CallContext | undefined {
    return this.contexts.get(requestId as number);
  }

  /**
   * Delivers one request; `response` resolves with its answer. `onNotification` receives notifications
   * the server relates to this request (progress), for SSE responses. The message's id is replaced
   * while it is in flight: callers pass an object they own and do not reuse.
   */
  request(message: JSONRPCMessage & { id: RequestId; method: string }, ctx: CallContext, onNotification?: (message: JSONRPCMessage) => void): Dispatched {
    const internalId = this.nextId++;
    if (this.nextId > Number.MAX_SAFE_INTEGER - 1) this.nextId = 1;
    const response = new Promise<JSONRPCMessage>((resolve) => {
      this.pending.set(internalId, { originalId: message.id, resolve, onNotification });
      this.contexts.set(internalId, ctx);
      // The HTTP layer's own freshly parsed object: renumbered in place rather than copied (a copy per
      // request and per response was a visible share of the per-call allocations).
      message.id = internalId;
      this.onmessage?.(message);
    });
    return { internalId, response };
  }

  /**
   * The client went away before its answer: the server aborts the handler's signal (the statement is
   * cancelled in the database) and, as measured, then sends no response for that id — so the maps are
   * cleaned here, not in `send`.
   */
  cancel(internalId: number): void {
    if (!this.pending.delete(internalId)) return;
    this.onmessage?.({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: internalId, reason: "client disconnected" } });
    this.contexts.delete(internalId);
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if ("id" in message && message.id !== undefined && ("result" in message || "error" in message)) {
      const internalId = message.id as number;
      const pending = this.pending.get(internalId);
      this.contexts.delete(internalId);
      if (!pending) return; // cancelled: nothing to deliver
      this.pending.delete(internalId);
      // The SDK builds a new response object per request and keeps no reference to it once sent.
      (message as { id: RequestId }).id = pending.originalId;
      pending.resolve(message);
      return;
    }
    const related = options?.relatedRequestId;
    if (related !== undefined) this.pending.get(related as number)?.onNotification?.(message);
    // Unrelated server-initiated messages have nowhere to go in a stateless deployment: dropped.
  }
}
