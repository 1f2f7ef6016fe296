import { AsyncLocalStorage } from "node:async_hooks";
import type { IncomingMessage } from "node:http";
import { BUILT_IN_TOOL_NAMES } from "@portcullis/db/operations";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from "@portcullis/telemetry";
import { W3CTraceContextPropagator, otperformance } from "@portcullis/telemetry";
import type { Telemetry } from "@portcullis/telemetry";
import { SUPPORTED_VERSIONS } from "../http/mcp/classify.js";
import { instrumentsFor } from "./instruments.js";

// The built-in tool names (one list, in @portcullis/db, that saved-tool-catalog.test compares with the
// gateway's tools): metric attributes name only these. Not mcp/tools/index.js, whose imports reach back
// here (an import cycle left the list undefined when a test loaded the renderer first).
const BUILT_IN_TOOLS: ReadonlySet<string> = new Set(BUILT_IN_TOOL_NAMES);

const MCP_METHODS = new Set([
  "initialize",
  "ping",
  "server/discover",
  "tools/list",
  "tools/call",
  "resources/list",
  "resources/read",
  "resources/templates/list",
  "resources/subscribe",
  "resources/unsubscribe",
  "prompts/list",
  "prompts/get",
  "completion/complete",
  "logging/setLevel",
  "subscriptions/listen",
]);

const propagator = new W3CTraceContextPropagator();
const getter = {
  get: (carrier: Record<string, unknown>, key: string): string | undefined => {
    const value = carrier[key];
    return typeof value === "string" ? value : Array.isArray(value) && typeof value[0] === "string" ? value[0] : undefined;
  },
  keys: (carrier: Record<string, unknown>) => Object.keys(carrier),
};

// Every span of a request is timed on one clock: wall-clock milliseconds anchored once per request,
// advanced by the monotonic clock (the SDK's own default start is Date.now(), whole milliseconds, which
// could put a child a fraction of a millisecond outside its parent).

/** What the protocol layer learned about the request once its body was classified. */
export interface McpCallFacts {
  method: string | null;
  tool: string | null;
  requestId: string | number | null;
  protocolVersion: string | null;
  sessionId: string | null;
  /** `params._meta` of the (first) request: the 2026-07-28 carrier of traceparent/tracestate. */
  meta: Record<string, unknown> | null;
  /** 2026-07-28: trace context from `_meta` first, the HTTP header as fallback; 2025: the other way round. */
  modern: boolean;
  batch: boolean;
}

/**
 * One MCP HTTP POST while telemetry is on. The SERVER span is created lazily: its parent may sit in the
 * body's `_meta`, which is read after authentication, so authentication's timing is kept and its span
 * written afterwards with the times it really had.
 */
export class McpRequestTrace {
  private readonly anchor = Date.now() - otperformance.now();
  private readonly startedAt = this.now();
  private readonly startedPerf = performance.now();
  private span: Span | null = null;
  private parent: Context | null = null;
  private auth: { start: number; end: number; ok: boolean } | null = null;
  private facts: McpCallFacts | null = null;
  private verdict: string | null = null;
  private ruleId: string | null = null;
  private toolError = false;

  constructor(
    private readonly telemetry: Telemetry,
    private readonly req: IncomingMessage,
  ) {}

  /** This request's clock (epoch milliseconds, sub-millisecond resolution). */
  now(): number {
    return this.anchor + otperformance.now();
  }

  authenticated(start: number, ok: boolean): void {
    this.auth = { start, end: this.now(), ok };
  }

  /** Ends a child span on this request's clock. */
  finish(span: Span): void {
    span.end(this.now());
  }

  classified(facts: McpCallFacts): void {
    this.facts = facts;
    const fromMeta = facts.meta ? propagator.extract(ROOT_CONTEXT, facts.meta, getter) : ROOT_CONTEXT;
    const metaParent = trace.getSpanContext(fromMeta) ? fromMeta : null;
    if (facts.modern) {
      this.parent = metaParent;
    } else {
      // 2025 revisions carry trace context in the HTTP header; clients instrumented for MCP often put
      // it in `_meta` as well (or only there, when the transport hides its headers): used when the
      // header has none.
      const fromHeader = propagator.extract(ROOT_CONTEXT, this.req.headers as Record<string, unknown>, getter);
      this.parent = trace.getSpanContext(fromHeader) ? fromHeader : metaParent;
    }
    if (this.span) {
      // Created early (a refusal asked for the trace id): the facts still land, the parent cannot.
      this.span.updateName(this.spanName());
      this.span.setAttributes(this.callAttributes());
    }
    this.ensureSpan();
  }

  /** The outcome of a tool call (several in a 2025 batch: the worst wins). */
  outcome(verdict: string, ruleId: string | undefined, failed: boolean): void {
    const rank = (v: string | null) => (v === "error" ? 2 : v === "blocked" ? 1 : v === "allowed" ? 0 : -1);
    if (rank(verdict) >= rank(this.verdict)) {
      this.verdict = verdict;
      this.ruleId = ruleId ?? this.ruleId;
    }
    this.toolError ||= failed;
  }

  /** The trace id every span of this request carries (the client's when it sent one), or null. */
  traceId(): string | null {
    const span = this.ensureSpan();
    return span ? span.spanContext().traceId : null;
  }

  child(name: string, kind: SpanKind, attributes: Attributes): Span | null {
    const parent = this.ensureSpan();
    if (!parent) return null;
    return this.telemetry.tracer!.startSpan(name, { kind, attributes, startTime: this.now() }, trace.setSpan(ROOT_CONTEXT, parent));
  }

  end(httpStatus: number, thrown?: unknown): void {
    const errorType = thrown !== undefined ? "internal" : httpStatus >= 400 ? String(httpStatus) : this.toolError ? "tool_error" : null;
    const f = this.facts;
    const span = this.ensureSpan();
    if (span) {
      span.setAttribute("http.response.status_code", httpStatus);
      if (this.verdict) span.setAttribute("portcullis.verdict", this.verdict);
      if (this.ruleId) span.setAttribute("portcullis.rule_id", this.ruleId);
      if (errorType) {
        span.setAttribute("error.type", errorType);
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end(this.now());
    }
    const metrics = this.telemetry.meter && instrumentsFor(this.telemetry.meter);
    if (metrics) {
      // Metric attributes are bounded sets (a client inventing method or tool names must not grow the
      // meter's memory): names we serve, everything else "_OTHER". Spans keep the name as sent.
      const attributes: Attributes = { "mcp.method.name": f?.method && MCP_METHODS.has(f.method) ? f.method : "_OTHER" };
      if (f?.tool) attributes["gen_ai.tool.name"] = BUILT_IN_TOOLS.has(f.tool) ? f.tool : "_OTHER";
      if (f?.protocolVersion && SUPPORTED_VERSIONS.includes(f.protocolVersion)) attributes["mcp.protocol.version"] = f.protocolVersion;
      if (this.verdict) attributes["portcullis.verdict"] = this.verdict;
      if (errorType) attributes["error.type"] = errorType;
      metrics.serverDuration.record((performance.now() - this.startedPerf) / 1000, attributes);
    }
  }

  private spanName(): string {
    const f = this.facts;
    if (!f?.method) return "mcp";
    // The name is not an attribute, so the SDK's length limit does not cut it: what a client sent is
    // cut here (span names stay short; the audit keeps tool names to 100 characters too).
    const method = clip(f.method, 64);
    return f.tool ? `${method} ${clip(f.tool, 100)}` : method;
  }

  private ensureSpan(): Span | null {
    if (this.span) return this.span;
    const tracer = this.telemetry.tracer;
    if (!tracer) return null;
    const parent = this.parent ?? propagator.extract(ROOT_CONTEXT, this.req.headers as Record<string, unknown>, getter);
    const attributes: Attributes = { "network.transport": "tcp", "network.protocol.name": "http", "http.request.method": "POST", ...this.callAttributes() };
    this.span = tracer.startSpan(this.spanName(), { kind: SpanKind.SERVER, startTime: this.startedAt, attributes }, parent);
    if (this.auth) {
      const auth = tracer.startSpan("portcullis.auth", { kind: SpanKind.INTERNAL, startTime: this.auth.start }, trace.setSpan(ROOT_CONTEXT, this.span));
      if (!this.auth.ok) {
        auth.setAttribute("error.type", "unauthenticated");
        auth.setStatus({ code: SpanStatusCode.ERROR });
      }
      auth.end(this.auth.end);
    }
    return this.span;
  }

  private callAttributes(): Attributes {
    const f = this.facts;
    const attributes: Attributes = {};
    // Everything here but the batch flag is the client's text: each is cut to a sane length.
    if (f?.method) attributes["mcp.method.name"] = clip(f.method, 64);
    if (f?.tool) {
      attributes["gen_ai.tool.name"] = clip(f.tool, 100);
      attributes["gen_ai.operation.name"] = "execute_tool";
    }
    if (f?.requestId !== null && f?.requestId !== undefined) attributes["jsonrpc.request.id"] = clip(String(f.requestId), 128);
    if (f?.protocolVersion) attributes["mcp.protocol.version"] = clip(f.protocolVersion, 32);
    if (f?.sessionId) attributes["mcp.session.id"] = clip(f.sessionId, 128);
    if (f?.batch) attributes["portcullis.batch"] = true;
    return attributes;
  }
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

let storage: AsyncLocalStorage<McpRequestTrace> | null = null;

/** The MCP request being served, when telemetry is on; null always when it is off (no storage exists). */
export function currentRequestTrace(): McpRequestTrace | null {
  return storage?.getStore() ?? null;
}

/** Runs the request inside its trace; created on the first traced request only. */
export function runTraced(telemetry: Telemetry, req: IncomingMessage, work: (trace: McpRequestTrace) => Promise<void>): Promise<void> {
  storage ??= new AsyncLocalStorage();
  const requestTrace = new McpRequestTrace(telemetry, req);
  return storage.run(requestTrace, () => work(requestTrace));
}


