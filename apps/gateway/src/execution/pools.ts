import pg from "pg";
import { targetClientConfig, type TargetConnectionRow } from "@portcullis/db/target";
import type { SecretKeyring } from "@portcullis/db/secrets";
import type { Logger } from "../logger.js";

interface PoolEntry {
  pool: pg.Pool;
  /** Changes when anything that reaches the database changes (host, credentials, TLS). */
  fingerprint: string;
  lastUsed: number;
}

// Pinned per session so values come back in the text forms execution/values.ts parses, and so a
// transaction left open by a bug cannot hold locks forever. Sent as one SET when a connection opens,
// not as startup `options`: PgBouncer and some hosted poolers refuse unknown startup parameters.
const SESSION_SETUP =
  "SET DateStyle = ISO, MDY; SET IntervalStyle = postgres; SET TimeZone = 'UTC'; SET bytea_output = hex; " +
  "SET extra_float_digits = 1; SET idle_in_transaction_session_timeout = 60000";

// Link records (and their connection rows) are cached objects reused by every call: the fingerprint,
// a long string (it includes the sealed secret), is built once per row object, not per statement.
const fingerprints = new WeakMap<TargetConnectionRow, string>();

function fingerprintOf(row: TargetConnectionRow): string {
  let fingerprint = fingerprints.get(row);
  if (fingerprint === undefined) {
    fingerprint = `${row.host}\0${row.port}\0${row.database}\0${row.username}\0${row.secretCiphertext}\0${row.sslMode}\0${row.sslCaCert ?? ""}`;
    fingerprints.set(row, fingerprint);
  }
  return fingerprint;
}

/**
 * One bounded pool per target connection, shared by every link on that connection, created on first
 * use and closed after it sat idle. The password is decrypted only when a pool is created.
 */
export class TargetPools {
  private readonly pools = new Map<string, PoolEntry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly options: { max: number; idleMs: number; keyring: SecretKeyring; onCountChange?: (n: number) => void },
    private readonly logger: Logger,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(1_000, Math.floor(options.idleMs / 4)));
    this.sweeper.unref();
  }

  get(row: TargetConnectionRow): pg.Pool {
    const fingerprint = fingerprintOf(row);
    const existing = this.pools.get(row.id);
    const now = Date.now();
    if (existing && existing.fingerprint === fingerprint) {
      existing.lastUsed = now;
      return existing.pool;
    }
    if (existing) this.close(row.id);
    const pool = new pg.Pool({
      ...targetClientConfig(row, this.options.keyring),
      max: this.options.max,
      idleTimeoutMillis: Math.min(this.options.idleMs, 30_000),
      allowExitOnIdle: true,
    });
    // Idle clients die when the target restarts; the pool replaces them. Without a listener the
    // process would crash on that event.
    pool.on("error", (error) => this.logger.warn({ connectionId: row.id, err: error.message }, "idle target connection failed"));
    // pg runs a client's queries in order, so this completes before the first statement it serves.
    pool.on("connect", (client) => {
      // A checked-out client whose socket closes mid-statement (the server reset it, or the statement
      // runner closed it to abandon an oversized row) emits "error" while the pool's idle listener is
      // detached: without this the process would crash. The statement sees the failure itself.
      client.on("error", (error: Error) => this.logger.debug({ connectionId: row.id, err: error.message }, "target connection closed while in use"));
      client.query(SESSION_SETUP).catch((error: Error) => this.logger.warn({ connectionId: row.id, err: error.message }, "session setup failed"));
    });
    this.pools.set(row.id, { pool, fingerprint, lastUsed: now });
    this.options.onCountChange?.(this.pools.size);
    return pool;
  }

  close(connectionId: string): void {
    const entry = this.pools.get(connectionId);
    if (!entry) return;
    this.pools.delete(connectionId);
    this.options.onCountChange?.(this.pools.size);
    entry.pool.end().catch(() => {});
  }

  private sweep(): void {
    const cutoff = Date.now() - this.options.idleMs;
    for (const [id, entry] of this.pools) {
      if (entry.lastUsed < cutoff && entry.pool.waitingCount === 0 && entry.pool.idleCount === entry.pool.totalCount) this.close(id);
    }
  }

  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    const entries = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(entries.map((e) => e.pool.end().catch(() => {})));
  }

  get size(): number {
    return this.pools.size;
  }
}
