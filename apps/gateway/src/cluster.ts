import cluster, { type Worker } from "node:cluster";
import { AggregatorRegistry, type Registry } from "prom-client";
import type { Logger } from "./logger.js";

/**
 * GATEWAY_PROCESSES > 1: the primary only forks and watches; every worker is a whole gateway sharing
 * the listening ports (node:cluster hands accepted connections round robin). Nothing is shared in
 * memory: rate limits, revocations and ended sessions already travel through Redis, and each worker's
 * audit journal is its own directory (named by pid), adopted by a sibling or successor if it dies.
 */

const METRICS_REQUEST = "portcullis:metrics-request";
/** Primary → gateway process: drain and exit (the first stop signal), exit now (the second). */
export const PRIMARY_STOP = "portcullis:stop";
export const PRIMARY_FORCE = "portcullis:force-stop";
const METRICS_REPLY = "portcullis:metrics-reply";
/** A worker that lived this long before crashing starts the backoff afresh. */
const STABLE_AFTER_MS = 30_000;
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 15_000;
/**
 * Processes that died before ever listening, in a row, after which the primary gives up and exits 1:
 * a configuration or environment fault (port taken, database refused) is the orchestrator's to see,
 * not something to retry forever behind a live primary.
 */
export const MAX_FAILED_STARTS = 3;

export interface PrimaryOptions {
  processes: number;
  logger: Logger;
  /** The workers' own drain grace; the primary waits this plus a margin before killing stragglers. */
  shutdownGraceMs: number;
}

/** The restart delay after `crashes` consecutive early crashes of one slot: 250 ms doubling, capped. */
export function restartDelayMs(crashes: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, crashes - 1));
}

export function runPrimary({ processes, logger, shutdownGraceMs }: PrimaryOptions): void {
  const aggregator = new AggregatorRegistry();
  const slots = new Map<number, { slot: number; startedAt: number; listened: boolean }>();
  const crashes = new Array<number>(processes).fill(0);
  let failedStarts = 0;
  let stopping = false;
  let exitCode = 0;

  const fork = (slot: number) => {
    const worker = cluster.fork();
    slots.set(worker.id, { slot, startedAt: Date.now(), listened: false });
    worker.on("message", (message: unknown) => void answerMetrics(worker, message));
  };

  const answerMetrics = async (worker: Worker, message: unknown) => {
    if (!isMessage(message, METRICS_REQUEST)) return;
    const reply = await aggregator.clusterMetrics().then(
      (text) => ({ type: METRICS_REPLY, id: message.id, text }),
      (error: Error) => ({ type: METRICS_REPLY, id: message.id, error: error.message }),
    );
    if (worker.isConnected()) worker.send(reply);
  };

  cluster.on("listening", (worker) => {
    const entry = slots.get(worker.id);
    if (entry && !entry.listened) {
      entry.listened = true;
      failedStarts = 0;
    }
  });

  const stop = (signal: string) => {
    // Passed on over IPC (see main.ts): the first drains, a second makes the processes exit now, as for
    // a single process. A process whose IPC channel is gone gets SIGTERM instead.
    const first = !stopping;
    stopping = true;
    logger.info(
      { signal, processes: slots.size },
      first ? "stopping gateway processes" : "second signal: passing it on",
    );
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (!worker) continue;
      if (worker.isConnected()) worker.send({ type: first ? PRIMARY_STOP : PRIMARY_FORCE });
      else worker.process.kill("SIGTERM");
    }
    if (slots.size === 0) process.exit(exitCode);
    if (first) {
      setTimeout(() => {
        logger.error("gateway processes outlived the shutdown grace; killing them");
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGKILL");
        process.exit(1);
      }, shutdownGraceMs + 15_000).unref();
    }
  };

  cluster.on("exit", (worker, code, signal) => {
    const entry = slots.get(worker.id);
    slots.delete(worker.id);
    if (!entry) return;
    if (stopping) {
      if (code !== 0) exitCode = 1;
      logger.info({ pid: worker.process.pid, slot: entry.slot, code, signal }, "gateway process stopped");
      if (slots.size === 0) process.exit(exitCode);
      return;
    }
    // A crash (or an exit nobody asked for): the listening port stays open in the primary, so only this
    // process's connections were lost; its journal is adopted by a sibling or by its replacement.
    if (!entry.listened && ++failedStarts >= MAX_FAILED_STARTS) {
      logger.fatal(
        { failedStarts },
        "gateway processes keep failing before they listen (their errors are above); giving up",
      );
      exitCode = 1;
      stop("failed starts");
      return;
    }
    crashes[entry.slot] = Date.now() - entry.startedAt > STABLE_AFTER_MS ? 1 : crashes[entry.slot]! + 1;
    const delay = restartDelayMs(crashes[entry.slot]!);
    logger.error(
      { pid: worker.process.pid, slot: entry.slot, code, signal, restartInMs: delay },
      "gateway process exited; restarting",
    );
    setTimeout(() => {
      if (!stopping) fork(entry.slot);
    }, delay);
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => stop(signal));

  logger.info({ processes }, "starting gateway processes");
  for (let slot = 0; slot < processes; slot++) fork(slot);
}

/**
 * In a worker: `registry` answers the primary's collection, and this process's /metrics answers with
 * every process's metrics aggregated (counters and histograms summed), so a scrape through the shared
 * port sees the whole gateway, not whichever process took the connection. The router calls
 * `registry.metrics()`; replacing that one method on this instance keeps the router unchanged.
 */
export function serveAggregatedMetrics(registry: Registry, logger: Logger): void {
  new AggregatorRegistry(); // installs the worker's side of prom-client's collection protocol
  AggregatorRegistry.setRegistries([registry]);
  const own = registry.metrics.bind(registry);
  const waiting = new Map<number, (text: string | undefined) => void>();
  let next = 0;
  process.on("message", (message: unknown) => {
    if (!isMessage(message, METRICS_REPLY)) return;
    const resolve = waiting.get(message.id);
    waiting.delete(message.id);
    if (resolve) resolve(typeof message.text === "string" ? message.text : undefined);
  });
  registry.metrics = async () => {
    const id = next++;
    const text = await new Promise<string | undefined>((resolve) => {
      waiting.set(id, resolve);
      setTimeout(() => {
        waiting.delete(id);
        resolve(undefined);
      }, 6_000).unref();
      process.send?.({ type: METRICS_REQUEST, id });
    });
    if (text !== undefined) return text;
    // The primary could not collect (a sibling mid-restart): this process's own figures, said so in the log.
    logger.warn("aggregated metrics unavailable; answering with this process's own");
    return own();
  };
}

function isMessage(message: unknown, type: string): message is { type: string; id: number; text?: unknown } {
  return (
    typeof message === "object" &&
    message !== null &&
    (message as { type?: unknown }).type === type &&
    typeof (message as { id?: unknown }).id === "number"
  );
}
