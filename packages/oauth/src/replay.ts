import type { Redis } from "ioredis";
import type { ReplayGuard } from "./context.js";

/**
 * `jti` replay protection shared by every dashboard instance: Redis SET NX with the assertion's
 * remaining lifetime, so a marker lives exactly as long as the assertion could still be accepted.
 */
export function createRedisReplayGuard(redis: Redis, prefix = "portcullis:oauth:jti:"): ReplayGuard {
  return {
    async claimOnce(key, ttlSeconds) {
      const result = await redis.set(`${prefix}${key}`, "1", "EX", Math.max(1, Math.ceil(ttlSeconds)), "NX");
      return result === "OK";
    },
  };
}
