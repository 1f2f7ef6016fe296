import cluster from "node:cluster";
import { PRIMARY_FORCE, PRIMARY_STOP, runPrimary, serveAggregatedMetrics } from "./cluster.js";
import { loadGatewayEnv, loadOtelEnv } from "./env.js";
import { createGateway } from "./gateway.js";
import { createLogger } from "./logger.js";
import { startGatewayTelemetry } from "./telemetry/start.js";

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
  const telemetry = startGatewayTelemetry(env, loadOtelEnv());
  const gateway = createGateway(
    env,
    inCluster ? { logger: createLogger(env.LOG_LEVEL, { process: cluster.worker?.id }) } : {},
  );
  if (inCluster) serveAggregatedMetrics(gateway.services.metrics.registry, gateway.logger);
  // Handlers before start: a stop that arrives while starting (a cluster primary stopping right after
  // replacing a crashed process) waits for the start, then drains, instead of dying with an owned journal.
  const started = gateway.start();

  let stopping = false;
  let signalled = false;
  const shutdown = (reason: string, bySignal: boolean) => {
    // A second signal, or a stop that outlives the grace, still exits: every answered call's audit
    // event is already fdatasync'd in the journal, which the next instance adopts. Only a second
    // SIGNAL counts: in a cluster the primary's stop message and a signal to the whole process group
    // are one stop, and they arrive in either order.
    if (stopping) {
      if (bySignal && signalled) {
        gateway.logger.warn({ reason }, "second stop request: exiting now");
        process.exit(1);
      }
      signalled ||= bySignal;
      return;
    }
    stopping = true;
    signalled = bySignal;
    setTimeout(() => {
      gateway.logger.error("shutdown outlived its grace; exiting");
      process.exit(1);
    }, env.GATEWAY_SHUTDOWN_GRACE_MS + 10_000).unref();
    gateway.logger.info({ reason }, "shutting down");
    started
      .catch(() => {})
      .then(() => gateway.stop())
      .then(() => telemetry.shutdown())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          gateway.logger.error({ err: error }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => shutdown(signal, true));
  if (inCluster) {
    // The primary asks over IPC, not by signal: a signal to the whole process group (a terminal's
    // Ctrl-C, scripts/supervise.mjs, tini -g) already reached this process, and the primary's request
    // must not count as the second signal that means "exit now".
    process.on("message", (message: unknown) => {
      const type = (message as { type?: unknown } | null)?.type;
      if (type === PRIMARY_STOP && !stopping) shutdown("primary: stop", false);
      else if (type === PRIMARY_FORCE) {
        gateway.logger.warn("primary: second signal: exiting now");
        process.exit(1);
      }
    });
  }
  await started;
}
