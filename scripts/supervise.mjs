// The quick-start stack's supervisor (scripts/up.sh execs it; plain Node, no dependencies).
// `node scripts/supervise.mjs CONFIG.json`
//
// - Runs each app in its own process group (a terminal Ctrl-C reaches only this process, so the stop
//   order below is ours and not the kernel's), logs it to <logDir>/<name>.log and, once echo is on
//   (config `echo`, or once up.sh's readiness printout, PORTCULLIS_READY_PID, has finished), to the
//   terminal with a prefix; a stop ends that printout's process group too.
// - Restarts an app that exits on its own with exponential backoff (reset after a long enough run);
//   the other apps keep serving. Repeated quick exits are reported as a crash loop with the log's tail.
// - Watches the stores up.sh started itself (pid file) and restarts them with their own start command.
// - SIGTERM / SIGINT / SIGHUP: apps stop by group (web and gateway, then the worker), each given its
//   grace period before SIGKILL, then the stores in the order listed. A second signal forces.
import { spawn } from "node:child_process";
import { appendFileSync, createWriteStream, mkdirSync, readFileSync, statSync, openSync, readSync, closeSync } from "node:fs";
import path from "node:path";

const fail = (message) => {
  process.stderr.write(`supervise: ${message}\n`);
  process.exit(2);
};

/** The config is written by up.sh (or a test); a wrong one stops here with the reason. */
function parseConfig(raw) {
  const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  const strings = (v, where) => {
    if (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === "string")) fail(`${where} must be a non-empty array of strings`);
    return v;
  };
  const num = (v, fallback, where) => {
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) fail(`${where} must be a number >= 0`);
    return v;
  };
  const name = (v, where) => {
    if (typeof v !== "string" || !/^[a-z][a-z0-9-]*$/.test(v)) fail(`${where} must be a lower-case name`);
    return v;
  };
  if (!isObj(raw)) fail("config must be a JSON object");
  if (typeof raw.logDir !== "string" || raw.logDir === "") fail("logDir is required");
  const backoff = isObj(raw.backoff) ? raw.backoff : {};
  const apps = (Array.isArray(raw.apps) ? raw.apps : fail("apps must be an array")).map((a, i) => {
    if (!isObj(a)) fail(`apps[${i}] must be an object`);
    const env = a.env === undefined ? {} : a.env;
    if (!isObj(env) || !Object.values(env).every((v) => typeof v === "string")) fail(`apps[${i}].env must map names to strings`);
    return {
      name: name(a.name, `apps[${i}].name`),
      command: strings(a.command, `apps[${i}].command`),
      cwd: typeof a.cwd === "string" ? a.cwd : process.cwd(),
      env,
      stopGroup: num(a.stopGroup, 1, `apps[${i}].stopGroup`),
      graceMs: num(a.graceMs, 10_000, `apps[${i}].graceMs`),
    };
  });
  const stores = (raw.stores ?? []).map((s, i) => {
    if (!isObj(s)) fail(`stores[${i}] must be an object`);
    if (typeof s.pidFile !== "string") fail(`stores[${i}].pidFile is required`);
    return {
      name: name(s.name, `stores[${i}].name`),
      pidFile: s.pidFile,
      start: strings(s.start, `stores[${i}].start`),
      stop: strings(s.stop, `stores[${i}].stop`),
      stopTimeoutMs: num(s.stopTimeoutMs, 30_000, `stores[${i}].stopTimeoutMs`),
    };
  });
  const names = [...apps, ...stores].map((u) => u.name);
  if (new Set(names).size !== names.length) fail("app and store names must be unique");
  return {
    logDir: raw.logDir,
    echo: raw.echo === true,
    backoff: {
      initialMs: num(backoff.initialMs, 1000, "backoff.initialMs"),
      maxMs: num(backoff.maxMs, 30_000, "backoff.maxMs"),
      resetAfterMs: num(backoff.resetAfterMs, 60_000, "backoff.resetAfterMs"),
    },
    crashLoopAfter: num(raw.crashLoopAfter, 3, "crashLoopAfter"),
    watchEveryMs: num(raw.watchEveryMs, 1000, "watchEveryMs"),
    apps,
    stores,
  };
}

if (!process.argv[2]) fail("usage: node scripts/supervise.mjs CONFIG.json");
let rawConfig;
try {
  rawConfig = JSON.parse(readFileSync(process.argv[2], "utf8"));
} catch (error) {
  fail(`cannot read ${process.argv[2]}: ${error.message}`);
}
const config = parseConfig(rawConfig);
// Logs hold SQL text (the gateway logs an event it could not journal): private whatever the umask.
mkdirSync(config.logDir, { recursive: true, mode: 0o700 });
const supervisorLog = path.join(config.logDir, "supervisor.log");

const tty = process.stdout.isTTY;
const paint = (code, text) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
const clock = () => new Date().toISOString().slice(11, 23);
// The terminal can go away under us (an SSH session drops, `up.sh | head` exits): writes then fail
// with EPIPE/EIO. From then on lines go to the log only; the stack keeps running (or stopping).
let terminalGone = false;
const loseTerminal = () => {
  terminalGone = true;
};
process.stdout.on("error", loseTerminal);
process.stderr.on("error", loseTerminal);
/** One line per event, on the terminal and in <logDir>/supervisor.log (tests read the terminal). */
function say(level, message) {
  const mark = level === "error" ? paint("1;31", "✗") : level === "warn" ? paint("1;33", "!") : paint("1;34", "▸");
  if (!terminalGone) {
    try {
      process.stdout.write(`${mark} ${clock()} ${message}\n`);
    } catch {
      terminalGone = true;
    }
  }
  try {
    appendFileSync(supervisorLog, `${new Date().toISOString()} ${level} ${message}\n`, { mode: 0o600 });
  } catch {
    // the log is a convenience; the terminal has the line
  }
}
const seconds = (ms) => `${Number((ms / 1000).toFixed(ms < 10_000 ? 2 : 0))} s`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// A daemonised store that died is the init process's child: until init reaps it (slowly in some
// containers) it is a zombie that kill(pid, 0) still finds. A zombie is dead.
const zombie = (pid) => {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};
const alive = (pid) => {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return error.code === "EPERM";
  }
  return !zombie(pid);
};

/** The last lines of a log, for a crash-loop report (read from the end: logs grow large). */
function tail(file, lines = 15) {
  try {
    const size = statSync(file).size;
    const length = Math.min(size, 16_384);
    const buffer = Buffer.alloc(length);
    const fd = openSync(file, "r");
    readSync(fd, buffer, 0, length, size - length);
    closeSync(fd);
    return buffer.toString("utf8").split("\n").filter(Boolean).slice(-lines);
  } catch {
    return [];
  }
}

let echo = config.echo;
let stopping = false;

const delayFor = (failures) => Math.min(config.backoff.initialMs * 2 ** Math.max(0, failures - 1), config.backoff.maxMs);

// ── Apps ────────────────────────────────────────────────────────────────────────────────────────
const COLORS = ["36", "35", "32", "33", "34"];
const apps = config.apps.map((spec, i) => ({
  spec,
  color: COLORS[i % COLORS.length],
  logFile: path.join(config.logDir, `${spec.name}.log`),
  child: undefined,
  startedAt: 0,
  failures: 0,
  starts: 0,
  timer: undefined,
  exited: undefined,
}));

function pipeLines(app, stream, log) {
  let rest = "";
  stream.on("data", (chunk) => {
    log.write(chunk);
    if (!echo || terminalGone) return;
    const text = rest + chunk.toString("utf8");
    const lines = text.split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) process.stdout.write(`${paint(app.color, `[${app.spec.name}]`)} ${line}\n`);
  });
}

function startApp(app) {
  app.timer = undefined;
  if (stopping) return;
  const log = createWriteStream(app.logFile, { flags: "a", mode: 0o600 });
  const child = spawn(app.spec.command[0], app.spec.command.slice(1), {
    cwd: app.spec.cwd,
    env: { ...process.env, ...app.spec.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  app.child = child;
  app.startedAt = Date.now();
  app.starts += 1;
  let settle;
  app.exited = new Promise((resolve) => (settle = resolve));
  pipeLines(app, child.stdout, log);
  pipeLines(app, child.stderr, log);
  let done = false;
  const onEnd = (code, signal, error) => {
    if (done) return;
    done = true;
    log.end();
    app.child = undefined;
    settle({ code, signal });
    if (!stopping) scheduleRestart(app, code, signal, error);
  };
  child.once("error", (error) => onEnd(null, null, error));
  child.once("exit", (code, signal) => onEnd(code, signal));
  if (child.pid) say("info", `${app.spec.name} ${app.starts === 1 ? "started" : "restarted"} (pid ${child.pid}${app.starts === 1 ? "" : `, start ${app.starts}`})`);
}

function scheduleRestart(app, code, signal, error) {
  const ran = Date.now() - app.startedAt;
  if (ran >= config.backoff.resetAfterMs) app.failures = 0;
  app.failures += 1;
  const delay = delayFor(app.failures);
  const how = error ? `could not start (${error.message})` : signal ? `was killed (${signal})` : `exited with code ${code}`;
  const looping = app.failures > config.crashLoopAfter ? ` (crash loop: ${app.failures} quick exits in a row; ${app.logFile})` : "";
  say("error", `${app.spec.name} ${how} after ${seconds(ran)}; restarting in ${seconds(delay)} — the other apps keep serving${looping}`);
  // The log's tail once, when the loop is recognised; later exits say so on their one line.
  if (app.failures === config.crashLoopAfter) {
    say("error", `${app.spec.name} is crash-looping: ${app.failures} quick exits in a row (backoff up to ${seconds(config.backoff.maxMs)}); last lines of ${app.logFile}:`);
    for (const line of tail(app.logFile)) process.stdout.write(`    ${line}\n`);
  }
  app.timer = setTimeout(() => startApp(app), delay);
}

function signalGroup(app, signal) {
  const pid = app.child?.pid;
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

async function stopApp(app, force) {
  clearTimeout(app.timer);
  app.timer = undefined;
  if (!app.child) return;
  const began = Date.now();
  signalGroup(app, force ? "SIGKILL" : "SIGTERM");
  const timedOut = Symbol("timeout");
  let result = await Promise.race([app.exited, sleep(force ? 5000 : app.spec.graceMs).then(() => timedOut)]);
  if (result === timedOut) {
    say("warn", `${app.spec.name} did not stop within its ${seconds(app.spec.graceMs)} grace period; killing it`);
    signalGroup(app, "SIGKILL");
    result = await app.exited;
  }
  const how = result.signal ? `signal ${result.signal}` : `exit ${result.code}`;
  say("info", `${app.spec.name} stopped (${how}, ${seconds(Date.now() - began)})`);
}

// ── Stores ──────────────────────────────────────────────────────────────────────────────────────
function readPid(file) {
  try {
    const pid = Number(readFileSync(file, "utf8").split("\n")[0].trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

const stores = config.stores.map((spec) => ({ spec, pid: readPid(spec.pidFile), failures: 0, restarting: undefined, downSince: 0 }));

/** Runs a store's start/stop command; resolves with its exit code and its output (for the report). */
function run(command) {
  return new Promise((resolve) => {
    const child = spawn(command[0], command.slice(1), { env: process.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.once("error", (error) => resolve({ code: -1, output: error.message }));
    child.once("exit", (code) => resolve({ code: code ?? -1, output }));
  });
}

function restartStore(store) {
  // Kept so that a stop arriving meanwhile waits for the start under way, then stops what it started.
  store.restarting = startStore(store).finally(() => {
    store.restarting = undefined;
  });
}

async function startStore(store) {
  store.downSince = Date.now();
  say("error", `${store.spec.name} is down (pid ${store.pid ?? "?"} gone); restarting it — apps retry their connections meanwhile`);
  while (!stopping) {
    const { code, output } = await run(store.spec.start);
    const pid = readPid(store.spec.pidFile);
    if (stopping) break;
    if (code === 0 && pid && alive(pid)) {
      store.pid = pid;
      store.failures = 0;
      say("info", `${store.spec.name} restarted (pid ${pid}) after ${seconds(Date.now() - store.downSince)} down`);
      break;
    }
    store.failures += 1;
    const delay = delayFor(store.failures);
    say("error", `${store.spec.name} did not start (exit ${code}); retrying in ${seconds(delay)}${output.trim() ? `: ${output.trim().split("\n").slice(-3).join(" | ")}` : ""}`);
    // A stop must not wait out the backoff.
    for (const until = Date.now() + delay; !stopping && Date.now() < until; ) await sleep(100);
  }
}

const watch = setInterval(() => {
  if (stopping) return;
  for (const store of stores) {
    if (store.restarting) continue;
    // The pid file is re-read each time: a store restarted outside us (pg_ctl restart) is adopted.
    const pid = readPid(store.spec.pidFile);
    if (pid && alive(pid)) {
      store.pid = pid;
      continue;
    }
    restartStore(store);
  }
}, config.watchEveryMs);

async function stopStore(store, force) {
  const began = Date.now();
  if (store.restarting) await store.restarting;
  const pid = store.pid ?? readPid(store.spec.pidFile);
  const { code } = await run(store.spec.stop);
  const deadline = Date.now() + (force ? 5000 : store.spec.stopTimeoutMs);
  while (pid && alive(pid) && Date.now() < deadline) await sleep(50);
  if (pid && alive(pid)) say("warn", `${store.spec.name} (pid ${pid}) still running after its stop command (exit ${code})`);
  else say("info", `${store.spec.name} stopped (${seconds(Date.now() - began)})`);
}

// ── Shutdown ────────────────────────────────────────────────────────────────────────────────────
let forced = false;
async function stopAll(signal) {
  say("info", `${signal}: stopping — apps first (web and gateway, then the worker), then the stores; a second Ctrl-C forces`);
  clearInterval(watch);
  stopReady();
  const groups = [...new Set(apps.map((a) => a.spec.stopGroup))].sort((a, b) => a - b);
  for (const group of groups) {
    const members = apps.filter((a) => a.spec.stopGroup === group);
    const running = members.filter((a) => a.child);
    if (running.length > 0) say("info", `stopping ${running.map((a) => a.spec.name).join(" and ")}`);
    await Promise.all(members.map((a) => stopApp(a, forced)));
  }
  for (const store of stores) {
    say("info", `stopping ${store.spec.name}`);
    await stopStore(store, forced);
  }
  say("info", "stopped");
}

function onSignal(signal) {
  if (!stopping) {
    stopping = true;
    void stopAll(signal).then(
      () => process.exit(forced ? 1 : 0),
      (error) => {
        say("error", `shutdown failed: ${error.stack ?? error}`);
        process.exit(1);
      },
    );
    return;
  }
  if (forced) return;
  forced = true;
  say("warn", `${signal} again: forcing — apps still running are killed now`);
  for (const app of apps) signalGroup(app, "SIGKILL");
}
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, () => onSignal(signal));
// up.sh's readiness checks and printout run beside us in a process group of their own (it forked them
// before becoming this process). The apps' output joins the terminal once they are done, not before
// (it would bury the printout); a stop ends them with whatever they run.
const readyPid = Number(process.env.PORTCULLIS_READY_PID) || undefined;
delete process.env.PORTCULLIS_READY_PID;
const readyWatch = readyPid
  ? setInterval(() => {
      if (alive(readyPid)) return;
      clearInterval(readyWatch);
      echo = true;
    }, 200)
  : undefined;
function stopReady() {
  clearInterval(readyWatch);
  if (!readyPid || !alive(readyPid)) return;
  try {
    process.kill(-readyPid, "SIGTERM");
  } catch {
    // already gone
  }
}
// A supervisor that dies some other way must not leave its apps running unseen in their own groups.
process.on("exit", () => {
  stopReady();
  for (const app of apps) signalGroup(app, "SIGTERM");
});
process.on("uncaughtException", (error) => {
  // A failed terminal write is not a reason to stop the stack (see loseTerminal).
  if (["EPIPE", "EIO", "ERR_STREAM_DESTROYED"].includes(error?.code)) {
    terminalGone = true;
    return;
  }
  say("error", `supervisor error: ${error.stack ?? error}`);
  if (!stopping) onSignal("error");
});

for (const store of stores) {
  if (!store.pid || !alive(store.pid)) say("warn", `${store.spec.name} is not running yet (${store.spec.pidFile}); it will be started`);
}
for (const app of apps) startApp(app);
