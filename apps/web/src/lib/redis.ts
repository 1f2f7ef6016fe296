import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { QUEUES, REVOCATION_CHANNEL, type DescriptionsJob, type IntrospectionJob, type RevocationMessage } from "@portcullis/jobs";
import { env } from "./env";

const globalForRedis = globalThis as unknown as {
  portcullisWebRedis?: Redis;
  portcullisQueues?: Map<string, Queue>;
};

/**
 * One Redis connection per process, failing fast: the dashboard must answer (with a clear error)
 * when Redis is down rather than hang a request on an offline queue.
 */
export function getRedis(): Redis {
  globalForRedis.portcullisWebRedis ??= new Redis(env().REDIS_URL, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectTimeout: 2000,
    lazyConnect: false,
  });
  return globalForRedis.portcullisWebRedis;
}

function queue(name: string): Queue {
  globalForRedis.portcullisQueues ??= new Map();
  let q = globalForRedis.portcullisQueues.get(name);
  if (!q) {
    // BullMQ producers may share a connection that fails fast; only workers need maxRetriesPerRequest null.
    q = new Queue(name, { prefix: env().QUEUE_PREFIX, connection: { url: env().REDIS_URL, maxRetriesPerRequest: 1, connectTimeout: 2000 } });
    globalForRedis.portcullisQueues.set(name, q);
  }
  return q;
}

export async function enqueueIntrospection(job: IntrospectionJob): Promise<void> {
  await queue(QUEUES.introspection).add("introspect", job, { removeOnComplete: 100, removeOnFail: 100 });
}

export async function enqueueDescriptions(job: DescriptionsJob): Promise<void> {
  await queue(QUEUES.descriptions).add("describe", job, { removeOnComplete: 100, removeOnFail: 100 });
}

/** Tells every gateway instance to drop what it cached about a key, link or connection. */
export async function publishRevocation(message: RevocationMessage): Promise<void> {
  await getRedis().publish(REVOCATION_CHANNEL, JSON.stringify(message));
}
