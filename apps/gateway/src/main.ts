import { loadGatewayEnv } from "./env.js";
import { createGateway } from "./gateway.js";

const env = loadGatewayEnv();
const gateway = createGateway(env);
await gateway.start();

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
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
