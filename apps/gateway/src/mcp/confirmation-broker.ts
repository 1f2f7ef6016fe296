import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { SecretKeyring } from "@portcullis/db/secrets";
import { z } from "zod";
import type { Logger } from "../logger.js";
import { RequestStateCodec } from "./confirmation.js";

/** Ids of our server→client confirmation requests: unguessable, and recognisable among other responses. */
export const ELICIT_ID_PREFIX = "portcullis-confirm-";
const CHANNEL = "portcullis:confirm:responses";
const WAIT_KEY = (id: string) => `portcullis:confirm:wait:${id}`;
const USED_KEY = (nonce: string) => `portcullis:confirm:used:${nonce}`;

/** Who may answer a waiting confirmation: the same key (or OAuth grant) on the same link. */
export interface WaiterOwner {
  linkId: string;
  subject: string;
}

export type WaitResult = { kind: "answered"; response: unknown } | { kind: "timeout" } | { kind: "aborted" };
export type Delivery = "delivered" | "not_ours" | "unknown" | "foreign";

interface Waiter {
  owner: WaiterOwner;
  resolve(result: WaitResult): void;
}

const ownerSchema = z.object({ linkId: z.string(), subject: z.string() });
const relaySchema = z.object({ id: z.string(), owner: ownerSchema, message: z.unknown() });

/**
 * The parts of a confirmation that span requests and instances: the requestState codec, single use of a
 * requestState (Redis SET NX: a second retry with the same state is refused wherever it lands), and the
 * 2025 elicitation waiters — a call on one instance waits for the client's answer, which is POSTed as a
 * separate HTTP request that a load balancer may send to another instance; that instance checks the
 * answer's owner against the waiter's record in Redis and relays it over pub/sub.
 */
export class ConfirmationBroker {
  readonly codec: RequestStateCodec;
  private readonly waiters = new Map<string, Waiter>();

  constructor(
    keyring: SecretKeyring,
    private readonly redis: Redis,
    subscriber: Redis,
    private readonly logger: Logger,
  ) {
    this.codec = new RequestStateCodec(keyring);
    subscriber.on("message", (channel: string, payload: string) => {
      if (channel !== CHANNEL) return;
      this.onRelay(payload);
    });
    void subscriber.subscribe(CHANNEL).catch((error: Error) => logger.warn({ err: error.message }, "confirmation channel subscribe failed"));
  }

  /**
   * Consumes a requestState's nonce. False when it was used before. Throws when Redis cannot say: the
   * caller refuses then (a replay must never run because the record of the first use was unreachable).
   */
  async consume(nonce: string, ttlMs: number): Promise<boolean> {
    const set = await this.redis.set(USED_KEY(nonce), "1", "PX", Math.max(1_000, Math.ceil(ttlMs)), "NX");
    return set === "OK";
  }

  /** Waiters this instance holds (tests check nothing leaks). */
  get waiting(): number {
    return this.waiters.size;
  }

  /**
   * Registers a confirmation about to be asked on a 2025 call's stream. `result` settles with the
   * client's answer, at `timeoutMs`, or when `signal` aborts (the client went away).
   */
  wait(owner: WaiterOwner, timeoutMs: number, signal?: AbortSignal): { id: string; registered: Promise<void>; result: Promise<WaitResult> } {
    const id = `${ELICIT_ID_PREFIX}${randomUUID()}`;
    let settle!: (result: WaitResult) => void;
    const result = new Promise<WaitResult>((resolve) => (settle = resolve));
    const timer = setTimeout(() => finish({ kind: "timeout" }), timeoutMs);
    const onAbort = () => finish({ kind: "aborted" });
    const finish = (outcome: WaitResult) => {
      if (!this.waiters.delete(id)) return;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      this.redis.del(WAIT_KEY(id)).catch(() => {});
      settle(outcome);
    };
    this.waiters.set(id, { owner, resolve: finish });
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    // Without Redis an answer can still reach this instance; only another instance could not route it.
    const registered = this.redis
      .set(WAIT_KEY(id), JSON.stringify(owner), "PX", Math.ceil(timeoutMs))
      .then(() => undefined)
      .catch((error: Error) => this.logger.warn({ err: error.message }, "confirmation waiter not shared (Redis): only this instance can take its answer"));
    return { id, registered, result };
  }

  /**
   * A JSON-RPC response a client POSTed: delivered to its waiter when the poster owns it — here, or on
   * the instance that holds it. "foreign": a waiter exists but belongs to another key or link (refused,
   * the waiting call is untouched); "unknown": no such waiter (answered already, timed out, or never).
   */
  async deliver(poster: WaiterOwner, message: { id: unknown }): Promise<Delivery> {
    const id = message.id;
    if (typeof id !== "string" || !id.startsWith(ELICIT_ID_PREFIX) || id.length > 100) return "not_ours";
    const local = this.waiters.get(id);
    if (local) {
      if (!sameOwner(local.owner, poster)) return "foreign";
      local.resolve({ kind: "answered", response: (message as { result?: unknown }).result ?? null });
      return "delivered";
    }
    let stored: string | null;
    try {
      stored = await this.redis.get(WAIT_KEY(id));
    } catch {
      return "unknown";
    }
    if (!stored) return "unknown";
    const owner = ownerSchema.safeParse(safeJson(stored));
    if (!owner.success) return "unknown";
    if (!sameOwner(owner.data, poster)) return "foreign";
    try {
      await this.redis.publish(CHANNEL, JSON.stringify({ id, owner: poster, message }));
    } catch {
      return "unknown";
    }
    return "delivered";
  }

  private onRelay(payload: string): void {
    const relayed = relaySchema.safeParse(safeJson(payload));
    if (!relayed.success) return;
    const waiter = this.waiters.get(relayed.data.id);
    // Checked again here: the relay channel is not a way around the owner check.
    if (!waiter || !sameOwner(waiter.owner, relayed.data.owner)) return;
    waiter.resolve({ kind: "answered", response: (relayed.data.message as { result?: unknown } | null)?.result ?? null });
  }
}

function sameOwner(a: WaiterOwner, b: WaiterOwner): boolean {
  return a.linkId === b.linkId && a.subject === b.subject;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
