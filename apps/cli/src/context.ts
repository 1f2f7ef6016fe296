import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { getDbEnv } from "@portcullis/db/env";
import { PortcullisError } from "@portcullis/db/errors";
import { createRedis } from "@portcullis/jobs";

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
