import { createOAuthConfig, createQueueAuditSink, createRedisReplayGuard, type OAuthContext } from "@portcullis/oauth";
import { getPrisma } from "../../lib/db";
import { env } from "../../lib/env";
import { getRedis, publishRevocation } from "../../lib/redis";

const globalForOAuth = globalThis as unknown as { portcullisOAuth?: OAuthContext };

/**
 * The authorization server's context for this process: the dashboard's Prisma client, its public
 * URL as issuer, the gateway's public URL as the base of every resource indicator, audit events on
 * the shared queue and revocations on the shared channel. The production fetch policy (https only,
 * public addresses only) is the package default and is not configurable from the environment.
 */
export function getOAuthContext(): OAuthContext {
  if (globalForOAuth.portcullisOAuth) return globalForOAuth.portcullisOAuth;
  const e = env();
  // Same key prefix as the worker (QUEUE_PREFIX), or the events would wait in a queue nobody reads.
  const audit = createQueueAuditSink(getRedis(), { prefix: e.QUEUE_PREFIX });
  globalForOAuth.portcullisOAuth = {
    prisma: getPrisma(),
    config: createOAuthConfig({ issuer: e.publicUrl, gatewayPublicUrl: e.GATEWAY_PUBLIC_URL }),
    audit: audit.sink,
    publishRevocation,
    // ID-JAG jti markers, shared by every dashboard instance (the jwt-bearer grant is refused without it).
    replayGuard: createRedisReplayGuard(getRedis()),
    warn: (message, details) => console.warn(`[oauth] ${message}`, details ?? {}),
  };
  return globalForOAuth.portcullisOAuth;
}
