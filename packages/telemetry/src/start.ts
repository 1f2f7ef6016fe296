import { metrics, trace, type Meter, type Tracer } from "@opentelemetry/api";
import { OTLPMetricExporter as JsonMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPMetricExporter as ProtoMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto";
import { OTLPTraceExporter as JsonTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { telemetryPlan, type TelemetryPlan } from "./env.js";
import { samplerFrom } from "./sampler.js";

export interface Telemetry {
  /** A tracer that records (traces exported), or null when only metrics are. */
  tracer: Tracer | null;
  /** A meter whose instruments export, or null when only traces are. */
  meter: Meter | null;
  plan: TelemetryPlan;
  /** Exports what is buffered and stops; safe to call twice. */
  shutdown(): Promise<void>;
}

export interface StartOptions {
  /** Default `service.name`; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over it. */
  serviceName: string;
  serviceVersion?: string;
  /**
   * The OTEL_* variables deciding what is on (the app hands over its process's own): endpoints, headers
   * and timeouts are then read by the OTLP exporters from the process environment, so both must agree.
   */
  env: Record<string, string | undefined>;
  /** Start-up notes (unsupported protocol …); console.warn when not given. */
  warn?: (message: string) => void;
}

let current: Telemetry | null = null;
const SHUTDOWN_BOUND_MS = 5_000;

/** The process's telemetry, or null when it is off (the common case: callers test this and do nothing). */
export function activeTelemetry(): Telemetry | null {
  return current;
}

/**
 * Starts tracing and metrics export when an OTLP endpoint is configured; returns null, creating no SDK
 * object at all, when none is. Once per process: a second call returns the first's result.
 */
export function startTelemetry(options: StartOptions): Telemetry | null {
  if (current) return current;
  const plan = telemetryPlan(options.env);
  if (!plan) return null;
  for (const warning of plan.warnings) (options.warn ?? console.warn)(warning);
  if (!plan.traces && !plan.metrics) return null;

  // The env detector reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; merged last, so they win.
  const resource = resourceFromAttributes({
    "service.name": options.serviceName,
    "service.namespace": "portcullis",
    ...(options.serviceVersion ? { "service.version": options.serviceVersion } : {}),
    "process.pid": process.pid,
  }).merge(detectResources({ detectors: [envDetector] }));

  let tracerProvider: TracerProvider | null = null;
  if (plan.traces) {
    const exporter = plan.traces.protocol === "http/json" ? new JsonTraceExporter() : new ProtoTraceExporter();
    tracerProvider = new TracerProvider({
      resource,
      sampler: samplerFrom(plan.sampler.name, plan.sampler.arg),
      spanLimits: { attributeValueLengthLimit: plan.attributeValueLengthLimit, attributeCountLimit: 128 },
      spanProcessors: [new BatchSpanProcessor({ exporter, ...plan.batch })],
    });
    trace.setGlobalTracerProvider(tracerProvider);
  }
  let meterProvider: MeterProvider | null = null;
  if (plan.metrics) {
    const exporter = plan.metrics.protocol === "http/json" ? new JsonMetricExporter() : new ProtoMetricExporter();
    meterProvider = new MeterProvider({
      resource,
      readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: plan.metricIntervalMs, exportTimeoutMillis: plan.metricTimeoutMs })],
    });
    metrics.setGlobalMeterProvider(meterProvider);
  }

  let stopped: Promise<void> | undefined;
  current = {
    tracer: tracerProvider?.getTracer("portcullis") ?? null,
    meter: meterProvider?.getMeter("portcullis", options.serviceVersion) ?? null,
    plan,
    shutdown() {
      // Each provider flushes on shutdown; one failing (collector gone) must not keep the other's data,
      // and an unreachable collector must not hold a stopping process past a few seconds.
      const flushed = Promise.allSettled([tracerProvider?.shutdown(), meterProvider?.shutdown()]).then(() => undefined);
      const bounded = new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_BOUND_MS).unref());
      stopped ??= Promise.race([flushed, bounded]);
      return stopped;
    },
  };
  return current;
}

/** Flushes and stops the process's telemetry, if any; for shutdown paths (a no-op when off). */
export async function shutdownTelemetry(): Promise<void> {
  await current?.shutdown();
}
