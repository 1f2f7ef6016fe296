import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@portcullis/db/testing";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** A fresh machine's PATH: Node.js and npm (in /usr/bin here) and the system's tools, no pnpm, no tsx. */
export const BASIC_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface PrintedSnippet {
  client: string;
  snippet: string;
}
export interface PrintedLink {
  name: string;
  url: string;
  snippets: PrintedSnippet[];
}
export interface PrintedReady {
  dashboard: string;
  email: string;
  password: string;
  gateway: string;
  links: PrintedLink[];
}

export interface QuickstartStack {
  /** The environment README commands run with: a fresh machine's, plus where this stack lives. */
  env: NodeJS.ProcessEnv;
  /** What up.sh wrote to stack.env: the stack's DATABASE_URL and REDIS_URL. */
  stackEnv: Record<string, string>;
  dataDir: string;
  ports: { pg: number; redis: number; web: number; gateway: number; internal: number; worker: number };
  printed: PrintedReady;
  output: () => string;
  startupMs: number;
  /** up.sh's "!" lines when it did not say "ready" (it then still serves). */
  warnings: string[];
  stop: () => Promise<void>;
}

// up.sh colours its "▸" lines; ESC is built from its code so the pattern holds no control character.
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const stripAnsi = (text: string) => text.replace(ANSI, "");

/**
 * Parses what up.sh prints when the demo is ready, as a user reads it: the dashboard, the login, and per
 * link its URL and the ready-to-paste snippets (indented five spaces under "   Client — where:").
 */
export function parsePrinted(raw: string): PrintedReady {
  const text = stripAnsi(raw);
  const field = (label: string) => text.match(new RegExp(`^${label}\\s+(.+)$`, "m"))?.[1]?.trim();
  const dashboard = field("Dashboard");
  const login = field("Login")?.match(/^(\S+) \/ (\S+)$/);
  const gateway = field("Gateway");
  if (!dashboard || !login?.[1] || !login[2] || !gateway) throw new Error(`up.sh printed no Dashboard/Login/Gateway lines:\n${text.slice(-3000)}`);
  const links: PrintedLink[] = [];
  let snippet: PrintedSnippet | undefined;
  for (const line of text.split("\n")) {
    const head = line.match(/^── Link "([^"]+)" .*: (https?:\/\/\S+)$/);
    if (head) {
      links.push({ name: head[1]!, url: head[2]!, snippets: [] });
      snippet = undefined;
      continue;
    }
    const client = line.match(/^ {3}(\S.*?) — .*:$/);
    if (client && links.length) {
      const next = { client: client[1]!, snippet: "" };
      links.at(-1)!.snippets.push(next);
      snippet = next;
      continue;
    }
    if (snippet && line.startsWith("     ")) snippet.snippet += `${line.slice(5)}\n`;
    else if (line.trim() === "") snippet = undefined;
  }
  return { dashboard, email: login[1], password: login[2], gateway, links };
}

/** Reads KEY=value lines (stack.env). */
function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = line.match(/^([A-Z_][A-Z0-9_]*)=(.*)$/);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * Starts the README's quick start, `bash scripts/up.sh`, in this checkout with its own data directory
 * and free ports (PORTCULLIS_DATA_DIR and the port variables), so the demo stack and other runs are
 * untouched, under a fresh machine's PATH; resolves once it prints that Portcullis is ready.
 */
export async function startQuickstart(options: { nextDistDir?: string; timeoutMs: number }): Promise<QuickstartStack> {
  const upScript = readFileSync(path.join(ROOT, "scripts", "up.sh"), "utf8");
  if (!upScript.includes("PORTCULLIS_DATA_DIR") && existsSync(path.join(ROOT, ".data"))) {
    // Without it, up.sh would take over this checkout's .data (the demo stack's cluster and stack.env).
    throw new Error("scripts/up.sh does not honour PORTCULLIS_DATA_DIR, and this checkout has a .data of its own: refusing to start a second stack on it");
  }
  const distDir = nextDistDir(upScript, options.nextDistDir);
  const [pg, redis, web, gateway, internal, worker] = (await Promise.all(Array.from({ length: 6 }, () => freePort()))) as [number, number, number, number, number, number];
  const ports = { pg, redis, web, gateway, internal, worker };
  const dataDir = mkdtempSync(path.join(tmpdir(), "portcullis-readme-"));
  // mkdtemp makes it 0700; run as root, up.sh runs PostgreSQL as `postgres`, which must reach its cluster.
  chmodSync(dataDir, 0o755);
  const env: NodeJS.ProcessEnv = {
    PATH: BASIC_PATH,
    HOME: process.env.HOME ?? "/root",
    LANG: "C.UTF-8",
    TERM: "dumb",
    PORTCULLIS_DATA_DIR: dataDir,
    PG_PORT: String(pg),
    REDIS_PORT: String(redis),
    WEB_PORT: String(web),
    WEB_PUBLIC_URL: `http://localhost:${web}`,
    NEXTAUTH_URL: `http://localhost:${web}`,
    GATEWAY_PORT: String(gateway),
    GATEWAY_PUBLIC_URL: `http://localhost:${gateway}`,
    GATEWAY_INTERNAL_PORT: String(internal),
    GATEWAY_INTERNAL_URL: `http://127.0.0.1:${internal}`,
    WORKER_METRICS_PORT: String(worker),
    ...(distDir ? { PORTCULLIS_NEXT_DIST_DIR: distDir.name } : {}),
  };
  const started = performance.now();
  const child = spawn("bash", ["scripts/up.sh"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`up.sh did not say ready within ${options.timeoutMs / 1000} s:\n${stripAnsi(output).slice(-4000)}`)), options.timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // The configs and the verdict ("▸ ready: …" or "started with warnings") come before the closing
      // "Logs: … Ctrl-C stops everything" line.
      if (/Portcullis is ready/.test(output) && /Ctrl-C stops everything/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`up.sh exited with ${code} before it was ready:\n${stripAnsi(output).slice(-4000)}`));
    });
  });
  const stop = async () => {
    await stopUp(child, dataDir);
    if (distDir?.own) rmSync(path.join(ROOT, "apps", "web", distDir.name), { recursive: true, force: true });
  };
  try {
    await ready;
  } catch (error) {
    await stop();
    throw error;
  }
  const startupMs = performance.now() - started;
  const stackEnvFile = path.join(dataDir, "stack.env");
  if (!existsSync(stackEnvFile)) throw new Error(`up.sh wrote no stack.env in ${dataDir}`);
  const stackEnv = readEnvFile(stackEnvFile);
  // The operator CLI finds stack.env through PORTCULLIS_DATA_DIR, as a user's shell would hand it over.
  // A CLI that does not would read this checkout's own .data/stack.env, another stack's: then its
  // variables are handed over explicitly instead.
  if (!readFileSync(path.join(ROOT, "apps", "cli", "src", "env.ts"), "utf8").includes("PORTCULLIS_DATA_DIR")) Object.assign(env, stackEnv);
  const said = stripAnsi(output);
  const warnings = /started with warnings/.test(said) || !/^▸ ready: /m.test(said) ? said.split("\n").filter((l) => l.startsWith("! ")) : [];
  return { env, stackEnv, dataDir, ports, printed: parsePrinted(output), output: () => stripAnsi(output), startupMs, warnings, stop };
}

/**
 * Which dashboard build up.sh's stack serves. Best: the e2e global setup's, of the same sources, when
 * up.sh's rebuild check follows PORTCULLIS_NEXT_DIST_DIR and that build is fresh (nothing is built).
 * Whenever up.sh would build (sources edited since, or an up.sh that checks only apps/web/.next), the
 * build goes to a private directory (next.config's distDir follows the variable), never under a
 * running server's feet.
 */
function nextDistDir(upScript: string, e2eDistDir: string | undefined): { name: string; own: boolean } | undefined {
  const own = { name: `.next-readme-${process.pid}`, own: true };
  if (upScript.includes("PORTCULLIS_NEXT_DIST_DIR")) return e2eDistDir && !staleBuild(e2eDistDir) ? { name: e2eDistDir, own: false } : own;
  return staleBuild(".next") ? own : undefined;
}

/** up.sh's rebuild condition: no BUILD_ID, or a source newer than it. */
function staleBuild(distDir: string): boolean {
  const buildId = path.join(ROOT, "apps", "web", distDir, "BUILD_ID");
  if (!existsSync(buildId)) return true;
  const newer = execFileSync(
    "find",
    ["apps/web/src", "packages", "-newer", buildId, "(", "-name", "*.ts", "-o", "-name", "*.tsx", "-o", "-name", "*.css", ")", "-not", "-path", "*/node_modules/*", "-print", "-quit"],
    { cwd: ROOT, encoding: "utf8" },
  );
  return newer.trim() !== "";
}

/** Ctrl-C, as the README says; the process group is killed only if up.sh has not stopped within 60 s. */
async function stopUp(child: ChildProcess, dataDir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGINT");
    const late = await Promise.race([exited.then(() => false), new Promise((r) => setTimeout(() => r(true), 60_000))]);
    if (late) {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
      await exited;
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
}
