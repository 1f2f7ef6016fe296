import { execFile } from "node:child_process";
import { chmod, chown, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort, loadChinook } from "./index.js";

const run = promisify(execFile);

/**
 * A real primary + streaming replica(s) of local PostgreSQL clusters for the read-replica tests (issue
 * 17): `pg_basebackup -R -X stream` of a `wal_level=replica` primary, each server on a free loopback
 * port with its own data directory under the OS tmp dir. PostgreSQL refuses to run as root: as root,
 * every server runs as the `postgres` system user. The Chinook demo database is loaded on the primary
 * (so it reaches the replicas by replication, as in production).
 */
export interface ReplicaServer {
  name: string;
  port: number;
  url(database?: string): string;
}

export interface ReplicationPair {
  primary: { port: number; url(database?: string): string };
  replicas: ReplicaServer[];
  /** The Chinook database's name on every server. */
  database: string;
  /** Stops WAL replay on replica `index` (WAL is still received): reads there fall behind. */
  pauseReplay(index?: number): Promise<void>;
  resumeReplay(index?: number): Promise<void>;
  stopReplica(index?: number): Promise<void>;
  startReplica(index?: number): Promise<void>;
  /** Resolves once replica `index` has replayed everything the primary wrote so far. */
  waitForReplay(index?: number, timeoutMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

const PASSWORD = "portcullis";
const REPLICATION_PASSWORD = "replication-secret";

async function pgBin(): Promise<string> {
  const versions = (await readdir("/usr/lib/postgresql")).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  if (!versions.length) throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql");
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

const asRoot = () => process.getuid?.() === 0;

async function asPostgres(command: string, args: string[]): Promise<{ stdout: string }> {
  return asRoot() ? run("runuser", ["-u", "postgres", "--", command, ...args]) : run(command, args);
}

async function ownedByPostgres(dir: string): Promise<void> {
  if (!asRoot()) return;
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
  await chown(dir, Number(uid.trim()), Number(gid.trim()));
  await chmod(dir, 0o700);
}

function urlFor(port: number, database: string): string {
  return `postgresql://portcullis:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on("error", () => {});
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(error as Error).message}`);
    }
    if (Date.now() > deadline) throw new Error(`${what}: timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts a primary and `replicas` streaming replicas (named replica1, replica2, …) and loads Chinook on
 * the primary. Each replica is in recovery and has replayed a row written on the primary before this
 * resolves.
 */
export async function startReplicationPair(options: { replicas?: number } = {}): Promise<ReplicationPair> {
  const count = options.replicas ?? 1;
  const [bin, root] = await Promise.all([pgBin(), mkdtemp(path.join(tmpdir(), "pg-repl-"))]);
  await ownedByPostgres(root);
  const ctl = (dir: string, ...args: string[]) => asPostgres(`${bin}/pg_ctl`, ["-D", dir, ...args]);
  const start = async (dir: string, port: number) => {
    // After an immediate stop the old backends may hold shared memory for a moment: retried.
    for (let attempt = 0; ; attempt++) {
      try {
        await ctl(dir, "-l", `${dir}.log`, "-w", "-t", "60", "-o", `-p ${port}`, "start");
        return;
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };

  const primaryPort = await freePort();
  const primaryDir = path.join(root, "primary");
  const pwfile = path.join(root, "pw");
  await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
  await ownedByPostgres(pwfile);
  await asPostgres(`${bin}/initdb`, ["-D", primaryDir, "-U", "portcullis", `--pwfile=${pwfile}`, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"]);
  await rm(pwfile, { force: true });
  const conf = [
    "listen_addresses = '127.0.0.1'",
    `port = ${primaryPort}`,
    `unix_socket_directories = '${root}'`,
    "wal_level = replica",
    "max_wal_senders = 10",
    "wal_keep_size = '256MB'",
    "hot_standby = on",
    // Standbys answer each read right away; without it a read conflicting with replay would wait.
    "hot_standby_feedback = on",
    "fsync = off",
    "full_page_writes = off",
    "shared_buffers = 32MB",
    "max_connections = 100",
    "log_min_messages = warning",
  ].join("\n");
  await asPostgres("bash", ["-c", `printf '%s\\n' "$1" >> "$2/postgresql.conf" && printf '%s\\n' "host replication replicator 127.0.0.1/32 scram-sha-256" >> "$2/pg_hba.conf"`, "-", conf, primaryDir]);
  await start(primaryDir, primaryPort);
  const primaryUrl = (database = "postgres") => urlFor(primaryPort, database);
  await query(primaryUrl(), `CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}'`);
  await query(primaryUrl(), "CREATE DATABASE chinook");
  await loadChinook(primaryUrl("chinook"));
  await query(primaryUrl("chinook"), "CREATE TABLE replication_marker (id serial PRIMARY KEY, note text NOT NULL)");

  const replicas: { server: ReplicaServer; dir: string }[] = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const dir = path.join(root, `replica${i + 1}`);
    await asPostgres("env", [`PGPASSWORD=${REPLICATION_PASSWORD}`, `${bin}/pg_basebackup`, "-h", "127.0.0.1", "-p", String(primaryPort), "-U", "replicator", "-D", dir, "-R", "-X", "stream", "-c", "fast"]);
    await asPostgres("bash", ["-c", `printf '%s\\n' "port = ${port}" >> "$1/postgresql.conf"`, "-", dir]);
    await start(dir, port);
    replicas.push({ server: { name: `replica${i + 1}`, port, url: (database = "postgres") => urlFor(port, database) }, dir });
  }

  const replica = (index: number) => {
    const r = replicas[index];
    if (!r) throw new Error(`no replica ${index}`);
    return r;
  };
  const waitForReplay = async (index = 0, timeoutMs = 30_000) => {
    const lsn = (await query<{ lsn: string }>(primaryUrl(), "SELECT pg_current_wal_lsn()::text AS lsn"))[0]!.lsn;
    await until(`replica ${index + 1} replays ${lsn}`, timeoutMs, async () => {
      const [row] = await query<{ done: boolean }>(replica(index).server.url(), "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done", [lsn]);
      return row?.done === true;
    });
  };

  const pair: ReplicationPair = {
    primary: { port: primaryPort, url: primaryUrl },
    replicas: replicas.map((r) => r.server),
    database: "chinook",
    async pauseReplay(index = 0) {
      const url = replica(index).server.url();
      await query(url, "SELECT pg_wal_replay_pause()");
      await until("replay paused", 10_000, async () => (await query<{ s: string }>(url, "SELECT pg_get_wal_replay_pause_state() AS s"))[0]?.s === "paused");
    },
    async resumeReplay(index = 0) {
      await query(replica(index).server.url(), "SELECT pg_wal_replay_resume()");
    },
    async stopReplica(index = 0) {
      await ctl(replica(index).dir, "-m", "fast", "-w", "stop");
    },
    async startReplica(index = 0) {
      await start(replica(index).dir, replica(index).server.port);
    },
    waitForReplay,
    async destroy() {
      for (const r of replicas) await ctl(r.dir, "-m", "immediate", "-w", "stop").catch(() => {});
      await ctl(primaryDir, "-m", "immediate", "-w", "stop").catch(() => {});
      await rm(root, { recursive: true, force: true });
    },
  };

  try {
    // A row written on the primary after every replica started, seen on each: streaming works.
    const id = (await query<{ id: number }>(primaryUrl("chinook"), "INSERT INTO replication_marker (note) VALUES ('ready') RETURNING id"))[0]!.id;
    for (let i = 0; i < replicas.length; i++) {
      const url = replica(i).server.url("chinook");
      await until(`replica ${i + 1} streams`, 60_000, async () => {
        const [row] = await query<{ recovering: boolean; seen: boolean }>(
          url,
          "SELECT pg_is_in_recovery() AS recovering, EXISTS (SELECT 1 FROM replication_marker WHERE id = $1) AS seen",
          [id],
        );
        return row?.recovering === true && row.seen === true;
      });
    }
  } catch (error) {
    const logs = await Promise.all([primaryDir, ...replicas.map((r) => r.dir)].map((d) => readFile(`${d}.log`, "utf8").catch(() => "")));
    await pair.destroy();
    throw new Error(`${(error as Error).message}\n${logs.join("\n---\n").slice(-4000)}`);
  }
  return pair;
}

// One pair per test file (vitest gives each file its own module registry), started on first use.
const shared = new Map<number, Promise<ReplicationPair>>();

/** The test file's replication pair (with `replicas` replicas), started once and reused. */
export function sharedReplicationPair(options: { replicas?: number } = {}): Promise<ReplicationPair> {
  const count = options.replicas ?? 1;
  let pair = shared.get(count);
  if (!pair) {
    pair = startReplicationPair({ replicas: count });
    shared.set(count, pair);
    pair.catch(() => shared.delete(count));
  }
  return pair;
}
