import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { freePort } from "@portcullis/db/testing";
import { loadWorkerEnv } from "../../worker/src/env.js";
import { startWorker, type RunningWorker } from "../../worker/src/app.js";
import type { GatewayWorld } from "./fixtures.js";

/**
 * A Redis of the test's own (never the shared test Redis): killed with SIGKILL, restarted on the same
 * port, optionally with its data directory wiped (a Redis that lost everything it had not synced).
 */
export class ThrowawayRedis {
  private child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(): Promise<ThrowawayRedis> {
    const redis = new ThrowawayRedis(await freePort(), await mkdtemp(path.join(tmpdir(), "gw-redis-")));
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    // appendfsync everysec: what the quick start runs, and what can lose its last second.
    this.child = spawn("redis-server", ["--bind", "127.0.0.1", "--port", String(this.port), "--dir", this.dir, "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""], {
      stdio: "ignore",
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const up = await fetch(`http://127.0.0.1:${this.port}`).then(
        () => true,
        (e: Error) => !String(e.cause).includes("ECONNREFUSED"),
      );
      if (up) return;
      if (Date.now() > deadline) throw new Error("redis did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL; with `wipe`, its dataset (AOF directory) is deleted before any restart. */
  async kill(options: { wipe?: boolean } = {}): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    }
    if (options.wipe) for (const f of await readdir(this.dir)) await rm(path.join(this.dir, f), { recursive: true, force: true });
  }

  async close(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** The real worker (apps/worker), in this process, consuming the world's queues on `redisUrl`. */
export function startAuditWorker(world: GatewayWorld, redisUrl: string): Promise<RunningWorker> {
  const env = loadWorkerEnv({
    DATABASE_URL: world.meta.url,
    REDIS_URL: redisUrl,
    PORTCULLIS_SECRET_KEYS: world.secretKeys,
    QUEUE_PREFIX: world.queuePrefix,
    LOG_LEVEL: "silent",
    AI_PROVIDER: "none",
  });
  return startWorker(env, { metricsServer: false, schedules: false, sweepEveryMs: 500 });
}

/** Audit rows whose SQL carries `marker`, counted per call number (`SELECT <n> …`). */
export async function rowsPerCall(world: GatewayWorld, marker: string): Promise<Map<number, number>> {
  const client = new pg.Client({ connectionString: world.meta.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ sql: string }>(`SELECT sql FROM audit_events WHERE sql LIKE '%' || $1 || '%'`, [marker]);
    const counts = new Map<number, number>();
    for (const row of rows) {
      const n = Number(/SELECT (\d+)/.exec(row.sql)![1]);
      counts.set(n, (counts.get(n) ?? 0) + 1);
    }
    return counts;
  } finally {
    await client.end();
  }
}

/** Segment files under the spool directory, per instance directory. */
export async function journalSegments(spoolDir: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const entry of await readdir(spoolDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const files = (await readdir(path.join(spoolDir, entry.name)).catch(() => [] as string[])).filter((f) => f.endsWith(".jsonl"));
    out.set(entry.name, files);
  }
  return out;
}

/** A JSON-RPC tools/call over plain HTTP (no SDK): status, result or error, as a load generator sees them. */
export async function callSql(url: string, key: string, sql: string): Promise<{ status: number; ok: boolean; text: string; error?: { code: number; message: string } }> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      authorization: `Bearer ${key}`,
      "mcp-protocol-version": "2025-06-18",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "execute_sql", arguments: { sql } } }),
  });
  const text = await response.text();
  let body: { result?: { isError?: boolean }; error?: { code: number; message: string } } | undefined;
  try {
    body = JSON.parse(text.startsWith("event:") || text.startsWith("data:") ? /data: (.*)/.exec(text)![1]! : text);
  } catch {
    body = undefined;
  }
  return { status: response.status, ok: response.status === 200 && !!body?.result && !body.result.isError, text, error: body?.error };
}
