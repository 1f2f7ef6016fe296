import { Redis, type RedisOptions } from "ioredis";

/**
 * Redis connections for BullMQ need `maxRetriesPerRequest: null` (workers block on the connection).
 * Producers on a hot path want the opposite: fail fast so the caller can fall back (the gateway
 * spools audit events to disk when Redis is down), hence two presets.
 */
export function createRedis(url: string, purpose: "worker" | "producer" | "subscriber", extra: RedisOptions = {}): Redis {
  const base: RedisOptions =
    purpose === "producer"
      ? { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 }
      : { maxRetriesPerRequest: null };
  return new Redis(url, { lazyConnect: false, ...base, ...extra });
}
