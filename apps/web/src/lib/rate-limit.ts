import { env } from "./env";
import { getRedis } from "./redis";

export interface RateLimitResult {
  allowed: boolean;
  remaining: number;
  retryAfterSeconds: number;
}

/**
 * Fixed-window counter in Redis, shared by every dashboard instance. If Redis is unreachable the
 * request is allowed (the per-account lockout in PostgreSQL still bounds guessing), because locking
 * everybody out of sign-in during a Redis outage would be worse.
 */
export async function hitRateLimit(bucket: string, limit: number, windowSeconds: number): Promise<RateLimitResult> {
  const key = `${env().REDIS_KEY_PREFIX}:rl:${bucket}`;
  try {
    const redis = getRedis();
    const [[, count], [, ttl]] = (await redis.multi().incr(key).ttl(key).exec()) as [[null, number], [null, number]];
    if (ttl < 0) await redis.expire(key, windowSeconds);
    return { allowed: count <= limit, remaining: Math.max(0, limit - count), retryAfterSeconds: ttl > 0 ? ttl : windowSeconds };
  } catch (error) {
    console.warn("[web] rate limiter unavailable, allowing request:", (error as Error).message);
    return { allowed: true, remaining: limit, retryAfterSeconds: 0 };
  }
}
