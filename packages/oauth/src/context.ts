import type { PrismaClient } from "@portcullis/db/client";
import type { AuditEventInput, RevocationMessage } from "@portcullis/jobs";
import type { FetchPolicy } from "./client-metadata.js";
import type { OAuthConfig } from "./config.js";

/** Receives audit events; must not throw (the OAuth flow never fails because audit delivery did). */
export type AuditSink = (event: AuditEventInput) => Promise<void>;
/** Broadcasts a revocation to every gateway instance (Redis pub/sub on REVOCATION_CHANNEL). */
export type RevocationPublisher = (message: RevocationMessage) => Promise<unknown>;

/** What every operation of the authorization server needs; built once per process by its host. */
export interface OAuthContext {
  prisma: PrismaClient;
  config: OAuthConfig;
  /** Defaults to DEFAULT_FETCH_POLICY (https only, public addresses only). */
  fetchPolicy?: FetchPolicy;
  audit?: AuditSink;
  publishRevocation?: RevocationPublisher;
  now?: () => Date;
  /** Where unexpected problems (audit or broadcast failures) are reported. */
  warn?: (message: string, details?: Record<string, unknown>) => void;
}

export function nowOf(ctx: Pick<OAuthContext, "now">): Date {
  return ctx.now ? ctx.now() : new Date();
}
