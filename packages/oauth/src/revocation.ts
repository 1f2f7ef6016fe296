import type { Redis } from "ioredis";
import { REVOCATION_CHANNEL, type RevocationMessage } from "@portcullis/jobs";
import type { OAuthContext, RevocationPublisher } from "./context.js";

export function createRedisRevocationPublisher(redis: Redis): RevocationPublisher {
  return (message: RevocationMessage) => redis.publish(REVOCATION_CHANNEL, JSON.stringify(message));
}

/**
 * Tells every gateway to forget what it cached for a grant. The database write has already
 * committed, so a failed broadcast only delays the effect until the gateways' cache TTL; it is
 * reported, not thrown.
 */
export async function broadcastGrantRevocation(ctx: OAuthContext, grantId: string): Promise<void> {
  if (!ctx.publishRevocation) return;
  try {
    await ctx.publishRevocation({ kind: "oauth_grant", grantId });
  } catch (error) {
    ctx.warn?.("could not broadcast an OAuth revocation", { err: (error as Error).message, grantId });
  }
}
