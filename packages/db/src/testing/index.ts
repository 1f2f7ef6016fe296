import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { migrate } from "../migrate/index.js";

/**
 * Test helpers for integration suites. `scripts/test.sh` (or `scripts/test-services.sh` when running
 * vitest by hand) starts a project-local PostgreSQL and Redis and exports:
 *   TEST_PG_URL    admin URL of the test cluster (any database name; we switch it)
 *   TEST_REDIS_URL Redis for tests
 * Every suite gets databases of its own, so suites can run in parallel and leave nothing behind.
 */
/** A TCP port free on 127.0.0.1 right now (for a server a test or benchmark starts itself). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function testPgUrl(database = "postgres"): string {
  const base = process.env.TEST_PG_URL;
  if (!base) throw new Error("TEST_PG_URL is not set: run tests through `pnpm test` or source scripts/test-services.sh");
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

export function testRedisUrl(): string {
  const url = process.env.TEST_REDIS_URL;
  if (!url) throw new Error("TEST_REDIS_URL is not set: run tests through `pnpm test` or source scripts/test-services.sh");
  return url;
}

/** One session on `url` for the length of `fn`, closed whatever happens. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return withClient(testPgUrl("postgres"), fn);
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function createDatabase(prefix: string, template?: string): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(5).toString("hex")}`;
  await admin((c) =>
    c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}${template ? ` TEMPLATE ${pg.escapeIdentifier(template)}` : ""}`),
  );
  return {
    name,
    url: testPgUrl(name),
    drop: () => admin((c) => dropDatabase(c, name)),
  };
}

/**
 * Waits (up to 1 s) for the test's own sessions to finish closing before forcing the rest out: a pool
 * whose end() has resolved may still have clients saying goodbye, and a FORCE drop would terminate
 * them with a FATAL error that reaches the test process as an unhandled error (seen as a flaky run).
 */
async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name]);
    if (rows[0].n === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
}

/** A fresh, migrated metadata database. */
export async function createMetadataDatabase(): Promise<TestDatabase> {
  const db = await createDatabase("meta");
  await migrate(db.url);
  return db;
}

/** A fresh empty database (for targets a test builds itself). */
export function createEmptyDatabase(prefix = "target"): Promise<TestDatabase> {
  return createDatabase(prefix);
}

const CHINOOK_SQL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../seed/chinook/chinook.sql");
const CHINOOK_TEMPLATE = "chinook_template";

/** A private copy of the Chinook demo database, cloned from a template loaded once per cluster. */
export async function createChinookDatabase(): Promise<TestDatabase> {
  await admin(async (c) => {
    // Serialise template creation across parallel suites.
    await c.query("SELECT pg_advisory_lock(4242)");
    try {
      const { rowCount } = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [CHINOOK_TEMPLATE]);
      if (!rowCount) {
        await c.query(`CREATE DATABASE ${CHINOOK_TEMPLATE}`);
        await loadChinook(testPgUrl(CHINOOK_TEMPLATE));
      }
    } finally {
      await c.query("SELECT pg_advisory_unlock(4242)");
    }
  });
  return createDatabase("chinook", CHINOOK_TEMPLATE);
}

/** Loads the Chinook script (minus its DROP/CREATE DATABASE and \c lines) into an existing database. */
export async function loadChinook(databaseUrl: string): Promise<void> {
  const script = await readChinookScript();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(script);
  } finally {
    await client.end();
  }
}

export async function readChinookScript(): Promise<string> {
  const raw = await readFile(CHINOOK_SQL, "utf8");
  return raw
    .split("\n")
    .filter((line) => !/^\s*(DROP DATABASE|CREATE DATABASE|\\c)\b/i.test(line))
    .join("\n");
}
export { seedToolCallEvents, type SeedToolCallsOptions } from "./audit-seed.js";
export { sharedReplicationPair, startReplicationPair, type ReplicaServer, type ReplicationPair } from "./replication.js";
export { MACHINE_HEADERS, machineCells, machineTimes, median, mib, percentile, printTable, processCpuMs, processMemory, processTree, resetPeakMemory, startRound, type MachineTimes, type RoundMachine } from "./bench-machine.js";
