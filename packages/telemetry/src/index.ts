export { activeTelemetry, shutdownTelemetry, startTelemetry, type StartOptions, type Telemetry } from "./start.js";
export { telemetryPlan, type OtlpProtocol, type TelemetryPlan } from "./env.js";
export { samplerFrom } from "./sampler.js";
export { withSpan } from "./with-span.js";
export { sqlCommentFor, sqlCommenterEnabled } from "./sqlcommenter.js";
// The API pieces the apps build spans with, from this package's single copy of @opentelemetry/api
// (the apps declare no OpenTelemetry dependency of their own, so there is one global registry).
export { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Histogram, type Meter, type Span } from "@opentelemetry/api";
export { W3CTraceContextPropagator, otperformance } from "@opentelemetry/core";
export { otelEnvironment } from "./env.js";
export { traceJobs } from "./job-spans.js";
