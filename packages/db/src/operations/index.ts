export * from "./teams.js";
export * from "./users.js";
export * from "./connections.js";
export * from "./links.js";
export * from "./api-keys.js";
export * from "./member-attributes.js";
export * from "./mask-secrets.js";
