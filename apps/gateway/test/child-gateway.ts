import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { freePort } from "@portcullis/db/testing";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { GatewayEnv } from "../src/env.js";

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/main.ts");


export interface ChildGateway {
  url: string;
  child: ChildProcess;
  /** Resident and peak resident memory of the gateway process, in bytes (Linux /proc). */
  memory(): Promise<{ rss: number; peak: number }>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
}

/**
 * The gateway as its own process, started exactly as `pnpm start` does (src/main.ts). `node`: another
 * Node binary to run it on (e.g. e2e/node_modules/node22/bin/node) instead of the test's own.
 */
export async function spawnGateway(env: GatewayEnv, options: { node?: string } = {}): Promise<ChildGateway> {
  const port = await freePort();
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) vars[k] = Array.isArray(v) ? v.join(",") : String(v);
  const child = spawn(options.node ?? process.execPath, ["--import", "tsx", MAIN], {
    env: { ...process.env, ...vars, GATEWAY_PORT: String(port), GATEWAY_HOST: "127.0.0.1" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  // A binary that cannot be started (wrong path) fails here, not as an unhandled error 30 s later.
  let spawnError: Error | undefined;
  child.once("error", (error) => (spawnError = error));
  const url = `http://127.0.0.1:${port}`;
  await waitForHealthz(url, child, () => spawnError);
  return {
    url,
    child,
    async memory() {
      const status = await readFile(`/proc/${child.pid}/status`, "utf8");
      const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
      return { rss: kb("VmRSS"), peak: kb("VmHWM") };
    },
    stop() {
      if (child.exitCode !== null) return Promise.resolve(child.exitCode);
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      return exited;
    },
  };
}

/** Until the gateway child answers /healthz (30 s at most); fails at once if it exits or cannot start. */
export async function waitForHealthz(url: string, child: ChildProcess, spawnError: () => Error | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const failed = spawnError();
    if (failed) throw failed;
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error("gateway did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
}
