#!/usr/bin/env node
// `pnpm bench` part: the quick start's wall time, as a new user meets it. Cold = a fresh `git clone` of
// this repository, then the README's quick start command (`bash scripts/up.sh`) until it prints that
// Portcullis is ready: pnpm install (from the local store), Prisma client generation, initdb, migrations,
// the demo seed (Chinook), the dashboard's `next build`, the apps starting, and the wait for the demo's
// schema snapshot and descriptions. Warm = stop it (Ctrl-C, as a user would) and run the same command again in that clone.
// The clone gets its own ports (its own .data, being its own checkout), so a running stack is untouched.
// The PATH holds Node.js, npm and the system's tools only, as on a fresh machine.
import { spawn, execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..");
// up.sh's last line once it has printed the configs and its verdict ("▸ ready: …" or "started with warnings").
const READY = /Ctrl-C stops everything/;
const BUDGET_MS = Number(process.env.QUICKSTART_BENCH_TIMEOUT_MS ?? 20 * 60_000);
// up.sh colours its "▸" lines; ESC is built from its code so the pattern holds no control character.
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const BASIC_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function stackEnv() {
  const [pg, redis, web, gateway, internal, worker] = await Promise.all(Array.from({ length: 6 }, freePort));
  return {
    PATH: BASIC_PATH,
    HOME: process.env.HOME ?? "/root",
    LANG: "C.UTF-8",
    PG_PORT: String(pg),
    REDIS_PORT: String(redis),
    WEB_PORT: String(web),
    WEB_PUBLIC_URL: `http://localhost:${web}`,
    NEXTAUTH_URL: `http://localhost:${web}`,
    GATEWAY_PORT: String(gateway),
    GATEWAY_PUBLIC_URL: `http://localhost:${gateway}`,
    GATEWAY_INTERNAL_PORT: String(internal),
    GATEWAY_INTERNAL_URL: `http://127.0.0.1:${internal}`,
    WORKER_METRICS_PORT: String(worker),
  };
}

/** Runs up.sh in `dir` until it says ready; returns the time and when each of its steps (▸ lines) began. */
function runUntilReady(dir, env, label) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn("bash", ["scripts/up.sh"], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const steps = [];
    let tail = "";
    let done = false;
    const onData = (chunk) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      for (const line of text.split("\n")) {
        const step = line.replace(ANSI, "").match(/▸\s*(.*)$/);
        // The supervisor's own lines carry a clock time; the step is what follows it.
        if (step && !done) steps.push({ at: performance.now() - started, step: step[1].replace(/^\d\d:\d\d:\d\d\.\d+ /, "").trim() });
        if (READY.test(line) && !done) {
          done = true;
          clearTimeout(timer);
          const warned = /started with warnings/.test(tail.replace(ANSI, ""));
          resolve({ child, ms: performance.now() - started, steps, warned });
        }
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ }
      reject(new Error(`${label}: up.sh did not say ready within ${BUDGET_MS / 1000} s; last output:\n${tail}`));
    }, BUDGET_MS);
    child.on("exit", (code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${label}: up.sh exited with ${code} before it was ready; last output:\n${tail}`));
    });
  });
}

/** Ctrl-C, as the README says; the whole group is killed only if up.sh has not stopped within 60 s. */
async function stop(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGINT");
  const timeout = new Promise((resolve) => setTimeout(() => resolve("timeout"), 60_000));
  if ((await Promise.race([exited, timeout])) === "timeout") {
    try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ }
    await exited;
  }
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

function printSteps(steps, total) {
  const rows = steps.map((s, i) => ({ step: s.step, ms: (steps[i + 1]?.at ?? total) - s.at }));
  for (const row of rows.filter((r) => r.ms >= 1000)) console.log(`    ${seconds(row.ms).padStart(8)}  ${row.step}`);
}

const workdir = mkdtempSync(path.join(tmpdir(), "portcullis-quickstart-"));
// mkdtemp makes it 0700; run as root, up.sh runs PostgreSQL as `postgres`, which must reach .data/pg.
chmodSync(workdir, 0o755);
const clone = path.join(workdir, "portcullis");
let child;
try {
  const env = await stackEnv();
  const t0 = performance.now();
  execFileSync("git", ["clone", "--quiet", ROOT, clone], { stdio: "inherit", env: { ...process.env, PATH: BASIC_PATH } });
  const cloneMs = performance.now() - t0;
  const cold = await runUntilReady(clone, env, "cold");
  child = cold.child;
  await stop(child);
  const warm = await runUntilReady(clone, env, "warm");
  child = warm.child;
  await stop(child);
  child = undefined;
  console.log("quick start wall time (`bash scripts/up.sh` until it says ready and prints the configs):");
  for (const [label, run] of [["cold", cold], ["warm", warm]]) if (run.warned) console.log(`  ${label}: up.sh started WITH WARNINGS (not fully ready), timed to that point`);
  console.log(`  cold: ${seconds(cloneMs + cold.ms)}  (git clone ${seconds(cloneMs)} + up.sh ${seconds(cold.ms)}; steps over 1 s:)`);
  printSteps(cold.steps, cold.ms);
  console.log(`  warm: ${seconds(warm.ms)}  (same clone, after Ctrl-C; steps over 1 s:)`);
  printSteps(warm.steps, warm.ms);
  console.log(JSON.stringify({ quickstart: { coldMs: Math.round(cloneMs + cold.ms), cloneMs: Math.round(cloneMs), warmMs: Math.round(warm.ms) } }));
} finally {
  if (child) await stop(child);
  if (process.env.QUICKSTART_BENCH_KEEP !== "1") rmSync(workdir, { recursive: true, force: true });
  else console.log(`kept ${clone}`);
}
