import { execFile, spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freePort } from "@portcullis/db/testing";

const run = promisify(execFile);
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * The metadata PostgreSQL the chaos test kills: a throwaway cluster with production durability, so a
 * SIGKILL of the postmaster is followed by real crash recovery.
 */
export { TempCluster as KillablePostgres } from "../../apps/gateway/test/pg-cluster.js";

/**
 * The quick start's Redis settings, read from scripts/lib.sh's start_redis (so this test follows a
 * change there): append-only on, and whatever appendfsync it sets (Redis' default, everysec, if none).
 */
export async function quickStartRedisArgs(): Promise<string[]> {
  const lib = await readFile(path.join(ROOT, "scripts/lib.sh"), "utf8");
  const body = /start_redis\(\)\s*\{([\s\S]*?)\n\}/.exec(lib)?.[1] ?? "";
  const args: string[] = [];
  for (const option of ["appendonly", "appendfsync", "save", "maxmemory-policy"]) {
    const match = new RegExp(`--${option}\\s+("[^"]*"|\\S+)`).exec(body);
    if (match) args.push(`--${option}`, match[1]!.replace(/^"|"$/g, ""));
  }
  if (!args.includes("--appendonly")) throw new Error("scripts/lib.sh start_redis no longer sets --appendonly: update the chaos test");
  return args;
}

/** A Redis of the test's own (own port and directory), killed with SIGKILL and restarted on its AOF. */
export class KillableRedis {
  private child: ChildProcess | undefined;
  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly args: string[],
  ) {}

  static async create(): Promise<KillableRedis> {
    const [port, dir, args] = await Promise.all([freePort(), mkdtemp(path.join(tmpdir(), "chaos-redis-")), quickStartRedisArgs()]);
    const redis = new KillableRedis(dir, port, args);
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const log = openSync(path.join(this.dir, "redis.log"), "a");
    this.child = spawn("redis-server", ["--bind", "127.0.0.1", "--port", String(this.port), "--dir", this.dir, ...this.args], { stdio: ["ignore", log, log] });
    closeSync(log);
    const child = this.child;
    await until("redis answered", async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
      const reply = await run("redis-cli", ["-p", String(this.port), "ping"]).then((r) => r.stdout.trim(), () => "");
      return reply === "PONG";
    }, 20_000);
  }

  async kill(): Promise<void> {
    await killChild(this.child, "SIGKILL");
    this.child = undefined;
  }

  async destroy(): Promise<void> {
    await killChild(this.child, "SIGKILL");
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function killChild(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  await exited;
}

/**
 * One of the apps as its own process, started as `pnpm start` starts it (node --import tsx
 * src/main.ts), on a fixed port so a restart comes back where clients expect it. Output is appended
 * to one log file across restarts.
 */
export class NodeApp {
  private child: ChildProcess | undefined;
  restarts = 0;
  /** Exits nobody asked for (a crash the test did not cause), with code or signal and time. */
  readonly crashes: string[] = [];
  constructor(
    readonly name: string,
    private readonly main: string,
    readonly port: number,
    private readonly env: Record<string, string>,
    readonly logFile: string,
    private readonly healthPath = "/healthz",
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    await mkdir(path.dirname(this.logFile), { recursive: true });
    const log = openSync(this.logFile, "a");
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, this.main)], {
      cwd: ROOT,
      env: { ...process.env, ...this.env },
      stdio: ["ignore", log, log],
    });
    closeSync(log);
    this.child = child;
    child.once("exit", (code, signal) => {
      if (this.child === child) this.crashes.push(`${this.name} exited by itself (${signal ?? `code ${code}`}) at ${new Date().toISOString()}`);
    });
    await until(`${this.name} answered ${this.healthPath}`, async () => {
      if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode}; see ${this.logFile}`);
      return (await fetch(`${this.url}${this.healthPath}`)).ok;
    }, 60_000);
  }

  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await killChild(child, "SIGKILL");
  }

  async restart(): Promise<void> {
    this.restarts++;
    await this.start();
  }

  /** Graceful stop (SIGTERM), as at the end of the run. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await killChild(child, "SIGTERM");
  }
}
