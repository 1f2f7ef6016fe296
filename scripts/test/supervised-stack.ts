import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Runs a scripts/lib.sh function (the same store commands up.sh and the supervisor use). */
export async function lib(call: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("bash", ["-c", `source "$1/scripts/lib.sh"; ${call}`, "lib", ROOT, ...args], { env: process.env });
  return stdout;
}

export interface Line {
  at: number;
  text: string;
}

/** The supervisor as its own process, its terminal output collected line by line with arrival times. */
export class Supervisor {
  readonly lines: Line[] = [];
  readonly exited: Promise<{ code: number | null; at: number }>;
  private waiters: (() => void)[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly dir: string,
  ) {
    let rest = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      const parts = (rest + chunk.toString("utf8")).split("\n");
      rest = parts.pop() ?? "";
      for (const text of parts) this.lines.push({ at: Date.now(), text });
      for (const wake of this.waiters.splice(0)) wake();
    });
    child.stderr!.on("data", (chunk: Buffer) => process.stderr.write(chunk));
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve({ code, at: Date.now() })));
  }

  static async start(config: Record<string, unknown>, env: Record<string, string>): Promise<Supervisor> {
    const dir = await mkdtemp(path.join(tmpdir(), "supervise-"));
    const file = path.join(dir, "supervise.json");
    await writeFile(file, JSON.stringify({ logDir: path.join(dir, "logs"), ...config }));
    const child = spawn(process.execPath, [path.join(ROOT, "scripts/supervise.mjs"), file], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    return new Supervisor(child, dir);
  }

  /** The first line at or after `from` matching `pattern` (waits for it). */
  async waitLine(pattern: RegExp, from = 0, timeoutMs = 30_000): Promise<Line & { index: number; match: RegExpMatchArray }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.lines.length; i++) {
        const match = this.lines[i]!.text.match(pattern);
        if (match) return { ...this.lines[i]!, index: i, match };
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${this.lines.map((l) => l.text).join("\n")}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async pidOf(name: string, from = 0): Promise<number> {
    const line = await this.waitLine(new RegExp(`^\\S+ \\S+ ${name} (?:started|restarted) \\(pid (\\d+)`), from);
    return Number(line.match[1]);
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
      await this.exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Exists and is not a zombie (a daemon's exit is reaped by init, slowly in some containers). */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

/** Records when each pid stops existing (polled every 10 ms) until all are gone or the time is up. */
export async function deathTimes(pids: Record<string, number>, timeoutMs = 60_000): Promise<Record<string, number>> {
  const gone: Record<string, number> = {};
  const deadline = Date.now() + timeoutMs;
  while (Object.keys(gone).length < Object.keys(pids).length && Date.now() < deadline) {
    for (const [name, pid] of Object.entries(pids)) if (!(name in gone) && !alive(pid)) gone[name] = Date.now();
    await new Promise((r) => setTimeout(r, 10));
  }
  return gone;
}

export async function httpOk(url: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return response.ok;
  } catch {
    return false;
  }
}
