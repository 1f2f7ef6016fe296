/**
 * A load-generating child of gateway.bench.ts: holds some of the 16 concurrent clients, so the
 * throughput phase measures the servers rather than one client process's event loop (the SDK client
 * costs about as much CPU per call as the gateway does). Driven over IPC; each client starts at its
 * own call index of the agent mix (`firsts`), so every target gets the same calls.
 */
import { connectClient, runUntil, type BenchClient, type TargetSpec } from "./clients.js";
import { merge, type Outcomes } from "./outcomes.js";

type Command = { cmd: "setup"; spec: TargetSpec; firsts: number[] } | { cmd: "run"; deadline: number } | { cmd: "teardown" } | { cmd: "exit" };

let clients: BenchClient[] = [];
const takeAll = () => clients.reduce<Outcomes>((all, c) => merge(all, c.takeOutcomes()), {});

process.on("message", (message: Command) => {
  void (async () => {
    try {
      if (message.cmd === "setup") {
        clients = await Promise.all(message.firsts.map((first) => connectClient(message.spec, first)));
        // Open the connections (each target has served a warm-up stretch before the first round); not counted.
        await Promise.all(
          clients.map(async (c) => {
            for (let i = 0; i < 5; i++) await c.call();
          }),
        );
        takeAll();
        process.send!({ ok: true });
      } else if (message.cmd === "run") {
        const calls = await runUntil(clients, message.deadline);
        process.send!({ ok: true, calls, outcomes: takeAll() });
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
