import { execFile, spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
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

const isRoot = () => process.getuid?.() === 0;

/**
 * The metadata PostgreSQL the chaos test kills: a cluster of its own with production durability
 * (fsync and synchronous_commit left at their defaults, on), so a SIGKILL of the postmaster is
 * followed by real crash recovery. As root the server runs as the `postgres` system user.
 */
export class KillablePostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
  ) {}

  static async create(): Promise<KillablePostgres> {
    const versions = (await readdir("/usr/lib/postgresql")).sort((a, b) => Number(b) - Number(a));
    const bin = `/usr/lib/postgresql/${versions[0]}/bin`;
    const [port, dir] = await Promise.all([freePort(), mkdtemp(path.join(tmpdir(), "chaos-pg-"))]);
    const cluster = new KillablePostgres(dir, port, bin);
    if (isRoot()) {
      const uid = Number((await run("id", ["-u", "postgres"])).stdout.trim());
      const gid = Number((await run("id", ["-g", "postgres"])).stdout.trim());
      await chown(dir, uid, gid);
      await chmod(dir, 0o700);
    }
    const pwfile = path.join(dir, "pw");
    await writeFile(pwfile, "portcullis\n", { mode: 0o644 });
    await cluster.asPostgres(`${bin}/initdb`, ["-D", `${dir}/data`, "-U", "portcullis", `--pwfile=${pwfile}`, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"]);
    await rm(pwfile, { force: true });
    // Durability settings are deliberately not touched: fsync = on, synchronous_commit = on.
    await cluster.asPostgres("bash", [
      "-c",
      `printf "listen_addresses = '127.0.0.1'\\nport = ${port}\\nunix_socket_directories = '${dir}'\\nshared_buffers = 32MB\\nmax_connections = 200\\n" >> ${dir}/data/postgresql.conf`,
    ]);
    await cluster.start();
    return cluster;
  }

  private async asPostgres(command: string, args: string[]): Promise<void> {
    if (isRoot()) await run("runuser", ["-u", "postgres", "--", command, ...args]);
    else await run(command, args);
  }

  /**
   * Starts the server; after a SIGKILL the orphaned backends may still hold the shared memory for a
   * moment (the new postmaster refuses to start until they are gone), so it is retried.
   */
  async start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.asPostgres(`${this.bin}/pg_ctl`, ["-D", `${this.dir}/data`, "-l", `${this.dir}/server.log`, "-w", "-t", "60", "start"]);
        return;
      } catch (error) {
        if (attempt >= 20) throw error;
        await sleep(250);
      }
    }
  }

  /** SIGKILL of the postmaster: its backends notice and exit; the next start runs crash recovery. */
  async kill(): Promise<number> {
    const pid = Number((await readFile(`${this.dir}/data/postmaster.pid`, "utf8")).split("\n")[0]);
    process.kill(pid, "SIGKILL");
    await until("postmaster exited", async () => !alive(pid), 10_000);
    return pid;
  }

  async log(): Promise<string> {
    return readFile(`${this.dir}/server.log`, "utf8").catch(() => "");
  }

  url(database = "postgres"): string {
    return `postgresql://portcullis:portcullis@127.0.0.1:${this.port}/${database}`;
  }

  async destroy(): Promise<void> {
    await this.asPostgres(`${this.bin}/pg_ctl`, ["-D", `${this.dir}/data`, "-m", "immediate", "-w", "stop"]).catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

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
