import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  InitializeRequestSchema,
  LATEST_PROTOCOL_VERSION,
  ListToolsRequestSchema,
  McpError,
  ErrorCode,
  SUPPORTED_PROTOCOL_VERSIONS,
  type CallToolResult,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { z } from "zod";
import type { CallContext, LinkRecord } from "../context.js";
import { describeConnectionFailure, isConnectionFailure } from "../execution/execute-checked.js";
import { AuditUnavailableError } from "../audit/producer.js";
import type { Services } from "../services.js";
import { DispatchTransport } from "./dispatch-transport.js";
import { TOOLS, TOOLS_BY_NAME } from "./tools/index.js";
import type { ToolAudit } from "./tools/types.js";

export const SERVER_INFO = { name: "portcullis", title: "Portcullis PostgreSQL gateway", version: "0.1.0" } as const;

export function contextOf(authInfo: AuthInfo | undefined): CallContext {
  const ctx = authInfo?.extra?.ctx as CallContext | undefined;
  // Unreachable through the HTTP layer (it always authenticates first); a guard, not a code path.
  if (!ctx) throw new McpError(ErrorCode.InvalidRequest, "unauthenticated");
  return ctx;
}

// JSON Schemas are computed once: they are the same for every link.
const INPUT_SCHEMAS = new Map(TOOLS.map((t) => [t.name, z.toJSONSchema(t.input, { target: "draft-7" }) as Tool["inputSchema"]]));

function toolsFor(link: LinkRecord): Tool[] {
  return TOOLS.map((t) => ({
    name: t.name,
    title: t.title,
    description: t.description(link),
    inputSchema: INPUT_SCHEMAS.get(t.name)!,
    annotations: { readOnlyHint: t.readOnlyHint, openWorldHint: false },
  }));
}

function instructionsFor(link: LinkRecord): string {
  return (
    `Portcullis gives you SQL access to a PostgreSQL database through the link "${link.name}". ` +
    "Start with get_schema (or list_tables and describe_table), check get_permissions for what this link may do, " +
    "then run one statement per execute_sql call, with $1-style params for values. Refused statements come back with the reason and what is allowed."
  );
}

/**
 * The one SDK server of this process. Handlers read the caller from `authInfo` (set per HTTP request
 * by the transport), so the server holds no per-client state: `initialize` is answered without
 * storing the client's capabilities, which would otherwise leak between clients.
 */
export function createMcpServer(services: Services): { server: Server; transport: DispatchTransport } {
  const capabilities = { tools: { listChanged: false } };
  const server = new Server(SERVER_INFO, { capabilities });

  server.setRequestHandler(InitializeRequestSchema, (request, extra) => {
    const ctx = contextOf(extra.authInfo);
    const requested = request.params.protocolVersion;
    return {
      protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION,
      capabilities,
      serverInfo: SERVER_INFO,
      instructions: instructionsFor(ctx.link),
    };
  });

  server.setRequestHandler(ListToolsRequestSchema, (_request, extra) => ({ tools: toolsFor(contextOf(extra.authInfo).link) }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const ctx = contextOf(extra.authInfo);
    return callTool(services, ctx, request.params.name, request.params.arguments ?? {});
  });

  const transport = new DispatchTransport();
  void server.connect(transport);
  return { server, transport };
}

/** Runs one tool with timing, metrics and exactly one audit event, whatever happens. */
export async function callTool(services: Services, ctx: CallContext, name: string, args: unknown): Promise<CallToolResult> {
  const started = performance.now();
  const tool = TOOLS_BY_NAME.get(name);
  let result: CallToolResult;
  let audit: ToolAudit;
  if (!tool) {
    // Protocol-level error, as the spec asks for unknown tools; still audited.
    await recordToolAudit(services, ctx, name, started, { verdict: "error", error: `unknown tool ${name}` });
    throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}. Tools: ${TOOLS.map((t) => t.name).join(", ")}`);
  }
  // Nothing runs while the journal is known to be failing: the statement could otherwise take effect
  // and its answer then be withheld (a retry would run it twice). Nothing has run, so retrying is safe.
  const journalFailure = services.audit.journalFailure();
  if (journalFailure) {
    services.metrics.refused.inc({ reason: "audit_unavailable" });
    services.logger.warn({ requestId: ctx.requestId, tool: name, reason: journalFailure }, "call refused before running: audit journal failing");
    throw new McpError(AUDIT_UNAVAILABLE_CODE, "the audit journal cannot record events right now; nothing was run — retry it (another gateway instance may take it)", { retryable: true });
  }
  const parsed = tool.input.safeParse(args);
  if (!parsed.success) {
    const message = `Invalid arguments for ${name}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(arguments)"}: ${i.message}`).join("; ")}`;
    result = { content: [{ type: "text", text: message }], isError: true };
    audit = { verdict: "error", error: message, sql: typeof (args as { sql?: unknown })?.sql === "string" ? ((args as { sql: string }).sql.slice(0, 100_000)) : undefined };
  } else {
    try {
      ({ result, audit } = await tool.run(parsed.data, ctx, services));
    } catch (error) {
      if (isConnectionFailure(error)) {
        // The target is down while loading its catalog: the same clear answer as during execution.
        const message = describeConnectionFailure(error);
        result = { content: [{ type: "text", text: message }], isError: true };
        audit = { verdict: "error", error: message };
      } else {
        // Unexpected failures (metadata database down, a bug) are logged in full and shown generically.
        services.logger.error({ err: error, tool: name, requestId: ctx.requestId }, "tool failed");
        const message = "The gateway could not complete this call (internal error). It has been logged; try again.";
        result = { content: [{ type: "text", text: message }], isError: true };
        audit = { verdict: "error", error: (error as Error).message?.slice(0, 4000) ?? "internal error" };
      }
    }
  }
  await recordToolAudit(services, ctx, name, started, audit);
  return result;
}

/** JSON-RPC error of a call whose audit event could not be journalled and that changed nothing; clients may retry it. */
export const AUDIT_UNAVAILABLE_CODE = -32050;
/**
 * The same, for a call whose statement may have changed data (a write or DDL the link allowed ran):
 * retrying could apply it twice, so it is not marked retryable and says so.
 */
export const AUDIT_UNAVAILABLE_AFTER_WRITE_CODE = -32051;

/**
 * Resolves once the call's audit event is durably written (O_DSYNC) in the journal, so the answer never leaves
 * without it. When the journal cannot write, the call fails with a retryable error instead of being
 * answered unaudited (its statement may have run: the log line of the failure carries the event).
 */
async function recordToolAudit(services: Services, ctx: CallContext, tool: string, started: number, audit: ToolAudit): Promise<void> {
  const durationMs = performance.now() - started;
  services.metrics.toolCalls.inc({ tool, verdict: audit.verdict });
  services.metrics.toolDuration.observe({ tool }, durationMs / 1000);
  try {
    await recordEvent(services, ctx, tool, durationMs, audit);
  } catch (error) {
    if (!(error instanceof AuditUnavailableError)) throw error;
    services.metrics.refused.inc({ reason: "audit_unavailable" });
    if (audit.verdict === "allowed" && audit.wrote) {
      throw new McpError(
        AUDIT_UNAVAILABLE_AFTER_WRITE_CODE,
        "the statement ran, but its audit event could not be recorded (the gateway's log has it); do not retry it — check its effect first",
        { retryable: false },
      );
    }
    throw new McpError(AUDIT_UNAVAILABLE_CODE, `${error.message}`, { retryable: true });
  }
}

function recordEvent(services: Services, ctx: CallContext, tool: string, durationMs: number, audit: ToolAudit): Promise<string> {
  return services.audit.recordDurable({
    teamId: ctx.principal.teamId,
    kind: "tool_call",
    linkId: ctx.link.id,
    apiKeyId: ctx.principal.apiKeyId,
    oauthClientId: ctx.principal.oauthClientId,
    userId: ctx.principal.userId,
    clientName: ctx.clientName,
    clientVersion: ctx.clientVersion,
    tool: tool.slice(0, 100),
    sql: audit.sql?.slice(0, 100_000),
    fingerprint: audit.fingerprint,
    tables: (audit.tables ?? []).slice(0, 200),
    verdict: audit.verdict,
    ruleId: audit.ruleId,
    reason: audit.reason?.slice(0, 4000),
    durationMs: Math.round(durationMs * 1000) / 1000,
    rows: audit.rows,
    bytes: audit.bytes,
    error: audit.error?.slice(0, 4000),
    sourceIp: ctx.sourceIp,
    requestId: ctx.requestId,
  });
}
