import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";

/**
 * Worker liveness for the dashboard: each worker process scores its own member in one sorted set with
 * the time of its last beat. A worker is alive while its beat is younger than HEARTBEAT_TTL_MS; several
 * workers count separately, and one killed without a goodbye simply ages out (no key per worker to
 * scan, one ZCOUNT to read).
 */
export const HEARTBEAT_EVERY_MS = 5_000;
export const HEARTBEAT_TTL_MS = 15_000;

export function heartbeatKey(prefix: string): string {
  return `${prefix}:portcullis:worker-heartbeats`;
}

export interface Heartbeat {
  id: string;
  stop(): Promise<void>;
}

export function startHeartbeat(redis: Redis, options: { prefix: string; everyMs?: number; ttlMs?: number; onError?: (error: Error) => void }): Heartbeat {
  const key = heartbeatKey(options.prefix);
  const ttlMs = options.ttlMs ?? HEARTBEAT_TTL_MS;
  const id = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  let pending: Promise<unknown> | undefined;
  const beat = () => {
    // A worker's connection queues commands while Redis is down; beats must not pile up behind it.
    if (pending || redis.status !== "ready") return;
    const now = Date.now();
    pending = redis
      .multi()
      .zadd(key, now, id)
      .zremrangebyscore(key, "-inf", now - ttlMs * 4)
      .pexpire(key, ttlMs * 4)
      .exec()
      .catch((error: Error) => options.onError?.(error))
      .finally(() => (pending = undefined));
  };
  beat();
  const timer = setInterval(beat, options.everyMs ?? HEARTBEAT_EVERY_MS);
  timer.unref();
  // Beat as soon as the connection is (back) up: a new or reconnected worker shows at once.
  redis.on("ready", beat);
  return {
    id,
    async stop() {
      clearInterval(timer);
      redis.off("ready", beat);
      await pending;
      // A clean stop leaves at once instead of ageing out, so the dashboard's count is right sooner.
      if (redis.status === "ready") await redis.zrem(key, id).catch(() => {});
    },
  };
}

/** How many workers beat within the TTL. */
export async function countLiveWorkers(redis: Redis, prefix: string, ttlMs = HEARTBEAT_TTL_MS, now = Date.now()): Promise<number> {
  return redis.zcount(heartbeatKey(prefix), now - ttlMs, "+inf");
}
