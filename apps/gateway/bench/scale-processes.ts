/**
 * Scale curve 5 — GATEWAY_PROCESSES=1 vs 2 (apps/gateway/src/cluster.ts) on a fixed cheap workload:
 * the same 10-row Chinook read (its text different on every call) from 16 raw clients spread over two
 * load processes. Both gateways run side by side and rounds alternate between them (BENCH_PROC_ROUNDS,
 * BENCH_PROC_MS), so background load on this shared machine falls on both alike. Reported per round and
 * as medians: calls/s, p50/p99 (every 4th call sampled), gateway CPU per call (primary + its workers),
 * and the machine's busy share, load and steal — on 2 cores the clients and PostgreSQL share the same
 * cores, which bounds what a second gateway process can add.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { MACHINE_HEADERS, createChinookDatabase, machineCells, median, percentile, printTable, processCpuMs, processTree, startRound, type RoundMachine } from "@portcullis/db/testing";
import { dropBounded, mustCall, setupScale, startGateway, type BenchGateway } from "./scale-support.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(process.env.BENCH_PROC_ROUNDS ?? 4);
const ROUND_MS = Number(process.env.BENCH_PROC_MS ?? 4000);
const CLIENTS = 16;
const LOADERS = 2;
const SQL = "SELECT track_id, name, composer, milliseconds, unit_price FROM track WHERE track_id > {n} ORDER BY track_id LIMIT 10";

interface Round {
  callsPerS: number;
  p50: number;
  p99: number;
  gatewayCpuUs: number;
  machine: RoundMachine;
}

function ask(child: ChildProcess, message: object): Promise<{ ok: boolean; calls: number; latencies: number[]; error?: string }> {
  return new Promise((resolve, reject) => {
    child.once("message", (reply: { ok: boolean; calls: number; latencies: number[]; error?: string }) => (reply.ok ? resolve(reply) : reject(new Error(reply.error))));
    child.send(message);
  });
}

async function round(gw: BenchGateway, url: string, key: string, loaders: ChildProcess[], ms: number): Promise<Round> {
  const tree = processTree(gw.pid);
  const cpu = () => tree.reduce((sum, pid) => sum + (processCpuMs(pid) ?? 0), 0);
  const deadline = Date.now() + 50 + ms;
  const cpuBefore = cpu();
  const watch = startRound();
  const started = Date.now();
  const replies = await Promise.all(loaders.map((l) => ask(l, { cmd: "run", url, key, sql: SQL, clients: CLIENTS / LOADERS, deadline })));
  const elapsed = Date.now() - started;
  const machine = watch();
  const calls = replies.reduce((a, r) => a + r.calls, 0);
  const latencies = replies.flatMap((r) => r.latencies);
  return { callsPerS: (calls * 1000) / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), gatewayCpuUs: ((cpu() - cpuBefore) * 1000) / calls, machine };
}

export async function processesCurve(): Promise<void> {
  const setup = await setupScale();
  const chinook = await createChinookDatabase();
  const gateways: BenchGateway[] = [];
  const loaders: ChildProcess[] = [];
  try {
    const connectionId = await setup.addTarget(chinook.url, "chinook");
    const link = await setup.addLink(connectionId, "processes", { access: "read", schemas: ["public"] });
    const variants = [1, 2];
    for (const processes of variants) gateways.push(await startGateway(setup, { GATEWAY_PROCESSES: String(processes) }));
    for (const gw of gateways) {
      // Every gateway process of the cluster must be serving before it is measured.
      for (let i = 0; i < 20; i++) await mustCall(gw.base, link.linkId, link.key, "execute_sql", { sql: SQL.replace("{n}", String(i)) });
      const tree = processTree(gw.pid);
      console.log(`gateway ${gw.base}: ${tree.length} process(es) ${tree.join(",")}`);
    }
    for (let i = 0; i < LOADERS; i++) loaders.push(fork(path.join(HERE, "scale-load.ts"), [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] }));
    const url = (gw: BenchGateway) => `${gw.base}/mcp/${link.linkId}`;
    // Unmeasured warm-up of each: the first stretch of a fresh process compiles its hot path.
    for (const gw of gateways) await round(gw, url(gw), link.key, loaders, 3000);
    const results = variants.map(() => [] as Round[]);
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 ? [1, 0] : [0, 1];
      for (const i of order) {
        const m = await round(gateways[i]!, url(gateways[i]!), link.key, loaders, ROUND_MS);
        results[i]!.push(m);
        console.log(`round ${r + 1} GATEWAY_PROCESSES=${variants[i]}: ${m.callsPerS.toFixed(0)} calls/s, p50 ${m.p50.toFixed(2)} ms, gateway CPU ${m.gatewayCpuUs.toFixed(0)} µs/call, machine busy ${m.machine.busyPct.toFixed(0)}%`);
      }
    }
    const rows: string[][] = [];
    for (const [i, processes] of variants.entries()) {
      for (const [r, m] of results[i]!.entries())
        rows.push([String(processes), `round ${r + 1}`, m.callsPerS.toFixed(0), m.p50.toFixed(2), m.p99.toFixed(2), m.gatewayCpuUs.toFixed(0), ...machineCells(m.machine)]);
      const ms = results[i]!;
      rows.push([
        `**${processes}**`,
        "**median**",
        median(ms.map((m) => m.callsPerS)).toFixed(0),
        median(ms.map((m) => m.p50)).toFixed(2),
        median(ms.map((m) => m.p99)).toFixed(2),
        median(ms.map((m) => m.gatewayCpuUs)).toFixed(0),
        median(ms.map((m) => m.machine.load1)).toFixed(2),
        median(ms.map((m) => m.machine.busyPct)).toFixed(0),
        median(ms.map((m) => m.machine.stealPct)).toFixed(1),
      ]);
    }
    printTable(
      `GATEWAY_PROCESSES 1 vs 2, ${CLIENTS} raw clients in ${LOADERS} load processes, ${ROUND_MS / 1000} s rounds alternating (10-row Chinook read)`,
      ["GATEWAY_PROCESSES", "round", "calls/s", "p50 (ms)", "p99 (ms)", "gateway CPU µs/call (all its processes)", ...MACHINE_HEADERS],
      rows,
    );
    const [one, two] = results.map((ms) => median(ms.map((m) => m.callsPerS))) as [number, number];
    console.log(`2 processes / 1 process: ${(two / one).toFixed(2)}× calls/s`);
  } finally {
    for (const l of loaders) if (l.connected) l.send({ cmd: "exit" });
    for (const gw of gateways) await gw.stop();
    await setup.close();
    await dropBounded(chinook);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await processesCurve();
  process.exit(0);
}
