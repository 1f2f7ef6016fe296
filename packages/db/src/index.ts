export * from "./client.js";
export { getDbEnv, type DbEnv } from "./env.js";
