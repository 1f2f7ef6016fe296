export { notedCall, requestTraceId, traceMcpPost, tracedAuth } from "./hooks.js";
export { configureSqlCommenter, tracedAudit, tracedExecution, tracedPolicy } from "./call-spans.js";
