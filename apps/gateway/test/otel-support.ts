import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@portcullis/db/testing";
import type { GatewayEnv } from "../src/env.js";
import { waitForHealthz } from "./child-gateway.js";

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/main.ts");

/**
 * The gateway as its own process (src/main.ts, as `pnpm start`), with variables the GatewayEnv does not
 * hold (OTEL_*, which the SDK reads from the process): telemetry is process-wide, so each
 * configuration needs a process of its own. OTEL_* of the test's own environment are not inherited.
 */
export async function spawnTracedGateway(env: GatewayEnv, extra: Record<string, string>): Promise<{ url: string; child: ChildProcess; stop(): Promise<number | null> }> {
  const port = await freePort();
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("OTEL_")) vars[k] = v;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) vars[k] = Array.isArray(v) ? v.join(",") : String(v);
  // OTEL_BENCH_NODE_ARGS: extra node flags for measurements by hand (e.g. --cpu-prof, refused in NODE_OPTIONS).
  const nodeArgs = process.env.OTEL_BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", MAIN], {
    env: { ...vars, ...extra, GATEWAY_PORT: String(port), GATEWAY_HOST: "127.0.0.1" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHealthz(url, child);
  return {
    url,
    child,
    stop() {
      if (child.exitCode !== null) return Promise.resolve(child.exitCode);
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      return exited;
    },
  };
}
