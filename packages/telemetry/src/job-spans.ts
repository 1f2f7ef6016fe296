import { SpanKind, SpanStatusCode, type Histogram, type Span } from "@opentelemetry/api";
import { activeTelemetry } from "./start.js";

/** What a BullMQ job offers (structurally; this package does not depend on bullmq). */
interface JobLike {
  id?: string;
  name: string;
  timestamp: number;
  processedOn?: number;
  attemptsMade: number;
  data: unknown;
}

interface WorkerLike {
  on(event: "active", listener: (job: JobLike) => void): unknown;
  on(event: "completed", listener: (job: JobLike) => void): unknown;
  on(event: "failed", listener: (job: JobLike | undefined, error: Error) => void): unknown;
}

const BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
let instruments: { process: Histogram; lag: Histogram } | null = null;

/**
 * A CONSUMER span per job a worker processes (messaging conventions), with the time it waited in the
 * queue (portcullis.queue.lag: for the audit queue, how far ingestion trails the gateways) and its
 * processing time as metrics. Listens to the worker's events: processors stay untouched, and with
 * telemetry off nothing is registered.
 */
export function traceJobs<W extends WorkerLike>(worker: W, queue: string): W {
  const telemetry = activeTelemetry();
  if (!telemetry) return worker;
  const meter = telemetry.meter;
  if (meter && !instruments) {
    instruments = {
      process: meter.createHistogram("messaging.process.duration", { unit: "s", description: "Time a worker spent on a job", advice: { explicitBucketBoundaries: BUCKETS } }),
      lag: meter.createHistogram("portcullis.queue.lag", { unit: "s", description: "Time a job waited in its queue before a worker took it", advice: { explicitBucketBoundaries: BUCKETS } }),
    };
  }
  const open = new Map<string, { span: Span | null; started: number }>();
  const base = { "messaging.system": "bullmq", "messaging.destination.name": queue, "messaging.operation.type": "process" };
  worker.on("active", (job) => {
    const started = performance.now();
    const events = (job.data as { events?: unknown } | null)?.events;
    const span =
      telemetry.tracer?.startSpan(`process ${queue}`, {
        kind: SpanKind.CONSUMER,
        attributes: {
          ...base,
          "messaging.operation.name": job.name,
          ...(job.id ? { "messaging.message.id": job.id } : {}),
          "portcullis.job.attempt": job.attemptsMade + 1,
          ...(Array.isArray(events) ? { "messaging.batch.message_count": events.length } : {}),
        },
      }) ?? null;
    instruments?.lag.record(Math.max(0, ((job.processedOn ?? Date.now()) - job.timestamp) / 1000), { ...base, "messaging.operation.name": job.name });
    if (job.id) open.set(job.id, { span, started });
  });
  const finish = (job: JobLike | undefined, error?: Error) => {
    const entry = job?.id ? open.get(job.id) : undefined;
    if (!job?.id || !entry) return;
    open.delete(job.id);
    const errorType = error ? error.constructor.name : undefined;
    if (entry.span) {
      if (errorType) {
        entry.span.setAttribute("error.type", errorType);
        entry.span.setStatus({ code: SpanStatusCode.ERROR, message: error?.message.slice(0, 500) });
      }
      entry.span.end();
    }
    instruments?.process.record((performance.now() - entry.started) / 1000, { ...base, "messaging.operation.name": job.name, ...(errorType ? { "error.type": errorType } : {}) });
  };
  worker.on("completed", (job) => finish(job));
  worker.on("failed", (job, error) => finish(job, error));
  return worker;
}
