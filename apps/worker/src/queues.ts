import { QUEUES } from "@portcullis/jobs";
import { Queue, type ConnectionOptions } from "bullmq";

export interface QueueSet {
  audit: Queue;
  auditDeadLetter: Queue;
  introspection: Queue;
  descriptions: Queue;
  housekeeping: Queue;
  notifications: Queue;
  auditExport: Queue;
  all: Queue[];
  close(): Promise<void>;
}

/** The worker's own handles on every queue (to schedule, dead-letter, and measure lag). */
export function createQueues(connection: ConnectionOptions, prefix: string): QueueSet {
  const make = (name: string) => new Queue(name, { connection, prefix });
  const set = {
    audit: make(QUEUES.audit),
    auditDeadLetter: make(QUEUES.auditDeadLetter),
    introspection: make(QUEUES.introspection),
    descriptions: make(QUEUES.descriptions),
    housekeeping: make(QUEUES.housekeeping),
    notifications: make(QUEUES.notifications),
    auditExport: make(QUEUES.auditExport),
  };
  const all = Object.values(set);
  return { ...set, all, close: async () => void (await Promise.all(all.map((q) => q.close()))) };
}
