import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { QUEUES } from "@portcullis/jobs";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { generateSecretKey } from "@portcullis/db/secrets";
import { queueDemoSchemaJobs, seedDemo } from "@portcullis/db/seed";
import { createMetadataDatabase, testPgUrl, testRedisUrl, withClient, type TestDatabase } from "@portcullis/db/testing";
import { Queue } from "bullmq";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseGatewayEnv } from "../src/env.js";
import { createGateway, type Gateway } from "../src/gateway.js";
import { connectClient, toolText, waitFor } from "./fixtures.js";

/**
 * Issue 18: the demo is complete when up.sh says ready. The seed (as up.sh runs it) queues the demo
 * connection's introspection on the worker's queue; the real worker, in its own process, takes the
 * snapshot and writes the offline descriptions; demo-ready (the CLI up.sh waits on) exits 0 only
 * then; and the first get_schema through a seeded link carries the descriptions.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const DEMO_READY = path.join(ROOT, "packages/db/src/seed/demo-ready.ts");
const WORKER_MAIN = path.join(ROOT, "apps/worker/src/main.ts");
const run = promisify(execFile);

const secretKeys = generateSecretKey("k1");
const prefix = `demo-${randomBytes(4).toString("hex")}`;
const role = `chinook_${randomBytes(4).toString("hex")}`;
const database = `chinook_${randomBytes(4).toString("hex")}`;
// What up.sh allows for the demo: the target cluster's one address and the demo database.
const server = new URL(testPgUrl());
const targetEnv = { TARGET_ALLOW_ADDRESSES: `${server.hostname}:${server.port}`, TARGET_STACK_DATABASES: database };

let meta: TestDatabase;
let prisma: PrismaClient;
let pool: pg.Pool;
let keysDir: string;
let worker: ChildProcess | undefined;
let gateway: Gateway | undefined;
let gatewayUrl = "";
let seeded: Awaited<ReturnType<typeof seedDemo>>;
let seedMs = 0;
const saved = { ...process.env };

async function seed() {
  return seedDemo(prisma, { targetAdminUrl: testPgUrl("postgres"), keysFile: path.join(keysDir, "demo-keys.json"), targetRole: role, targetDatabase: database });
}

const queueOptions = { redisUrl: testRedisUrl(), prefix };

async function demoReady(timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", DEMO_READY], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: meta.url, DEMO_READY_TIMEOUT_MS: String(timeoutMs) },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

async function jobCounts(name: string): Promise<number> {
  const queue = new Queue(name, { prefix, connection: { url: testRedisUrl() } });
  try {
    const counts = await queue.getJobCounts("waiting", "active", "delayed", "prioritized", "completed", "failed");
    return Object.values(counts).reduce((a, b) => a + b, 0);
  } finally {
    await queue.close();
  }
}

async function descriptions(): Promise<Map<string, { description: string; source: string }>> {
  const { rows } = await pool.query<{ key: string; description: string; source: string }>(
    `SELECT table_name || '.' || column_name AS key, description, source FROM schema_descriptions WHERE connection_id = $1`,
    [seeded.connectionId],
  );
  return new Map(rows.map((r) => [r.key, { description: r.description, source: r.source }]));
}

/** A descriptions job as the dashboard queues it ("Regenerate"), waited for until it is finished. */
async function regenerate(): Promise<void> {
  const queue = new Queue(QUEUES.descriptions, { prefix, connection: { url: testRedisUrl() } });
  try {
    const job = await queue.add("describe", { connectionId: seeded.connectionId }, { attempts: 1 });
    await waitFor(() => job.getState(), (s) => s === "completed" || s === "failed", 60_000, 100);
    expect(await job.getState()).toBe("completed");
  } finally {
    await queue.close();
  }
}

beforeAll(async () => {
  Object.assign(process.env, { PORTCULLIS_SECRET_KEYS: secretKeys, ...targetEnv });
  meta = await createMetadataDatabase();
  prisma = createPrismaClient(meta.url);
  pool = new pg.Pool({ connectionString: meta.url, max: 2 });
  keysDir = await mkdtemp(path.join(tmpdir(), "demo-ready-"));
  const started = performance.now();
  seeded = await seed();
  seedMs = performance.now() - started;
}, 120_000);

afterAll(async () => {
  await gateway?.stop().catch(() => {});
  if (worker && worker.exitCode === null) {
    const exited = new Promise((resolve) => worker!.once("exit", resolve));
    worker.kill("SIGTERM");
    await exited;
  }
  await pool?.end();
  await prisma?.$disconnect();
  await meta?.drop();
  await withClient(testPgUrl("postgres"), async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
  }).catch(() => {});
  if (keysDir) await rm(keysDir, { recursive: true, force: true });
  process.env = saved;
}, 60_000);

describe("the demo at ready", () => {
  test("the seed queues the introspection once, however often it runs; demo-ready waits and says what is missing", async () => {
    expect(await queueDemoSchemaJobs(pool, seeded.connectionId, queueOptions)).toBe("introspection-queued");
    await seed();
    expect(await queueDemoSchemaJobs(pool, seeded.connectionId, queueOptions)).toBe("already-queued");
    expect(await jobCounts(QUEUES.introspection)).toBe(1);
    expect(await jobCounts(QUEUES.descriptions)).toBe(0);

    const early = await demoReady(1500);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain("no schema snapshot of the demo connection");
    expect(early.stdout).toContain("waiting for the demo's schema snapshot");
  }, 60_000);

  test("the real worker takes the snapshot and writes descriptions; demo-ready exits 0; get_schema carries them", async () => {
    const started = performance.now();
    worker = spawn(process.execPath, ["--import", "tsx", WORKER_MAIN], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: meta.url,
        REDIS_URL: testRedisUrl(),
        QUEUE_PREFIX: prefix,
        WORKER_METRICS_PORT: "0",
        LOG_LEVEL: "warn",
        AI_PROVIDER: "none",
      },
      stdio: ["ignore", "ignore", "inherit"],
    });
    const ready = await demoReady(90_000);
    const readyMs = performance.now() - started;
    expect(ready.code, ready.stderr).toBe(0);
    expect(ready.stdout).toMatch(/demo ready: schema snapshot and descriptions for 11 tables/);
    console.log(`demo seed ${(seedMs / 1000).toFixed(1)} s (Chinook load included); worker start → demo ready ${(readyMs / 1000).toFixed(1)} s`);

    const stored = await descriptions();
    expect(stored.get("album.")?.description).toBe("One row per album, about 347 rows. Joins artist via artist_id. Referenced by track.album_id.");
    expect(stored.get("album.")?.source).toBe("heuristic");

    gateway = createGateway(
      parseGatewayEnv({
        DATABASE_URL: meta.url,
        REDIS_URL: testRedisUrl(),
        PORTCULLIS_SECRET_KEYS: secretKeys,
        GATEWAY_PORT: "0",
        GATEWAY_HOST: "127.0.0.1",
        GATEWAY_PUBLIC_URL: "http://localhost:3001",
        WEB_PUBLIC_URL: "http://localhost:3000",
        GATEWAY_AUDIT_SPOOL_DIR: keysDir,
        QUEUE_PREFIX: prefix,
        LOG_LEVEL: "silent",
        GATEWAY_INTERNAL_TOKEN: "internal-test-token",
        GATEWAY_INTERNAL_PORT: "0",
        ...targetEnv,
      }),
    );
    gatewayUrl = await gateway.start();
    const readOnly = seeded.links.find((l) => l.name === "chinook-read-only")!;
    const client = await connectClient(`${gatewayUrl}/mcp/${readOnly.id}`, readOnly.apiKey);
    const schema = toolText(await client.callTool({ name: "get_schema", arguments: {} }));
    expect(schema).toContain("Joins artist via artist_id");
    expect(schema).toContain("Links playlist and track, many-to-many");
    expect(schema).toContain("Reports to (another employee, a self-reference). Joins employee.employee_id.");
    const track = toolText(await client.callTool({ name: "describe_table", arguments: { table: "track" } }));
    expect(track).toContain("Referenced by invoice_line.track_id; playlist_track.track_id.");
    await client.close();

    // Through the PII-safe link: the hidden columns are not there, nor any description naming them.
    const piiSafe = seeded.links.find((l) => l.name === "chinook-pii-safe")!;
    const pii = await connectClient(`${gatewayUrl}/mcp/${piiSafe.id}`, piiSafe.apiKey);
    const customer = toolText(await pii.callTool({ name: "describe_table", arguments: { table: "customer" } }));
    expect(customer).toContain("Referenced by invoice.customer_id");
    for (const hidden of ["first_name", "last_name", "company", "email", "phone", "fax", "postal_code", "e-mail address"]) {
      expect(customer).not.toContain(hidden);
    }
    const invoice = toolText(await pii.callTool({ name: "describe_table", arguments: { table: "invoice" } }));
    expect(invoice).toContain("billing_city");
    expect(invoice).not.toContain("billing_address");
    expect(invoice).not.toContain("billing_postal_code");
    await pii.close();
  }, 180_000);

  test("a human edit (and an AI description) survives a re-seed and a re-introspection with new descriptions", async () => {
    await pool.query(
      `UPDATE schema_descriptions SET description = 'Albums as released; one artist each.', source = 'human', model = NULL
       WHERE connection_id = $1 AND table_name = 'album' AND column_name = ''`,
      [seeded.connectionId],
    );
    const before = await jobCounts(QUEUES.introspection);
    await seed();
    expect(await queueDemoSchemaJobs(pool, seeded.connectionId, queueOptions)).toBe("complete");
    expect(await jobCounts(QUEUES.introspection)).toBe(before);

    const introspection = new Queue(QUEUES.introspection, { prefix, connection: { url: testRedisUrl() } });
    try {
      const job = await introspection.add("introspect", { connectionId: seeded.connectionId, reason: "on_demand" }, { attempts: 1 });
      await waitFor(() => job.getState(), (s) => s === "completed" || s === "failed", 60_000, 100);
    } finally {
      await introspection.close();
    }
    // An AI description (a provider configured earlier) is not replaced by an offline one either.
    await pool.query(
      `UPDATE schema_descriptions SET description = 'Musical genres tracks are filed under.', source = 'ai', model = 'openai:gpt-4o-mini'
       WHERE connection_id = $1 AND table_name = 'genre' AND column_name = ''`,
      [seeded.connectionId],
    );
    expect(await queueDemoSchemaJobs(pool, seeded.connectionId, queueOptions)).toBe("complete");
    await regenerate();
    const stored = await descriptions();
    expect(stored.get("album.")).toEqual({ description: "Albums as released; one artist each.", source: "human" });
    expect(stored.get("genre.")).toEqual({ description: "Musical genres tracks are filed under.", source: "ai" });
    expect(stored.get("artist.")?.source).toBe("heuristic");
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM schema_snapshots WHERE connection_id = $1`, [seeded.connectionId]);
    expect(rows[0].n).toBe(2);
  }, 120_000);

  test("tables an earlier offline describer described are described again on the next seed", async () => {
    await pool.query(
      `UPDATE schema_descriptions SET description = 'Table of artist: one row per artist.', model = NULL
       WHERE connection_id = $1 AND table_name = 'artist' AND column_name = ''`,
      [seeded.connectionId],
    );
    await seed();
    expect(await queueDemoSchemaJobs(pool, seeded.connectionId, queueOptions)).toBe("descriptions-queued");
    const ready = await demoReady(60_000);
    expect(ready.code, ready.stderr).toBe(0);
    const stored = await descriptions();
    expect(stored.get("artist.")?.description).toBe("One row per artist, about 275 rows. Referenced by album.artist_id.");
    expect(stored.get("album.")?.source).toBe("human");
    expect(await queueDemoSchemaJobs(pool, seeded.connectionId, queueOptions)).toBe("complete");
  }, 120_000);

  test("with sample values opted in, descriptions use column statistics, never from a hidden or masked column", async () => {
    // Five employee titles and three cities: low-cardinality, so they would be listed if allowed.
    const titles = ["General Manager", "Sales Manager", "Sales Support Agent", "IT Manager", "IT Staff"];
    const cities = ["Calgary", "Edmonton", "Lethbridge"];
    await pool.query(`UPDATE connections SET sample_values_opt_in = true WHERE id = $1`, [seeded.connectionId]);
    // A third link hides employee.title and masks employee.city (written as stored; the worker reads
    // scopes leniently, and a mask anywhere keeps the real values out of every description).
    const owner = await pool.query<{ created_by_id: string | null; team_id: string }>(`SELECT created_by_id, team_id FROM links WHERE id = $1`, [seeded.links[0]!.id]);
    await pool.query(
      `INSERT INTO links (team_id, connection_id, name, scope, created_by_id) VALUES ($1, $2, 'masking', $3, $4)`,
      [
        owner.rows[0]!.team_id,
        seeded.connectionId,
        JSON.stringify({ access: "read", tables: { employee: { hiddenColumns: ["title"], maskedColumns: { city: "redact" } } } }),
        owner.rows[0]!.created_by_id,
      ],
    );
    await regenerate();
    const stored = await descriptions();
    // Statistics are used where allowed (the test fails if they never are) ...
    expect(stored.get("media_type.name")?.description).toMatch(/^The media type's name\. Values: .*'MPEG audio file'/);
    // ... and no description anywhere carries a hidden or masked column's values.
    const all = [...stored.values()].map((d) => d.description).join("\n");
    for (const value of [...titles, ...cities]) expect(all).not.toContain(value);
    expect(stored.get("employee.title")?.description).toBe("The employee's title.");
    expect(stored.get("employee.city")?.description).toBe("The employee's city.");
    // Columns the PII-safe link hides (customer.country is not one; customer.company is).
    expect(stored.get("customer.company")?.description).toBe("The customer's company.");
  }, 120_000);
});
