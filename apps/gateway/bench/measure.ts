/**
 * One measurement of one target in one round of gateway.bench.ts: sequential latency from one client,
 * then calls/s from 16 concurrent clients spread over the load processes, with the server's CPU per
 * call (utime + stime from /proc), the clients' and the whole machine's, hypervisor steal and the load
 * average; and what every call came back as (outcomes.ts).
 */
import { fork, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { connectClient, type TargetSpec } from "./clients.js";
import { merge, type Outcomes } from "./outcomes.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));

export const CONCURRENCY = 16;
export const SEQUENTIAL_CALLS = Number(process.env.BENCH_SEQUENTIAL ?? 600);
export const THROUGHPUT_MS = Number(process.env.BENCH_THROUGHPUT_MS ?? 2500);
// Each target has served WARMUP_MS of concurrent load before the first round: a few calls re-warm the connection.
const WARMUP_CALLS = 50;

/**
 * Call indexes of the agent mix: block 0 for the warm-up, block r+1 for round r; in a block the
 * sequential client starts at 0, concurrent client c at SEQUENTIAL_SPAN + c × CLIENT_SPAN. Every target
 * gets the same indexes, so the same calls; 16 blocks fill the mix's 2^22 distinct texts.
 */
const BLOCK = 1 << 18;
const SEQUENTIAL_SPAN = 1 << 14;
const CLIENT_SPAN = (BLOCK - SEQUENTIAL_SPAN) / CONCURRENCY;
export const blockStart = (block: number) => (block % 16) * BLOCK;
export const clientFirsts = (block: number) => Array.from({ length: CONCURRENCY }, (_, c) => blockStart(block) + SEQUENTIAL_SPAN + c * CLIENT_SPAN);

export interface Measurement {
  p50: number;
  p99: number;
  throughput: number;
  /** CPU time the server process spent per call during the throughput phase (µs), when known. */
  serverCpuUs?: number;
  /** CPU time the load-generating client processes spent per call (µs). */
  clientCpuUs?: number;
  /** CPU time the whole machine (both cores, every process) spent per call (µs). */
  machineCpuUs?: number;
  /** Share of the machine's time stolen by the hypervisor during the throughput phase (%). */
  stealPct?: number;
  /** 1-minute load average at the end of the measurement. */
  load: number;
  outcomes: Outcomes;
}

/**
 * The whole machine's CPU time in milliseconds (/proc/stat): busy (user, nice, system, irq, softirq)
 * and stolen (time the hypervisor gave this VM's cores to someone else). Steal is reported apart: it
 * is not work done for the benchmark, but a round with much of it measured a slower machine.
 */
export async function machineTimes(): Promise<{ busy: number; steal: number; total: number }> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n")[0]!;
  const [, ...ticks] = line.trim().split(/\s+/).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = ticks.map((t) => (t ?? 0) * 10) as number[];
  return { busy: user! + nice! + system! + irq! + softirq!, steal: steal!, total: user! + nice! + system! + idle! + iowait! + irq! + softirq! + steal! };
}

/** utime + stime of a process in milliseconds (Linux /proc; clock ticks are 10 ms). */
async function processCpuMs(pid: number | undefined): Promise<number | undefined> {
  if (!pid) return undefined;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

export interface LoadProcess {
  child: ChildProcess;
  send(message: unknown): Promise<{ ok: boolean; calls?: number; outcomes?: Outcomes; error?: string }>;
}

export function startLoadProcess(): LoadProcess {
  const child = fork(path.join(HERE, "load-process.ts"), [], { execArgv: [...(process.env.BENCH_CLIENT_NODE_ARGS?.split(" ").filter(Boolean) ?? []), "--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  return {
    child,
    send(message) {
      return new Promise((resolve, reject) => {
        child.once("message", (reply: { ok: boolean; calls?: number; error?: string }) => (reply.ok ? resolve(reply) : reject(new Error(reply.error))));
        child.send(message as object);
      });
    },
  };
}

/** Sets up the 16 clients of `block` over the load processes (as evenly as they divide). */
export function setupClients(loaders: LoadProcess[], spec: TargetSpec, block: number) {
  const firsts = clientFirsts(block);
  const per = Math.ceil(CONCURRENCY / loaders.length);
  return Promise.all(loaders.map((l, p) => l.send({ cmd: "setup", spec, firsts: firsts.slice(p * per, (p + 1) * per) })));
}

export function tellAll(loaders: LoadProcess[], message: unknown) {
  return Promise.all(loaders.map((l) => l.send(message)));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function measure(spec: TargetSpec, loaders: LoadProcess[], block: number, serverPid?: number): Promise<Measurement> {
  // Sequential latency: one client, one call at a time.
  const single = await connectClient(spec, blockStart(block));
  for (let i = 0; i < WARMUP_CALLS; i++) await single.call();
  single.takeOutcomes();
  const latencies: number[] = [];
  for (let i = 0; i < SEQUENTIAL_CALLS; i++) {
    const t0 = performance.now();
    await single.call();
    latencies.push(performance.now() - t0);
  }
  const outcomes = single.takeOutcomes();
  await single.close();
  latencies.sort((a, b) => a - b);

  // Throughput: 16 clients calling back to back for a fixed time, spread over the load processes.
  await setupClients(loaders, spec, block);
  const started = Date.now() + 50;
  const cpuBefore = await processCpuMs(serverPid);
  const clientBefore = (await Promise.all(loaders.map((l) => processCpuMs(l.child.pid)))).reduce((a, b) => a! + (b ?? 0), 0);
  const machineBefore = await machineTimes();
  const replies = await tellAll(loaders, { cmd: "run", deadline: started + THROUGHPUT_MS });
  const elapsed = Date.now() - started;
  const cpuAfter = await processCpuMs(serverPid);
  const clientAfter = (await Promise.all(loaders.map((l) => processCpuMs(l.child.pid)))).reduce((a, b) => a! + (b ?? 0), 0);
  const machineAfter = await machineTimes();
  const calls = replies.reduce((sum, r) => sum + (r.calls ?? 0), 0);
  for (const r of replies) if (r.outcomes) merge(outcomes, r.outcomes);
  await tellAll(loaders, { cmd: "teardown" });

  const perCall = (before?: number, after?: number) => (before !== undefined && after !== undefined && calls > 0 ? ((after - before) * 1000) / calls : undefined);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    throughput: (calls / elapsed) * 1000,
    serverCpuUs: perCall(cpuBefore, cpuAfter),
    clientCpuUs: perCall(clientBefore, clientAfter),
    machineCpuUs: perCall(machineBefore.busy, machineAfter.busy),
    stealPct: machineAfter.total > machineBefore.total ? (100 * (machineAfter.steal - machineBefore.steal)) / (machineAfter.total - machineBefore.total) : undefined,
    load: loadavg()[0]!,
    outcomes,
  };
}
