export * from "./client.js";
export { getDbEnv, type DbEnv } from "./env.js";
export * from "./errors.js";
export { clientIp, trustProxySchema } from "./client-ip.js";
