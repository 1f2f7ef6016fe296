import { ProtocolError, type Server, type ServerContext, type Tool } from "@modelcontextprotocol/server";
import { CallAuditUnavailableError, UnknownToolError, type CallOutcome } from "../calls/call-outcome.js";
import { runTypedCall } from "../calls/run-call.js";
import type { CallContext, LinkRecord } from "../context.js";
import type { Services } from "../services.js";
import { listResourceTemplates, listResources, readResourceContents, readResourceDefinition } from "./resources.js";
import { toolsFor } from "./tool-catalog.js";
import { savedToolsOf, toolNames } from "./tools/index.js";

export const SERVER_INFO = { name: "portcullis", title: "Portcullis PostgreSQL gateway", version: "0.1.0" } as const;

/** JSON-RPC error of a call whose audit event could not be journalled and that changed nothing; clients may retry it. */
export const AUDIT_UNAVAILABLE_CODE = -32050;
/** The same after a statement that may have changed data ran: retrying could apply it twice. */
export const AUDIT_UNAVAILABLE_AFTER_WRITE_CODE = -32051;

/** Resolves the caller of the request a handler serves (by the id the dispatch transport gave it). */
export type ContextLookup = (ctx: ServerContext) => CallContext | undefined;

export function instructionsFor(link: LinkRecord): string {
  const on = new Set(toolNames(link));
  const databases = link.databases && link.databases.length > 1 ? link.databases.map((d) => d.databaseName ?? "") : [];
  const saved = savedToolsOf(link).map((t) => t.name);
  // Only the tools this link offers are named (issue 17: built-ins may be switched off, curated tools added).
  const explore = on.has("get_schema") ? (on.has("list_tables") && on.has("describe_table") ? "get_schema (or list_tables and describe_table)" : "get_schema") : ["list_tables", "describe_table", "search_objects"].filter((t) => on.has(t)).join(" and ");
  const steps = [
    explore ? `Start with ${explore}` : "",
    on.has("get_permissions") ? "check get_permissions for what this link may do" : "",
    on.has("execute_sql") ? "then run one statement per execute_sql call, with $1-style params for values" : "",
  ].filter(Boolean);
  return (
    `Portcullis gives you SQL access to a PostgreSQL database through the link "${link.name}". ` +
    (databases.length ? `It reaches ${databases.length} databases (${databases.join(", ")}): pass database to choose one (default: ${databases[0]}). ` : "") +
    (steps.length ? `${steps.join(", ")}. ` : "") +
    (saved.length ? `Curated tools: ${saved.slice(0, 20).join(", ")}${saved.length > 20 ? ` and ${saved.length - 20} more` : ""}; call them with their typed arguments. ` : "") +
    "Refused statements come back with the reason and what is allowed."
  );
}

/**
 * The same for every link, because 2026-07-28 `server/discover` is the SDK's own and answers from the
 * instance (it cannot be overridden on a modern instance, design §1.3); link-specific guidance lives in
 * tool descriptions, get_permissions and the legacy `initialize` reply.
 */
export const GENERIC_INSTRUCTIONS =
  "Portcullis gives you SQL access to a PostgreSQL database through a link whose scope decides what you may read or change. " +
  "Start with get_schema (or list_tables and describe_table), check get_permissions for what this link may do, " +
  "then run one statement per execute_sql call, with $1-style params for values. Refused statements come back with the reason and what is allowed.";

function callerOf(lookup: ContextLookup, ctx: ServerContext): CallContext {
  const caller = lookup(ctx);
  // Unreachable through the HTTP layer (it always authenticates first); a guard, not a code path.
  if (!caller) throw new ProtocolError(-32600, "unauthenticated");
  return caller;
}

/**
 * The handlers both eras share. They never read connection state: the caller comes from the dispatch
 * transport per request, so two clients on one long-lived instance never see each other.
 */
export function registerHandlers(server: Server, services: Services, lookup: ContextLookup): void {
  // The catalog types its schemas loosely (Record); they are object-rooted JSON Schemas by construction.
  server.setRequestHandler("tools/list", (_request, ctx) => ({ tools: toolsFor(callerOf(lookup, ctx).link) as Tool[] }));
  // tools/call is answered by mcp/tool-call.ts without the SDK's dispatch (the hot path; see there).
  server.setRequestHandler("resources/list", (request, ctx) => listResources(services, callerOf(lookup, ctx), request.params?.cursor));
  server.setRequestHandler("resources/templates/list", (_request, ctx) => listResourceTemplates(callerOf(lookup, ctx).link));
  server.setRequestHandler("resources/read", async (request, ctx) => {
    const caller = callerOf(lookup, ctx);
    caller.signal = ctx.mcpReq.signal;
    const uri = request.params.uri;
    return readResourceContents(await audited(() => runTypedCall(services, caller, readResourceDefinition, { uri })), uri);
  });
}

/** The call path's two protocol-level failures as JSON-RPC errors (texts are the call path's); null for anything else. */
export function protocolErrorOf(error: unknown): { code: number; message: string; data?: unknown } | null {
  if (error instanceof UnknownToolError) return { code: -32602, message: error.message };
  if (error instanceof CallAuditUnavailableError) {
    return error.ranWrite
      ? { code: AUDIT_UNAVAILABLE_AFTER_WRITE_CODE, message: error.message, data: { retryable: false } }
      : { code: AUDIT_UNAVAILABLE_CODE, message: error.message, data: { retryable: true } };
  }
  return null;
}

async function audited(run: () => Promise<CallOutcome>): Promise<CallOutcome> {
  try {
    return await run();
  } catch (error) {
    const mapped = protocolErrorOf(error);
    if (mapped) throw new ProtocolError(mapped.code, mapped.message, mapped.data);
    throw error;
  }
}

/** The 2025 era's handshake, answered from the request alone: nothing about the client is stored. */
export function registerLegacyInitialize(server: Server, lookup: ContextLookup, legacyVersions: readonly string[]): void {
  server.setRequestHandler("initialize", (request, ctx) => {
    const caller = callerOf(lookup, ctx);
    const requested = request.params.protocolVersion;
    return {
      protocolVersion: legacyVersions.includes(requested) ? requested : legacyVersions[0]!,
      capabilities: server.getCapabilities(),
      serverInfo: SERVER_INFO,
      instructions: instructionsFor(caller.link),
    };
  });
}
