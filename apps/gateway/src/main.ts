import cluster from "node:cluster";
import { runPrimary, serveAggregatedMetrics } from "./cluster.js";
import { loadGatewayEnv } from "./env.js";
import { createGateway } from "./gateway.js";
import { createLogger } from "./logger.js";

const env = loadGatewayEnv();
const processes = env.GATEWAY_PROCESSES ?? 1;

if (processes > 1 && cluster.isPrimary) {
  runPrimary({
    processes,
    logger: createLogger(env.LOG_LEVEL, { role: "primary" }),
    shutdownGraceMs: env.GATEWAY_SHUTDOWN_GRACE_MS,
  });
} else {
  await startGateway();
}

async function startGateway(): Promise<void> {
  const inCluster = cluster.isWorker;
  const gateway = createGateway(
    env,
    inCluster ? { logger: createLogger(env.LOG_LEVEL, { process: cluster.worker?.id }) } : {},
  );
  if (inCluster) serveAggregatedMetrics(gateway.services.metrics.registry, gateway.logger);
  // Handlers before start: a stop that arrives while starting (a cluster primary stopping right after
  // replacing a crashed process) waits for the start, then drains, instead of dying with an owned journal.
  const started = gateway.start();

  let stopping = false;
  // In a cluster the primary turns SIGINT and SIGTERM into SIGTERM for each process; a terminal's Ctrl-C
  // also reaches the workers directly (same process group), which would count as a second signal.
  if (inCluster) process.on("SIGINT", () => {});
  for (const signal of inCluster ? (["SIGTERM"] as const) : (["SIGTERM", "SIGINT"] as const)) {
    process.on(signal, () => {
      // A second signal, or a stop that outlives the grace, still exits: every answered call's audit
      // event is already fdatasync'd in the journal, which the next instance adopts.
      if (stopping) {
        gateway.logger.warn({ signal }, "second signal: exiting now");
        process.exit(1);
      }
      stopping = true;
      setTimeout(() => {
        gateway.logger.error("shutdown outlived its grace; exiting");
        process.exit(1);
      }, env.GATEWAY_SHUTDOWN_GRACE_MS + 10_000).unref();
      gateway.logger.info({ signal }, "shutting down");
      started
        .catch(() => {})
        .then(() => gateway.stop())
        .then(
          () => process.exit(0),
          (error: unknown) => {
            gateway.logger.error({ err: error }, "shutdown failed");
            process.exit(1);
          },
        );
    });
  }
  await started;
}
