import { databaseRecord, selectDatabase } from "../access/link-database.js";
import { AuditUnavailableError } from "../audit/producer.js";
import type { CallContext } from "../context.js";
import { describeConnectionFailure, isConnectionFailure } from "../execution/execute-checked.js";
import { TOOLS_BY_NAME, toolByName, toolNames } from "../mcp/tools/index.js";
import type { Services } from "../services.js";
import { toolCallEvent } from "./audit-event.js";
import { tracedAudit } from "../telemetry/index.js";
import { CallAuditUnavailableError, UnknownToolError, type CallAudit, type CallOutcome, type TypedTool } from "./call-outcome.js";

const INTERNAL_MESSAGE = "The gateway could not complete this call (internal error). It has been logged; try again.";
const JOURNAL_FAILING_MESSAGE = "the audit journal cannot record events right now; nothing was run — retry it (another gateway instance may take it)";
const AFTER_WRITE_MESSAGE =
  "the statement ran, but its audit event could not be recorded (the gateway's log has it); do not retry it — check its effect first";

/**
 * The one function that checks, runs and audits a tool call, for MCP (either era) and the Playground
 * alike; callers only render the outcome. Unknown tools are audited, then thrown (a protocol error).
 * Throws CallAuditUnavailableError when the call cannot be audited: before running when the journal is
 * known to fail (nothing ran), or after, with whether a write ran (then it must not be retried).
 */
export async function runCall(services: Services, ctx: CallContext, name: string, args: unknown, whileRecording?: WhileRecording): Promise<CallOutcome> {
  const tool = toolByName(ctx.link, name);
  if (!tool) {
    const started = performance.now();
    const error = `unknown tool ${name}`;
    await record(services, ctx, name.slice(0, 100), started, { kind: "failed", failure: { code: "invalid_arguments", message: error, retryable: false }, audit: { verdict: "error", error } });
    throw new UnknownToolError(name, toolNames(ctx.link));
  }
  return runTypedCall(services, ctx, tool, args, whileRecording);
}

/** The same for a caller holding a definition (resources/read audits its reads through this). */
export async function runTypedCall(services: Services, ctx: CallContext, tool: TypedTool, args: unknown, whileRecording?: WhileRecording): Promise<CallOutcome> {
  const started = performance.now();
  // Nothing runs while the journal is known to be failing: the statement could otherwise take effect
  // and its answer then be withheld (a retry would run it twice). Nothing has run, so retrying is safe.
  const journalFailure = services.audit.journalFailure();
  if (journalFailure) {
    services.logger.warn({ requestId: ctx.requestId, tool: tool.name, reason: journalFailure }, "call refused before running: audit journal failing");
    throw nothingRan(services);
  }
  // Issue 17: the call runs under the record of the database it names (absent: the first, or every
  // database for the tools that cover all); an unknown name is refused here, before anything runs.
  const selection = selectDatabase(ctx.link, tool.name, args);
  if (!selection.ok) {
    await record(services, ctx, tool.name, started, selection.outcome, whileRecording);
    return selection.outcome;
  }
  let callCtx: CallContext =
    selection.named === undefined && !selection.all && selection.link === ctx.link
      ? ctx
      : { ...ctx, link: selection.link, ...(selection.named !== undefined ? { databaseNamed: selection.named } : {}), ...(selection.all ? { allDatabases: true } : {}) };
  const ahead = writeAhead(services, callCtx, tool.name);
  callCtx = ahead.ctx;
  let outcome: CallOutcome;
  try {
    outcome = await execute(services, callCtx, tool, selection.args);
  } catch (error) {
    // A write's intent could not be journalled: nothing ran, so retrying is safe.
    if (!(error instanceof AuditUnavailableError)) throw error;
    throw nothingRan(services);
  }
  // A call that covered every database ran on none in particular: its audit event names none.
  if (callCtx.allDatabases && outcome.audit.databaseName === undefined) outcome = { ...outcome, audit: { ...outcome.audit, databaseName: null } } as CallOutcome;
  // A step-up the tool asked for is answered by the protocol layer, which holds the original context.
  if (callCtx !== ctx && callCtx.insufficientScope) ctx.insufficientScope = callCtx.insufficientScope;
  await record(services, callCtx, tool.name, started, outcome, whileRecording, ahead.intent());
  return outcome;
}

type Intent = ReturnType<Services["audit"]["recordIntent"]>;

/** The call cannot be audited and nothing of it ran: a retryable refusal, counted. */
function nothingRan(services: Services): CallAuditUnavailableError {
  services.metrics.refused.inc({ reason: "audit_unavailable" });
  return new CallAuditUnavailableError(JOURNAL_FAILING_MESSAGE, false);
}

/**
 * Sync durability: a call that sends a statement is journalled as an intent right before the statement
 * goes out (the tool calls `ctx.auditAhead` through executeChecked), so the O_DSYNC write runs while the
 * database works, and the outcome is journalled after without the answer waiting for it. Calls that send
 * no statement (refusals, schema tools) are journalled once, after. The intent takes the event id the
 * tool names (`eventId`: an approved write's execution, which its request links to).
 */
function writeAhead(services: Services, ctx: CallContext, tool: string): { ctx: CallContext; intent: () => Intent | undefined } {
  if (!services.audit.writesAhead) return { ctx, intent: () => undefined };
  let intent: Intent | undefined;
  const ahead: CallContext = {
    ...ctx,
    auditAhead: (audit) => {
      if (!intent) {
        intent = services.audit.recordIntent(toolCallEvent(ctx, tool, audit, 0));
        // Observed here, awaited by record (or by executeChecked, for a write).
        intent.durable.catch(() => {});
      }
      return intent.durable;
    },
  };
  return { ctx: ahead, intent: () => intent };
}

/**
 * A call whose work is not a tool's `run` (the confirmation round trip's yes or no, issue 15): the same
 * journal gate before, and exactly one audit event after, as every tool call.
 */
export async function runAuditedCall(services: Services, ctx: CallContext, toolName: string, work: (ctx: CallContext) => Promise<CallOutcome>): Promise<CallOutcome> {
  const started = performance.now();
  if (services.audit.journalFailure()) throw nothingRan(services);
  const ahead = writeAhead(services, ctx, toolName);
  let outcome: CallOutcome;
  try {
    outcome = await work(ahead.ctx);
  } catch (error) {
    // The write's intent could not be journalled: nothing ran.
    if (error instanceof AuditUnavailableError) throw nothingRan(services);
    services.logger.error({ err: error, tool: toolName, requestId: ctx.requestId }, "tool failed");
    outcome = { kind: "failed", failure: { code: "internal", message: INTERNAL_MESSAGE, retryable: false }, audit: { verdict: "error", error: (error as Error)?.message?.slice(0, 4000) || "internal error" } };
  }
  await record(services, ahead.ctx, toolName, started, outcome, undefined, ahead.intent());
  return outcome;
}

async function execute(services: Services, ctx: CallContext, tool: TypedTool, args: unknown): Promise<CallOutcome> {
  const parsed = tool.input.safeParse(args ?? {});
  if (!parsed.success) {
    const message = `Invalid arguments for ${tool.name}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(arguments)"}: ${i.message}`).join("; ")}`;
    const sql = (args as { sql?: unknown } | null)?.sql;
    return {
      kind: "failed",
      failure: { code: "invalid_arguments", message, retryable: false },
      audit: { verdict: "error", error: message, ...(typeof sql === "string" ? { sql: sql.slice(0, 100_000) } : {}), ...savedToolDatabase(ctx, tool) },
    };
  }
  try {
    return await tool.run(parsed.data, ctx, services);
  } catch (error) {
    if (error instanceof AuditUnavailableError) throw error;
    // The statement stays on the audit row even when the call failed before the policy saw it.
    const sql = (parsed.data as { sql?: unknown } | null)?.sql;
    const statement = typeof sql === "string" ? { sql } : {};
    if (isConnectionFailure(error)) {
      // The target is down while loading its catalog: the same clear answer as during execution.
      const message = describeConnectionFailure(error);
      return { kind: "failed", failure: { code: "target_unavailable", message, retryable: true }, audit: { ...statement, verdict: "error", error: message } };
    }
    // Unexpected failures (metadata database down, a bug) are logged in full and shown generically.
    services.logger.error({ err: error, tool: tool.name, requestId: ctx.requestId }, "tool failed");
    return {
      kind: "failed",
      failure: { code: "internal", message: INTERNAL_MESSAGE, retryable: true },
      audit: { ...statement, verdict: "error", error: (error as Error)?.message?.slice(0, 4000) || "internal error" },
    };
  }
}

/**
 * A saved tool runs on its own database whatever the call defaulted to: a call refused before its run
 * (bad arguments) is audited under that database too, not the link's first. Found by definition, not
 * name (savedTool memoises one definition per record).
 */
function savedToolDatabase(ctx: CallContext, tool: TypedTool): { databaseName?: string | null } {
  // By name (unique per link; built-ins shadow a stored namesake): identity can miss when the record
  // was rebuilt by a link reload between the lookup and the audit.
  const record = TOOLS_BY_NAME.has(tool.name) ? undefined : ctx.link.savedTools?.find((t) => t.name === tool.name);
  if (!record) return {};
  return { databaseName: databaseRecord(ctx.link, record.databaseName)?.databaseName ?? record.databaseName };
}

/**
 * Work on the final outcome (rendering the answer) done while its audit event is being written: the
 * call still resolves only once the event is durable, so nothing can leave before it; if the write
 * fails the call throws and whatever this prepared is dropped. It must not send anything itself.
 */
export type WhileRecording = (outcome: CallOutcome) => void;

/**
 * Metrics and exactly one audit event, resolved once the call is durably on record, so an answer never
 * leaves without it: the event itself is journalled, or, when the call's intent was (`intent`), the
 * intent is on disk and the event follows it under the same id without the answer waiting.
 */
async function record(services: Services, ctx: CallContext, tool: string, started: number, outcome: CallOutcome, whileRecording?: WhileRecording, intent?: Intent): Promise<void> {
  const durationMs = performance.now() - started;
  const audit: CallAudit = outcome.audit;
  services.metrics.toolCalls.inc({ tool, verdict: audit.verdict });
  services.metrics.toolDuration.observe({ tool }, durationMs / 1000);
  try {
    if (intent) {
      await tracedAudit(audit, outcome.kind !== "ok", () => intent.durable);
      // The id is the intent's (which took the tool's eventId when it named one): what is on disk.
      if (audit.eventId && audit.eventId !== intent.id) services.logger.error({ eventId: audit.eventId, intentId: intent.id, requestId: ctx.requestId }, "a call's outcome names another event id than its intent; kept the intent's");
      services.audit.recordOutcome({ ...toolCallEvent(ctx, tool, audit, durationMs), id: intent.id, time: intent.time });
      return;
    }
    const durable = tracedAudit(audit, outcome.kind !== "ok", () => services.audit.recordDurable(toolCallEvent(ctx, tool, audit, durationMs)));
    if (whileRecording) {
      // Observed here, awaited below: a rejection during the yield must not count as unhandled.
      durable.catch(() => {});
      // The journal hands its write to the thread pool from a microtask; setImmediate runs after all
      // of them, so the render below overlaps the O_DSYNC write instead of preceding it.
      await new Promise<void>((resolve) => setImmediate(resolve));
      try {
        whileRecording(outcome);
      } catch {
        // Its caller does the work again after the write, and meets the error there, in order.
      }
    }
    await durable;
  } catch (error) {
    if (!(error instanceof AuditUnavailableError)) throw error;
    services.metrics.refused.inc({ reason: "audit_unavailable" });
    const ranWrite = audit.verdict === "allowed" && audit.wrote === true;
    throw new CallAuditUnavailableError(ranWrite ? AFTER_WRITE_MESSAGE : error.message, ranWrite);
  }
}
