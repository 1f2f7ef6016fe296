import { z } from "zod";

/**
 * The OpenTelemetry variables this package decides on itself. Endpoints, headers, timeouts and
 * compression are read by the OTLP exporters (otlp-exporter-base) from the same environment; resource
 * attributes and the service name by the resources package's env detector.
 */
const flag = z
  .string()
  .optional()
  .transform((v) => ["1", "true", "yes", "on"].includes((v ?? "").trim().toLowerCase()));

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() !== "" ? v.trim() : undefined));

const positiveMs = (fallback: number) =>
  z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : v), z.coerce.number().int().positive().default(fallback));

const protocol = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() !== "" ? v.trim().toLowerCase() : undefined));

const schema = z.object({
  OTEL_SDK_DISABLED: flag,
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalText,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalText,
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: optionalText,
  OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol,
  OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: protocol,
  /** "none" turns one signal off while the other exports ("otlp", the default, or unset: on). */
  OTEL_TRACES_EXPORTER: protocol,
  OTEL_METRICS_EXPORTER: protocol,
  OTEL_TRACES_SAMPLER: protocol,
  OTEL_TRACES_SAMPLER_ARG: optionalText,
  OTEL_METRIC_EXPORT_INTERVAL: positiveMs(60_000),
  OTEL_METRIC_EXPORT_TIMEOUT: positiveMs(30_000),
  OTEL_BSP_SCHEDULE_DELAY: positiveMs(5_000),
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: positiveMs(512),
  OTEL_BSP_MAX_QUEUE_SIZE: positiveMs(2_048),
  OTEL_BSP_EXPORT_TIMEOUT: positiveMs(30_000),
  /**
   * Longest string attribute a span keeps (the spec's default is unlimited): values a client chooses
   * (request ids, tool names) must not let one request fill the exporter's queue with megabytes.
   */
  OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: positiveMs(4_096),
  OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : v), z.coerce.number().int().positive().optional()),
  /**
   * Portcullis' own opt-in (named OTEL_* so every pass-through of OTEL_* carries it): database spans get
   * `db.query.text`, the caller's statement as sent. Off by default: the text can carry literals.
   */
  OTEL_PORTCULLIS_DB_QUERY_TEXT: flag,
});

export type OtlpProtocol = "http/protobuf" | "http/json";

export interface SignalPlan {
  protocol: OtlpProtocol;
}

export interface TelemetryPlan {
  traces: SignalPlan | null;
  metrics: SignalPlan | null;
  sampler: { name: string; arg: string | undefined };
  metricIntervalMs: number;
  metricTimeoutMs: number;
  batch: { scheduledDelayMillis: number; maxExportBatchSize: number; maxQueueSize: number; exportTimeoutMillis: number };
  dbQueryText: boolean;
  /** Longest string attribute value on a span (characters). */
  attributeValueLengthLimit: number;
  /** Why a signal the operator seems to want is off (an unsupported protocol); logged at start. */
  warnings: string[];
}

/**
 * Off unless an OTLP endpoint is configured (the generic one or the signal's own), and always off with
 * OTEL_SDK_DISABLED=true. Returns null when nothing at all is to be exported: then no SDK object exists.
 */
export function telemetryPlan(source: Record<string, string | undefined>): TelemetryPlan | null {
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`Invalid OpenTelemetry environment:\n${problems.join("\n")}`);
  }
  const env = parsed.data;
  if (env.OTEL_SDK_DISABLED) return null;
  const warnings: string[] = [];
  const signal = (endpoint: string | undefined, exporter: string | undefined, own: string | undefined, name: string): SignalPlan | null => {
    if (!endpoint || exporter === "none") return null;
    if (exporter !== undefined && exporter !== "otlp") {
      warnings.push(`OTEL_${name}_EXPORTER=${exporter} is not supported (only otlp or none): ${name.toLowerCase()} are not exported`);
      return null;
    }
    const chosen = own ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "http/protobuf";
    if (chosen !== "http/protobuf" && chosen !== "http/json") {
      warnings.push(`OTLP protocol ${chosen} is not supported (http/protobuf or http/json): ${name.toLowerCase()} are not exported`);
      return null;
    }
    return { protocol: chosen };
  };
  const traces = signal(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT, env.OTEL_TRACES_EXPORTER, env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, "TRACES");
  const metrics = signal(env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT, env.OTEL_METRICS_EXPORTER, env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, "METRICS");
  if (!traces && !metrics && warnings.length === 0) return null;
  return {
    traces,
    metrics,
    sampler: { name: env.OTEL_TRACES_SAMPLER ?? "parentbased_always_on", arg: env.OTEL_TRACES_SAMPLER_ARG },
    metricIntervalMs: env.OTEL_METRIC_EXPORT_INTERVAL,
    metricTimeoutMs: Math.min(env.OTEL_METRIC_EXPORT_TIMEOUT, env.OTEL_METRIC_EXPORT_INTERVAL),
    batch: {
      scheduledDelayMillis: env.OTEL_BSP_SCHEDULE_DELAY,
      maxExportBatchSize: Math.min(env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, env.OTEL_BSP_MAX_QUEUE_SIZE),
      maxQueueSize: env.OTEL_BSP_MAX_QUEUE_SIZE,
      exportTimeoutMillis: env.OTEL_BSP_EXPORT_TIMEOUT,
    },
    dbQueryText: env.OTEL_PORTCULLIS_DB_QUERY_TEXT,
    attributeValueLengthLimit: env.OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT ?? env.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT,
    warnings,
  };
}

/** This process's OTEL_* variables (for apps whose own env.ts does not hand them over). */
export function otelEnvironment(): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith("OTEL_")));
}
