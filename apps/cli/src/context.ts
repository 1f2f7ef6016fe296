import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { getDbEnv } from "@portcullis/db/env";
import { PortcullisError } from "@portcullis/db/errors";
import { createRedis } from "@portcullis/jobs";
import type { Redis } from "ioredis";

let prisma: PrismaClient | undefined;

export function db(): PrismaClient {
  prisma ??= createPrismaClient(getDbEnv().DATABASE_URL);
  return prisma;
}

export async function closeDb(): Promise<void> {
  await prisma?.$disconnect();
}

/** Publishes one message on a Redis channel; a revocation must reach gateways, so failure is reported. */
export async function publish(channel: string, message: unknown): Promise<void> {
  const url = process.env.REDIS_URL;
  if (!url) throw new PortcullisError("unavailable", "REDIS_URL is not set: the revocation is stored but gateways learn of it only when their cache expires (≤ 30 s)");
  const redis = createRedis(url, "producer", { enableOfflineQueue: true });
  try {
    await redis.publish(channel, JSON.stringify(message));
  } finally {
    redis.disconnect();
  }
}

/**
 * Runs `fn` with a Redis connection, or with undefined when REDIS_URL is unset or Redis does not
 * answer within a few seconds (callers say what they could not check rather than hang).
 */
export async function withRedis<T>(fn: (redis: Redis | undefined) => Promise<T>): Promise<T> {
  const url = process.env.REDIS_URL;
  if (!url) return fn(undefined);
  const redis = createRedis(url, "producer", { enableOfflineQueue: true, connectTimeout: 3000, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on("error", () => {});
  try {
    const reachable = await redis.ping().then(() => true, () => false);
    return await fn(reachable ? redis : undefined);
  } finally {
    redis.disconnect();
  }
}
