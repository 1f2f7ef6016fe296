import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readlinkSync, realpathSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { ENTRYPOINT, ROOT } from "./paths.js";

/**
 * Throwaway PostgreSQL and Redis of this suite's own (it stops them; the shared test services are
 * never touched), started with scripts/lib.sh as the quick start starts its own.
 */
export interface Throwaway {
  dir: string;
  pgPort: number;
  pgSocketDir: string;
  superuserPassword: string;
  redisPort: number;
  redisPassword: string;
  stop(): void;
}

export function startThrowawayServices(opts: { pgPort: number; redisPort: number; superuserPassword: string; redisPassword: string }): Throwaway {
  const dir = mkdtempSync(path.join(tmpdir(), "pc-deploy-"));
  const pgDir = path.join(dir, "pg");
  execFileSync("bash", ["-c", 'source scripts/lib.sh; start_postgres "$1" "$2" fast "$3"', "x", pgDir, String(opts.pgPort), opts.superuserPassword], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
  });
  // As root, lib.sh keeps the cluster under /var/lib/postgresql and links it from here.
  const pgSocketDir = realpathSync(pgDir);
  const redis = spawn("redis-server", ["--port", String(opts.redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--requirepass", opts.redisPassword], {
    stdio: "ignore",
  });
  return {
    dir,
    pgPort: opts.pgPort,
    pgSocketDir,
    superuserPassword: opts.superuserPassword,
    redisPort: opts.redisPort,
    redisPassword: opts.redisPassword,
    stop() {
      redis.kill("SIGTERM");
      spawnSync("bash", ["-c", 'source scripts/lib.sh; stop_postgres "$1"', "x", pgDir], { cwd: ROOT, stdio: "ignore" });
      const linked = (() => {
        try {
          return readlinkSync(pgDir);
        } catch {
          return undefined;
        }
      })();
      if (linked) rmSync(linked, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let entrypoint = ENTRYPOINT;
/** Start roles from another tree's entrypoint (the assembled image tree) from now on. */
export function useEntrypoint(file: string): void {
  entrypoint = file;
}

/** One app started through scripts/docker-entrypoint.sh, as the image's ENTRYPOINT runs it. */
export interface EntrypointProcess {
  role: string;
  child: ChildProcess;
  log: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  tail(): string;
}

export function startRole(role: string, env: Record<string, string>, logDir: string): EntrypointProcess {
  const log = path.join(logDir, `${role}.log`);
  const fd = openSync(log, "a");
  const child = spawn(entrypoint, [role], { cwd: "/", env, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return {
    role,
    child,
    log,
    exited,
    tail: () => (existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-40).join("\n") : "(no log)"),
  };
}

/** Runs a one-shot role (migrate, seed-demo) or a health check to its end. */
export function runRole(args: string[], env: Record<string, string>, timeoutMs = 120_000): { status: number | null; output: string } {
  const r = spawnSync(entrypoint, args, { cwd: "/", env, encoding: "utf8", timeout: timeoutMs });
  return { status: r.status, output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, proc?: EntrypointProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.child.exitCode !== null) throw new Error(`${proc.role} exited (${proc.child.exitCode}) before ${what}:\n${proc.tail()}`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what}: not within ${timeoutMs / 1000} s${proc ? `\n${proc.tail()}` : ""}`);
}

export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
