import { startWorker } from "./app.js";
import { describeEnv, loadWorkerEnv } from "./env.js";
import { createLogger } from "./logger.js";
import { otelEnvironment, startTelemetry } from "@portcullis/telemetry";

// Entry point: `tsx apps/worker/src/main.ts`. Invalid configuration stops here with a readable list.
let env;
try {
  env = loadWorkerEnv();
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
const logger = createLogger(env.LOG_LEVEL);
logger.info(describeEnv(env), "configuration");
// OpenTelemetry when an OTLP endpoint is set (OTEL_* variables); before the workers, whose jobs it traces.
const telemetry = startTelemetry({
  serviceName: "portcullis-worker",
  env: otelEnvironment(),
  warn: (message) => logger.warn(message),
});
const worker = await startWorker(env, { logger });

// SIGTERM/SIGINT: finish the batches in flight, then exit. A second signal exits at once; a stuck
// shutdown is cut off after 30 s (the jobs it held return to the queue via the stalled check).
let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    const force = setTimeout(() => {
      logger.error("shutdown took too long; exiting");
      process.exit(1);
    }, 30_000);
    force.unref();
    worker
      .close()
      .then(() => telemetry?.shutdown())
      .then(
        () => process.exit(0),
        (error) => {
          logger.error({ err: error }, "shutdown failed");
          process.exit(1);
        },
      );
  });
}
process.on("unhandledRejection", (error) => logger.error({ err: error }, "unhandled rejection"));
