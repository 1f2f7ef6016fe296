export * from "./teams.js";
export * from "./users.js";
export * from "./connections.js";
export * from "./links.js";
export * from "./api-keys.js";
