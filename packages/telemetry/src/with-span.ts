import { SpanKind, SpanStatusCode, type Attributes } from "@opentelemetry/api";
import { activeTelemetry } from "./start.js";

/**
 * Runs `work` inside a span when traces export, and runs it bare otherwise (no span object, no
 * context). A thrown error marks the span (error.type = its class) and is rethrown unchanged.
 */
export async function withSpan<T>(name: string, attributes: Attributes, work: () => Promise<T>, kind: SpanKind = SpanKind.INTERNAL): Promise<T> {
  const tracer = activeTelemetry()?.tracer;
  if (!tracer) return work();
  return tracer.startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await work();
    } catch (error) {
      span.setAttribute("error.type", error instanceof Error ? error.constructor.name : "unknown");
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message.slice(0, 500) : undefined });
      throw error;
    } finally {
      span.end();
    }
  });
}
