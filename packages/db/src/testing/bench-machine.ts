import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";

/**
 * What the machine was doing while a benchmark measured, shared by every `pnpm bench` script: the
 * machines are small shared VMs (2 cores), so a number without the load and steal of its round cannot
 * be judged. Linux only (/proc); elsewhere the readings come back undefined rather than invented.
 */

export interface MachineTimes {
  /** Busy CPU time of the whole machine (user, nice, system, irq, softirq), ms summed over cores. */
  busy: number;
  /** Time the hypervisor gave this VM's cores to someone else, ms. */
  steal: number;
  total: number;
}

/** The whole machine's CPU times (/proc/stat, clock ticks of 10 ms). */
export function machineTimes(): MachineTimes {
  const ticks = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map((t) => Number(t) * 10);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = ticks;
  return { busy: user + nice + system + irq + softirq, steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

/** utime + stime of a process in ms, or undefined once it is gone. */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** Resident memory now and its high-water mark (VmHWM) of a process, in bytes. */
export function processMemory(pid: number | undefined): { rss: number; peak: number } | undefined {
  if (!pid) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb("VmRSS"), peak: kb("VmHWM") };
  } catch {
    return undefined;
  }
}

/**
 * Resets a process's VmHWM to its current RSS (writing 5 to clear_refs, Linux >= 4.0), so the next
 * peak read belongs to what happened after this call. Returns false where the kernel refuses.
 */
export function resetPeakMemory(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

export interface RoundMachine {
  seconds: number;
  /** 1-minute load average at the end of the round. */
  load1: number;
  /** Share of the machine's time busy (all cores) and stolen during the round, %. */
  busyPct: number;
  stealPct: number;
  /** CPU ms of each watched process during the round (same order as the pids given). */
  cpuMs: (number | undefined)[];
}

/**
 * Starts watching a round: call the returned function when it ends. Reports the machine's busy and
 * stolen share over exactly that stretch, and the CPU the given processes used in it.
 */
export function startRound(pids: (number | undefined)[] = []): () => RoundMachine {
  const before = machineTimes();
  const cpuBefore = pids.map(processCpuMs);
  const started = performance.now();
  return () => {
    const after = machineTimes();
    const total = after.total - before.total;
    const cpuAfter = pids.map(processCpuMs);
    return {
      seconds: (performance.now() - started) / 1000,
      load1: loadavg()[0]!,
      busyPct: total > 0 ? (100 * (after.busy - before.busy)) / total : NaN,
      stealPct: total > 0 ? (100 * (after.steal - before.steal)) / total : NaN,
      cpuMs: pids.map((_, i) => (cpuBefore[i] !== undefined && cpuAfter[i] !== undefined ? cpuAfter[i]! - cpuBefore[i]! : undefined)),
    };
  };
}

/** The machine columns every scale table ends with. */
export const MACHINE_HEADERS = ["load 1m", "busy %", "steal %"] as const;

export function machineCells(m: RoundMachine): string[] {
  return [m.load1.toFixed(2), m.busyPct.toFixed(0), m.stealPct.toFixed(1)];
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return NaN;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function mib(bytes: number | undefined): string {
  return bytes === undefined || Number.isNaN(bytes) ? "?" : (bytes / 1024 / 1024).toFixed(1);
}

/** A Markdown table on stdout, so a run's output can be pasted into results.md as it is. */
export function printTable(title: string, headers: readonly string[], rows: string[][]): void {
  console.log(`\n${title}\n`);
  console.log(`| ${headers.join(" | ")} |`);
  console.log(`|${headers.map(() => "---").join("|")}|`);
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
  console.log("");
}

/** A process and all its descendants (Linux /proc/<pid>/task/<tid>/children), e.g. a cluster primary's workers. */
export function processTree(pid: number | undefined): number[] {
  if (!pid) return [];
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      const tasks = readdirSync(`/proc/${out[i]}/task`);
      for (const tid of tasks) {
        const children = readFileSync(`/proc/${out[i]}/task/${tid}/children`, "utf8").trim();
        if (children) out.push(...children.split(/\s+/).map(Number));
      }
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
