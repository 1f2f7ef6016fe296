export * from "./audit-event.js";
export * from "./queues.js";
export * from "./definitions.js";
export * from "./enqueue.js";
export * from "./schema-jobs.js";
export * from "./dead-letters.js";
export * from "./redis.js";
export * from "./heartbeat.js";
