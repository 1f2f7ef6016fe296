import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";

/** How long a terminated 2025-era session id stays refused (clients start a new one with initialize). */
const REMEMBER_MS = 24 * 60 * 60 * 1000;
const MAX_REMEMBERED = 100_000;

export function sessionHash(sessionId: string): string {
  return createHash("sha256").update(sessionId).digest("base64url");
}

/**
 * 2025-era sessions the client ended with DELETE. Session ids are otherwise stateless (they carry the
 * client's name, version and revision), but the 2025 transports say a terminated session MUST be answered
 * 404 afterwards, on every instance: the DELETE is broadcast on the revocation channel and each instance
 * remembers the id's hash, bounded in number and time. Checking costs nothing while none were ended.
 */
export class EndedSessions {
  private readonly ended = new LRUCache<string, true>({ max: MAX_REMEMBERED, ttl: REMEMBER_MS });

  constructor(private readonly broadcast: (hash: string) => void) {}

  end(sessionId: string): void {
    const hash = sessionHash(sessionId);
    this.ended.set(hash, true);
    this.broadcast(hash);
  }

  /** A broadcast from another instance (or this one). */
  apply(hash: string): void {
    this.ended.set(hash, true);
  }

  has(sessionId: string | undefined): boolean {
    if (!sessionId || this.ended.size === 0) return false;
    return this.ended.has(sessionHash(sessionId));
  }
}
