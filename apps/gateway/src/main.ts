import { loadGatewayEnv } from "./env.js";
import { createGateway } from "./gateway.js";

const env = loadGatewayEnv();
const gateway = createGateway(env);
await gateway.start();

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
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
    gateway.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        gateway.logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  });
}
