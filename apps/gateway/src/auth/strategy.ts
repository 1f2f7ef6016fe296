import type { Principal } from "../context.js";

/**
 * One way of turning a bearer token into a principal for a link. API keys today; OAuth access tokens
 * (tables oauth_tokens/oauth_grants) slot in as a second strategy that claims the tokens it recognises.
 */
export interface AuthStrategy {
  readonly name: string;
  /** Whether this strategy owns tokens of this shape (cheap, no I/O). */
  accepts(token: string): boolean;
  /** The principal, or null for any failure: unknown, revoked, expired, other link. */
  authenticate(token: string, linkId: string): Promise<Principal | null>;
  /** The principal if a valid answer for this token is cached, else null; never queries. */
  peek?(token: string, linkId: string): Principal | null;
  /** Drops cached lookups after a broadcast revocation. */
  invalidate?(message: { apiKeyId?: string; hash?: string; linkId?: string; grantId?: string; teamId?: string }): void;
  clear?(): void;
}

export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return match?.[1];
}
