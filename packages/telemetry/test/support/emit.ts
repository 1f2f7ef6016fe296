import { shutdownTelemetry, startTelemetry, withSpan } from "../../src/index.js";

// A process that starts telemetry from its environment, makes one span and one metric point, flushes
// and says whether an SDK was created at all.
const telemetry = startTelemetry({ serviceName: "emit-test", serviceVersion: "9.9.9", env: process.env });
await withSpan("emit.job", { "emit.attr": "yes" }, async () => {});
telemetry?.meter?.createCounter("emit.count").add(3, { "emit.attr": "yes" });
await shutdownTelemetry();
process.stdout.write(`${JSON.stringify({ started: telemetry !== null, traces: telemetry?.tracer !== null && telemetry !== null, metrics: telemetry?.meter !== null && telemetry !== null })}\n`);
