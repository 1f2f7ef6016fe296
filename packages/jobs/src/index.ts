export * from "./audit-event.js";
export * from "./queues.js";
export * from "./redis.js";
export * from "./heartbeat.js";
