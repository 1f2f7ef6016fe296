/**
 * A load-generating child of gateway.bench.ts: holds some of the 16 concurrent clients, so the
 * throughput phase measures the servers rather than one client process's event loop (the SDK client
 * costs about as much CPU per call as the gateway does). Driven over IPC.
 */
import { connectClient, runUntil, type BenchClient, type TargetSpec } from "./clients.js";

type Command = { cmd: "setup"; spec: TargetSpec; clients: number } | { cmd: "run"; deadline: number } | { cmd: "teardown" } | { cmd: "exit" };

let clients: BenchClient[] = [];

process.on("message", (message: Command) => {
  void (async () => {
    try {
      if (message.cmd === "setup") {
        clients = await Promise.all(Array.from({ length: message.clients }, () => connectClient(message.spec)));
        // Warm up connections, JIT and the server's caches.
        await Promise.all(clients.map(async (c) => {
          for (let i = 0; i < 20; i++) await c.call();
        }));
        process.send!({ ok: true });
      } else if (message.cmd === "run") {
        process.send!({ ok: true, calls: await runUntil(clients, message.deadline) });
      } else if (message.cmd === "teardown") {
        await Promise.all(clients.map((c) => c.close()));
        clients = [];
        process.send!({ ok: true });
      } else {
        process.exit(0);
      }
    } catch (error) {
      process.send!({ ok: false, error: String(error) });
    }
  })();
});
