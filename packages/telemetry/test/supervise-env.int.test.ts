import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, test } from "vitest";

// scripts/up.sh exports .env (set -a) under the caller's own variables and hands the apps to
// scripts/supervise.mjs: every OTEL_* variable must reach every app the supervisor starts.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("supervise.mjs passes every OTEL_* variable to web, gateway and worker", async () => {
  dir = await mkdtemp(path.join(tmpdir(), "otel-supervise-"));
  // Each stand-in app writes the OTEL_* variables it was started with, then stays up until stopped.
  const script = `require("fs").writeFileSync(process.argv[1], JSON.stringify(Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("OTEL_"))))); setInterval(() => {}, 1000);`;
  const app = (name: string, stopGroup: number) => ({ name, command: [process.execPath, "-e", script, path.join(dir!, `${name}.json`)], cwd: ROOT, stopGroup, graceMs: 2000 });
  const config = path.join(dir, "supervise.json");
  await writeFile(config, JSON.stringify({ logDir: path.join(dir, "logs"), apps: [app("web", 1), app("gateway", 1), app("worker", 2)], stores: [] }));
  const otel = {
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector.example:4318",
    OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20t0ken,x-tenant=acme",
    OTEL_SERVICE_NAME: "portcullis-staging",
    OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=staging",
    OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
    OTEL_TRACES_SAMPLER_ARG: "0.5",
    OTEL_PORTCULLIS_DB_QUERY_TEXT: "true",
  };
  const supervisor = spawn(process.execPath, [path.join(ROOT, "scripts/supervise.mjs"), config], { cwd: ROOT, env: { ...process.env, ...otel }, stdio: "ignore" });
  const exited = new Promise<number | null>((resolve) => supervisor.once("exit", (code) => resolve(code)));
  try {
    for (const name of ["web", "gateway", "worker"]) {
      const file = path.join(dir, `${name}.json`);
      const deadline = Date.now() + 15_000;
      let seen: Record<string, string> | undefined;
      while (!seen) {
        seen = await readFile(file, "utf8").then((t) => JSON.parse(t) as Record<string, string>, () => undefined);
        if (!seen && Date.now() > deadline) throw new Error(`${name} never started`);
        if (!seen) await new Promise((r) => setTimeout(r, 100));
      }
      expect(seen, name).toMatchObject(otel);
    }
  } finally {
    supervisor.kill("SIGTERM");
    expect(await exited).toBe(0);
  }
});
