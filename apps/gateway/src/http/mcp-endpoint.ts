// Moved to http/mcp/endpoint.ts (issue 13); kept for http/playground.ts until it imports ../request-meta.js.
export type { RequestMeta } from "./request-meta.js";
