/**
 * The tables gateway.bench.ts prints: one per round, the medians, what the calls came back as per
 * target and kind, the issue's three targets as ratios (OK / MISSED), and the machine.
 */
import { cpus, loadavg } from "node:os";
import type { CallKind } from "./agent-mix.js";
import type { Measurement } from "./measure.js";
import { merge, totals, type Outcomes } from "./outcomes.js";

export interface Target {
  key: string;
  name: string;
}

const KINDS: CallKind[] = ["schema", "point", "join", "aggregate", "window", "cte", "order-limit", "large", "refused"];
/** A target that errors on more of the calls that should return rows than this fails the run. */
export const MAX_ERROR_SHARE = 0.01;

const fmt = (v: number | undefined, digits = 0) => (v === undefined || Number.isNaN(v) ? "" : v.toFixed(digits));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function medianOf(ms: Measurement[], pick: (m: Measurement) => number | undefined): number | undefined {
  const values = ms.map(pick).filter((v): v is number => v !== undefined);
  return values.length ? median(values) : undefined;
}

export function printTable(title: string, rows: { name: string; ms: Measurement[] }[]): void {
  console.log(`\n${title}\n`);
  console.log("| target | p50 (ms) | p99 (ms) | calls/s @16 | server CPU/call (µs) | clients CPU/call | machine CPU/call | steal | load (1 min) | read errors |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const { name, ms } of rows) {
    const t = totals(ms.reduce<Outcomes>((all, m) => merge(all, m.outcomes), {}));
    console.log(
      `| ${name} | ${fmt(medianOf(ms, (m) => m.p50), 3)} | ${fmt(medianOf(ms, (m) => m.p99), 3)} | ${fmt(medianOf(ms, (m) => m.throughput))} | ${fmt(medianOf(ms, (m) => m.serverCpuUs))} | ${fmt(medianOf(ms, (m) => m.clientCpuUs))} | ${fmt(medianOf(ms, (m) => m.machineCpuUs))} | ${fmt(medianOf(ms, (m) => m.stealPct), 1)}% | ${fmt(medianOf(ms, (m) => m.load), 1)} | ${t.error} |`,
    );
  }
}

/**
 * Per target over the whole run: calls, errors on calls that should return rows, what became of the
 * calls a read-only server must refuse, and mean rows per kind (1,000-row results capped alike).
 * Returns the targets that fail the error bar.
 */
export function printOutcomes(targets: Target[], results: Map<string, Measurement[]>): string[] {
  const failed: string[] = [];
  console.log("\nWhat the calls came back as (all rounds; 'refused' = refused or failed, 'ran' = a statement a read-only server must refuse was run)\n");
  console.log("| target | calls | reads | read errors | refused-kind: refused | ran | " + KINDS.filter((k) => k !== "refused").map((k) => `${k} rows (mean/max)`).join(" | ") + " |");
  console.log("|---|---:|---:|---:|---:|---:|" + KINDS.filter((k) => k !== "refused").map(() => "---:").join("|") + "|");
  for (const target of targets) {
    const all = results.get(target.key)!.reduce<Outcomes>((acc, m) => merge(acc, m.outcomes), {});
    const t = totals(all);
    const reads = t.calls - (all.refused?.calls ?? 0);
    const share = reads ? t.error / reads : 0;
    if (share > MAX_ERROR_SHARE) failed.push(target.name);
    const perKind = KINDS.filter((k) => k !== "refused").map((k) => {
      const c = all[k];
      return !c ? "" : c.counted ? `${fmt(c.rows / c.counted, 1)} / ${c.maxRows}` : `${c.ok} ok`;
    });
    console.log(`| ${target.name} | ${t.calls} | ${reads} | ${t.error} (${fmt(100 * share, 2)}%) | ${all.refused?.refused ?? 0} | ${all.refused?.ran ?? 0} | ${perKind.join(" | ")} |`);
    for (const s of all.samples ?? []) console.log(`    error sample (${target.name}): ${s}`);
    const ran = Object.entries(all.ranFamilies ?? {});
    if (ran.length) console.log(`    ran although a read-only server must refuse (${target.name}): ${ran.map(([f, n]) => `${f} ×${n}`).join(", ")}`);
  }
  return failed;
}

function ratioLine(label: string, value: number | undefined, bar: string, ok: boolean | undefined, detail: string): void {
  console.log(`${label.padEnd(58)} ${value === undefined ? "n/a" : detail.padEnd(34)} ${bar.padEnd(18)} ${ok === undefined ? "" : ok ? "OK" : "MISSED"}`);
}

/** The issue's targets, from the medians: raw clients on the 2025-11-25 revision unless said otherwise. */
export function printIssueTargets(results: Map<string, Measurement[]>, names: Map<string, string>): void {
  const med = (key: string, pick: (m: Measurement) => number | undefined) => (results.has(key) ? medianOf(results.get(key)!, pick) : undefined);
  console.log("\nIssue 16 targets (medians of the rounds)\n");
  const hubCpu = med("dbhub-raw", (m) => m.serverCpuUs);
  const hubTp = med("dbhub-raw", (m) => m.throughput);
  // The gateway on this process's Node, and on Node 24: DBHub's runtime and the container image's.
  for (const [suffix, runtime] of [
    ["", `the gateway on Node ${process.versions.node.split(".")[0]}, DBHub on 24`],
    ["-24", "both on Node 24"],
  ] as const) {
    const gwCpu = med(`gateway-raw${suffix}`, (m) => m.serverCpuUs);
    if (gwCpu !== undefined && hubCpu !== undefined) {
      const r = gwCpu / hubCpu;
      ratioLine(`gateway server CPU per call vs DBHub's (raw clients; ${runtime})`, r, "target ≤ 0.50×", r <= 0.5, `${gwCpu.toFixed(0)} / ${hubCpu.toFixed(0)} µs = ${r.toFixed(2)}×`);
    }
    const gwTp = med(`gateway-raw${suffix}`, (m) => m.throughput);
    if (gwTp !== undefined && hubTp !== undefined) {
      const r = gwTp / hubTp;
      ratioLine(`gateway calls/s vs DBHub's (raw clients, 16 concurrent; ${runtime})`, r, "target ≥ 1.80×", r >= 1.8, `${gwTp.toFixed(0)} / ${hubTp.toFixed(0)} = ${r.toFixed(2)}×`);
    }
  }
  for (const [gw, ceiling, label] of [
    ["gateway-raw", "bare-raw", "raw clients"],
    ["gateway-sdk", "bare-sdk", "SDK 1.x clients"],
    ["gateway-raw-24", "bare-raw-24", "raw clients, both on Node 24"],
  ] as const) {
    const a = med(gw, (m) => m.p50);
    const b = med(ceiling, (m) => m.p50);
    if (a === undefined || b === undefined) continue;
    const d = a - b;
    ratioLine(`gateway p50 over the ceiling's (${label})`, d, "target ≤ +0.50 ms", d <= 0.5, `${a.toFixed(3)} − ${b.toFixed(3)} = ${d >= 0 ? "+" : ""}${d.toFixed(3)} ms`);
  }
  for (const key of ["gateway-modern-raw", "gateway-modern-raw-24"]) {
    const modern = med(key, (m) => m.serverCpuUs);
    if (modern !== undefined && hubCpu !== undefined) console.log(`(for reference: ${names.get(key)} server CPU per call ${modern.toFixed(0)} µs = ${(modern / hubCpu).toFixed(2)}× DBHub's)`);
  }
}

export async function printMachine(stealPct: number | undefined): Promise<void> {
  const cpu = cpus();
  const [l1, l5, l15] = loadavg();
  console.log(`\nMachine: ${cpu.length} cores, ${cpu[0]?.model ?? "unknown model"}; load average ${l1!.toFixed(2)} / ${l5!.toFixed(2)} / ${l15!.toFixed(2)}; hypervisor steal over the run ${stealPct === undefined ? "n/a" : `${stealPct.toFixed(1)}%`}`);
}
