import { startTelemetry } from "@portcullis/telemetry";
import type { GatewayEnv } from "../env.js";
import { createLogger } from "../logger.js";
import { configureSqlCommenter } from "./call-spans.js";

/**
 * Process-wide: OpenTelemetry when an OTLP endpoint is configured (the SDK's own OTEL_* variables),
 * SQLCommenter when PORTCULLIS_SQLCOMMENTER is on. `shutdown` flushes what is buffered (after the
 * gateway drained, so the last calls' spans leave too).
 */
export function startGatewayTelemetry(env: GatewayEnv, source: Record<string, string | undefined>): { shutdown(): Promise<void> } {
  configureSqlCommenter(env.PORTCULLIS_SQLCOMMENTER);
  const logger = createLogger(env.LOG_LEVEL, { component: "telemetry" });
  const telemetry = startTelemetry({ serviceName: "portcullis-gateway", env: source, warn: (message) => logger.warn(message) });
  if (telemetry) logger.info({ traces: telemetry.plan.traces?.protocol ?? "off", metrics: telemetry.plan.metrics?.protocol ?? "off" }, "OpenTelemetry export on");
  return { shutdown: () => telemetry?.shutdown() ?? Promise.resolve() };
}
