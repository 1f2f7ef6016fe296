import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

/**
 * Opens passphrase-protected keys on worker threads. The worker is plain CommonJS given as text and
 * loads ssh2 by absolute path, so it needs no file of ours on disk — but it does need ssh2's real path,
 * found at run time: in Next's webpack server build a static `createRequire(import.meta.url).resolve`
 * is rewritten to webpack's registry and answers a module id (the dashboard's key worker then failed
 * and every protected key was refused there).
 */

const WORKER_TIMEOUT_MS = 60_000;
// Each open of a 256-round key is seconds of a core: a burst of them (many connections tested at once)
// must not take every core of the gateway.
const MAX_WORKERS = 2;

type NodeRequire = { resolve(id: string): string };

// Node's own createRequire fetched at run time, which no bundler rewrites.
function nodeCreateRequire(): ((from: string) => NodeRequire) | undefined {
  const module = process.getBuiltinModule?.("node:module") as { createRequire?: (from: string) => NodeRequire } | undefined;
  return module?.createRequire;
}

// Where to look from: this file where it is on disk (tsx, node; a bundle keeps its build-time path,
// right whenever the tree is where it was built), else the process's directory, through
// @portcullis/db's real location (ssh2 is its dependency, not the dashboard's).
function origins(): string[] {
  const out: string[] = [];
  try {
    if (import.meta.url.startsWith("file:")) out.push(fileURLToPath(import.meta.url));
  } catch {
    // import.meta.url replaced by something that is not a URL: the other origins still apply.
  }
  out.push(path.join(process.cwd(), "index.js"));
  return out;
}

let found: string | undefined;

/** ssh2's entry file on disk, or an Error saying where it was looked for. */
export function ssh2Location(): string | Error {
  if (found) return found;
  const createRequire = nodeCreateRequire();
  if (!createRequire) return new Error("Cannot find module 'ssh2': this Node has no process.getBuiltinModule");
  const misses: string[] = [];
  for (const origin of origins()) {
    for (const via of [[], ["@portcullis/db"]]) {
      try {
        let from = origin;
        for (const id of via) from = createRequire(from).resolve(id);
        const entry = createRequire(from).resolve("ssh2");
        if (typeof entry === "string" && path.isAbsolute(entry) && existsSync(entry)) return (found = entry);
        misses.push(`${from}: ${String(entry)}`);
      } catch (error) {
        misses.push(`${origin}${via.length ? ` via ${via.join(", ")}` : ""}: ${(error as { code?: string }).code ?? "not found"}`);
      }
    }
  }
  return new Error(`Cannot find module 'ssh2' on disk (${misses.join("; ")})`);
}

// Runs in the worker: opens the key and hands back what the main thread can re-parse cheaply.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
let utils;
try {
  utils = require(workerData.ssh2).utils;
} catch (error) {
  parentPort.postMessage({ workerFailed: true, error: String(error && error.message) });
}
if (utils) {
  let key;
  try {
    const parsed = utils.parseKey(workerData.text, workerData.passphrase);
    key = Array.isArray(parsed) ? parsed[0] : parsed;
  } catch (error) {
    key = error instanceof Error ? error : new Error(String(error));
  }
  if (!key || key instanceof Error) parentPort.postMessage({ error: key ? key.message : "no key" });
  else parentPort.postMessage({ type: key.type, pem: key.getPrivatePEM(), publicSSH: key.getPublicSSH() });
}
`;

export interface OpenedKey {
  error?: string;
  /** Set when no worker could run: the key was not looked at. */
  workerFailed?: boolean;
  /** Set when the key was refused for want of a worker (queue full or waited too long), not looked at. */
  busy?: boolean;
  type?: string;
  pem?: string;
  publicSSH?: Uint8Array;
}

/** Refused at once: this owner already has MAX_QUEUED_PER_OWNER keys waiting for a worker. */
export const KEY_QUEUE_FULL = "too many SSH keys being opened for this connection; try again";
/** Refused after waiting QUEUE_WAIT_MS for a worker without getting one. */
export const KEY_QUEUE_TIMEOUT = "the SSH key waited too long for a key worker on this server; try again";

// The two workers are shared by every tenant: one owner's keys may not hold them for the others. Each
// owner (a connection) has its own queue, bounded, and a freed worker serves the waiting owner with the
// fewest jobs on the workers (in turn among equals): a newcomer's key waits for about one key's work,
// never behind another owner's burst.
const MAX_QUEUED_PER_OWNER = 8;
const QUEUE_WAIT_MS = 20_000;

interface Waiter {
  grant: (release: () => void) => void;
  timer: NodeJS.Timeout;
}

let running = 0;
let started = 0;
// Jobs on a worker now, per owner: a freed worker goes to the waiting owner with the fewest.
const runningBy = new Map<string, number>();
// Ties go in map order, the round-robin order: an owner served goes to the back (see next()).
const queues = new Map<string, Waiter[]>();

/** Worker jobs started by this process (tests count them to prove one open per cached key). */
export function keyWorkerJobsStarted(): number {
  return started;
}

function take(owner: string): () => void {
  running++;
  runningBy.set(owner, (runningBy.get(owner) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    running--;
    const left = runningBy.get(owner)! - 1;
    if (left > 0) runningBy.set(owner, left);
    else runningBy.delete(owner);
    next();
  };
}

function next(): void {
  while (running < MAX_WORKERS && queues.size > 0) {
    let chosen: string | undefined;
    let fewest = Infinity;
    for (const owner of queues.keys()) {
      const busy = runningBy.get(owner) ?? 0;
      if (busy < fewest) [chosen, fewest] = [owner, busy];
    }
    const queue = queues.get(chosen!)!;
    queues.delete(chosen!);
    const waiter = queue.shift()!;
    if (queue.length > 0) queues.set(chosen!, queue);
    clearTimeout(waiter.timer);
    waiter.grant(take(chosen!));
  }
}

/** A worker slot for `owner` (released by the returned function), or the words of a refusal. */
function slot(owner: string): Promise<(() => void) | string> {
  if (running < MAX_WORKERS && queues.size === 0) return Promise.resolve(take(owner));
  const queue = queues.get(owner) ?? [];
  if (queue.length >= MAX_QUEUED_PER_OWNER) return Promise.resolve(KEY_QUEUE_FULL);
  return new Promise((resolve) => {
    const waiter: Waiter = {
      grant: (release) => resolve(release),
      timer: setTimeout(() => {
        const mine = queues.get(owner);
        const at = mine?.indexOf(waiter) ?? -1;
        if (mine && at >= 0) {
          mine.splice(at, 1);
          if (mine.length === 0) queues.delete(owner);
        }
        resolve(KEY_QUEUE_TIMEOUT);
      }, QUEUE_WAIT_MS),
    };
    waiter.timer.unref?.();
    queue.push(waiter);
    if (!queues.has(owner)) queues.set(owner, queue);
  });
}

function runWorker(ssh2: string, text: string, passphrase: string): Promise<OpenedKey> {
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ssh2, text, passphrase } });
    } catch (error) {
      resolve({ workerFailed: true, error: (error as Error).message });
      return;
    }
    let done = false;
    const finish = (result: OpenedKey) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void worker.terminate();
      resolve(result);
    };
    // terminate() stops even a synchronous bcrypt loop.
    const timer = setTimeout(() => finish({ error: "opening the key took too long" }), WORKER_TIMEOUT_MS);
    worker.once("message", (message: OpenedKey) => finish(message));
    worker.once("error", (error) => finish({ workerFailed: true, error: error.message }));
    worker.once("exit", (code) => finish({ workerFailed: true, error: `the key worker exited (code ${code}) without an answer` }));
  });
}

/**
 * Opens the key on a worker thread (at most MAX_WORKERS at a time, owners served in turn); never on the
 * calling thread. `owner` is whose queue the job waits in (a connection id); keys without one share a queue.
 */
export async function openKeyOnWorker(text: string, passphrase: string, owner = ""): Promise<OpenedKey> {
  const ssh2 = ssh2Location();
  if (ssh2 instanceof Error) return { workerFailed: true, error: ssh2.message };
  const release = await slot(owner);
  if (typeof release === "string") return { error: release, busy: true };
  started++;
  try {
    return await runWorker(ssh2, text, passphrase);
  } finally {
    release();
  }
}
