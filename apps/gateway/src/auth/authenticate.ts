import type { Principal } from "../context.js";
import type { MemberDirectory } from "./member-directory.js";
import type { AuthStrategy } from "./strategy.js";

/**
 * The single entry point for bearer tokens. Every failure is the same `null`: the HTTP layer turns
 * it into one indistinguishable 401, whatever the reason (unknown link, wrong key, other link,
 * revoked, expired).
 */
export class Authenticator {
  constructor(
    private readonly strategies: AuthStrategy[],
    /** The member details the strategies put on principals: dropped with them. */
    private readonly members?: MemberDirectory,
  ) {}

  async authenticate(token: string | undefined, linkId: string): Promise<Principal | null> {
    if (!token || token.length > 4096) return null;
    for (const strategy of this.strategies) {
      if (strategy.accepts(token)) return strategy.authenticate(token, linkId);
    }
    return null;
  }

  /** A principal only from what the strategies have cached as valid; null otherwise (no lookup). */
  peek(token: string | undefined, linkId: string): Principal | null {
    if (!token || token.length > 4096) return null;
    for (const strategy of this.strategies) {
      if (strategy.accepts(token)) return strategy.peek?.(token, linkId) ?? null;
    }
    return null;
  }

  invalidate(message: Parameters<NonNullable<AuthStrategy["invalidate"]>>[0]): void {
    for (const strategy of this.strategies) strategy.invalidate?.(message);
    if (message.linkId) this.members?.invalidate({ linkId: message.linkId });
  }

  /** A member's attributes on a link changed: their next call reads them again (keys stay cached). */
  invalidateMember(message: { linkId?: string; userId?: string }): void {
    if (!message.linkId && !message.userId) return this.clear();
    this.members?.invalidate(message);
  }

  clear(): void {
    for (const strategy of this.strategies) strategy.clear?.();
    this.members?.clear();
  }
}
