import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { QUEUES, REVOCATION_CHANNEL, type DescriptionsJob, type IntrospectionJob, type RevocationMessage } from "@portcullis/jobs";
import * as producer from "@portcullis/jobs";
import { PortcullisError } from "@portcullis/db/errors";
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

/** The process's producer handle on one of the worker's queues (same prefix as the worker). */
export function queue(name: string): Queue {
  globalForRedis.portcullisQueues ??= new Map();
  let q = globalForRedis.portcullisQueues.get(name);
  if (!q) {
    // BullMQ producers may share a connection that fails fast; only workers need maxRetriesPerRequest null.
    q = new Queue(name, { prefix: env().QUEUE_PREFIX, connection: { url: env().REDIS_URL, maxRetriesPerRequest: 1, connectTimeout: 2000 } });
    globalForRedis.portcullisQueues.set(name, q);
  }
  return q;
}

// The contract's producer helpers: the payload is parsed and the job carries its kind's retries and history.
export async function enqueueIntrospection(job: IntrospectionJob): Promise<string> {
  return producer.enqueueIntrospection(queue(QUEUES.introspection), job);
}

/** Returns the job id, which the Schema page polls for progress. */
export async function enqueueDescriptions(job: DescriptionsJob): Promise<string> {
  return producer.enqueueDescriptions(queue(QUEUES.descriptions), job);
}

/**
 * Bounds a queue read. With Redis down, BullMQ waits for its connection instead of failing, and a
 * page section or a poll must answer with an error rather than hang.
 */
export async function withQueueTimeout<T>(work: Promise<T>, ms = 3000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PortcullisError("unavailable", "the job queue (Redis) did not answer in time")), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Tells every gateway instance to drop what it cached about a key, link or connection. */
export async function publishRevocation(message: RevocationMessage): Promise<void> {
  await getRedis().publish(REVOCATION_CHANNEL, JSON.stringify(message));
}
