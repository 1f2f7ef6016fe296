import type { PrismaClient } from "@portcullis/db/client";
import type { AuditEventInput, RevocationMessage } from "@portcullis/jobs";
import type { FetchPolicy } from "./client-metadata.js";
import type { OAuthConfig } from "./config.js";
import type { JwksCache } from "./jwks.js";

/** Receives audit events; must not throw (the OAuth flow never fails because audit delivery did). */
export type AuditSink = (event: AuditEventInput) => Promise<void>;
/** Broadcasts a revocation to every gateway instance (Redis pub/sub on REVOCATION_CHANNEL). */
export type RevocationPublisher = (message: RevocationMessage) => Promise<unknown>;

/** Single-use markers (ID-JAG `jti`): true the first time a key is claimed, false ever after until it expires. */
export interface ReplayGuard {
  claimOnce(key: string, ttlSeconds: number): Promise<boolean>;
}

/** What every operation of the authorization server needs; built once per process by its host. */
export interface OAuthContext {
  prisma: PrismaClient;
  config: OAuthConfig;
  /** Defaults to DEFAULT_FETCH_POLICY (https only, public addresses only). */
  fetchPolicy?: FetchPolicy;
  audit?: AuditSink;
  publishRevocation?: RevocationPublisher;
  now?: () => Date;
  /** Needed for the jwt-bearer grant: without it that grant is refused (replays could not be stopped). */
  replayGuard?: ReplayGuard;
  /** Identity providers' key sets; defaults to one cache per process under the context's fetch policy. */
  jwksCache?: JwksCache;
  /** Where unexpected problems (audit or broadcast failures) are reported. */
  warn?: (message: string, details?: Record<string, unknown>) => void;
}

export function nowOf(ctx: Pick<OAuthContext, "now">): Date {
  return ctx.now ? ctx.now() : new Date();
}
