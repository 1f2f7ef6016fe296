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
  type?: string;
  pem?: string;
  publicSSH?: Uint8Array;
}

let running = 0;
const waiting: (() => void)[] = [];

async function slot(): Promise<() => void> {
  if (running >= MAX_WORKERS) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  return () => {
    running--;
    waiting.shift()?.();
  };
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

/** Opens the key on a worker thread (at most MAX_WORKERS at a time); never on the calling thread. */
export async function openKeyOnWorker(text: string, passphrase: string): Promise<OpenedKey> {
  const ssh2 = ssh2Location();
  if (ssh2 instanceof Error) return { workerFailed: true, error: ssh2.message };
  const release = await slot();
  try {
    return await runWorker(ssh2, text, passphrase);
  } finally {
    release();
  }
}
