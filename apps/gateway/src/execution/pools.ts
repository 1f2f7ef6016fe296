import pg from "pg";
import { explainPowerfulRole } from "@portcullis/db/operations";
import { TARGET_SESSION_PIN, TargetAddressError, type TargetConnectionRow, type TargetPolicy } from "@portcullis/db/target";
import { openTargetRoute, type TargetRoute } from "@portcullis/db/target-route";
import { SshAuthError, SshConnectError, SshHostKeyError } from "@portcullis/db/ssh";
import type { SecretKeyring } from "@portcullis/db/secrets";
import type { Logger } from "../logger.js";

interface PoolEntry {
  connectionId: string;
  /** Settles once the address was checked and the role re-checked (or refused). */
  ready: Promise<pg.Pool>;
  /** Set once `ready` resolved, for the synchronous close and sweep (callers await `ready`). */
  pool?: pg.Pool;
  /** The route the pool's sessions travel (its SSH chain), closed after the pool ends. */
  route?: TargetRoute;
  /** When the pool was refused (kept briefly so a refused connection is not re-checked per call). */
  refusedAt?: number;
  /** How long that refusal is remembered. */
  refusalMs?: number;
  /** Changes when anything that reaches the database changes (host, credentials, TLS, SSH route). */
  fingerprint: string;
  lastUsed: number;
}

// Pinned per session so the server reads statements as the checker parsed them (TARGET_SESSION_PIN),
// values come back in the text forms execution/values.ts parses, and a transaction left open by a bug
// cannot hold locks forever. Sent as one SET when a connection opens, not as startup `options`:
// PgBouncer and some hosted poolers refuse unknown startup parameters.
const SESSION_SETUP =
  `${TARGET_SESSION_PIN}; SET DateStyle = ISO, MDY; SET IntervalStyle = postgres; SET TimeZone = 'UTC'; SET bytea_output = hex; ` +
  "SET extra_float_digits = 1; SET idle_in_transaction_session_timeout = 60000";

// Link records (and their connection rows) are cached objects reused by every call: the fingerprint,
// a long string (it includes the sealed secret), is built once per row object, not per statement.
const fingerprints = new WeakMap<TargetConnectionRow, string>();

function fingerprintOf(row: TargetConnectionRow): string {
  let fingerprint = fingerprints.get(row);
  if (fingerprint === undefined) {
    // Every field that reaches the database, so an edited connection (a re-pinned host key, a new client
    // key, another bastion) gets a new pool and route instead of the old one.
    const hops = (row.sshHops ?? []).map((h) =>
      [h.position, h.host, h.port, h.username, h.privateKeyCiphertext, h.passphraseCiphertext ?? "", h.hostKeySha256 ?? ""].join("\u0001"),
    );
    fingerprint = [
      row.server ?? "primary",
      row.host,
      row.port,
      row.database,
      row.username,
      row.secretCiphertext,
      row.sslMode,
      row.sslCaCert ?? "",
      row.sslClientCert ?? "",
      row.sslClientKeyCiphertext ?? "",
      row.sslServerName ?? "",
      ...hops,
    ].join("\0");
    fingerprints.set(row, fingerprint);
  }
  return fingerprint;
}

/** Pools are per connection and server: a replica (forServer) never shares the primary's sessions. */
function poolKey(row: TargetConnectionRow): string {
  return `${row.id}\0${row.server ?? "primary"}`;
}

/** The connection's address or role is refused by the operator's target policy; nothing was run. */
export class TargetRefusedError extends Error {
  readonly code = "target_refused";
}

// What a role can reach beyond its database, as the dashboard asks when the connection is saved.
const ROLE_FACTS = `SELECT current_user AS role, r.rolsuper, r.rolcreaterole,
    ARRAY(SELECT b.rolname::text FROM pg_roles b WHERE b.rolname = ANY($1::text[]) AND pg_has_role(r.oid, b.oid, 'MEMBER')) AS server_roles
  FROM pg_roles r WHERE r.rolname = current_user`;
const SERVER_ROLES = ["pg_execute_server_program", "pg_read_server_files", "pg_write_server_files"];
const REFUSAL_MEMORY_MS = 5_000;
// A route that could not be dialled (a bastion down, a hop's forward refused, a timeout) is remembered
// for less: long enough that a burst of calls, or the replica probes, do not each reopen the hops' keys
// and redial, short enough that a recovered bastion is used again within seconds.
const DOWN_MEMORY_MS = 3_000;

const expired = (entry: PoolEntry, now: number) => entry.refusedAt !== undefined && now - entry.refusedAt >= (entry.refusalMs ?? REFUSAL_MEMORY_MS);

/**
 * One bounded pool per target connection and server (primary or a replica), shared by every link on
 * that connection, created on first use and closed after it sat idle. The password (and SSH keys) are
 * decrypted only when a pool is created; each pool owns its route (an SSH chain shared by its sessions)
 * and closes it when the pool is closed.
 */
export class TargetPools {
  private readonly pools = new Map<string, PoolEntry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly options: { max: number; idleMs: number; keyring: SecretKeyring; policy: TargetPolicy; onCountChange?: (n: number) => void },
    private readonly logger: Logger,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(1_000, Math.floor(options.idleMs / 4)));
    this.sweeper.unref();
  }

  /**
   * The connection's pool. Created only after the host is resolved and checked against the operator's
   * target policy (sessions are pinned to the checked address: a name rebound later to loopback or the
   * stack's own servers is not followed) and after the role is re-checked: a role made superuser, or
   * given a server program/file role, after the connection was saved is refused here.
   */
  get(row: TargetConnectionRow): Promise<pg.Pool> {
    const fingerprint = fingerprintOf(row);
    const key = poolKey(row);
    const existing = this.pools.get(key);
    const now = Date.now();
    if (existing && existing.fingerprint === fingerprint && !expired(existing, now)) {
      existing.lastUsed = now;
      return existing.ready;
    }
    if (existing) this.closeKey(key);
    const entry: PoolEntry = { connectionId: row.id, ready: undefined as unknown as Promise<pg.Pool>, fingerprint, lastUsed: now };
    entry.ready = this.create(row, entry).then(
      (pool) => {
        if (this.pools.get(key) === entry) entry.pool = pool;
        else void endEntry(entry, pool);
        return pool;
      },
      (error: Error) => {
        // A refusal that only an edit of the connection can lift (policy, role, an SSH host key or key the
        // hop rejects) is remembered briefly: calls in a burst do not each dial the bastion again. The edit
        // changes the fingerprint, which replaces the entry at once.
        const refused = error instanceof TargetRefusedError || error instanceof SshHostKeyError || error instanceof SshAuthError;
        const down = error instanceof SshConnectError;
        if ((refused || down) && this.pools.get(key) === entry) {
          entry.refusedAt = Date.now();
          entry.refusalMs = refused ? REFUSAL_MEMORY_MS : DOWN_MEMORY_MS;
        }
        // Anything else (the database itself is down) is not remembered: the next call tries again.
        else if (this.pools.get(key) === entry) this.pools.delete(key);
        throw error;
      },
    );
    // Callers handle the rejection; this only keeps an unobserved one from being reported as unhandled.
    entry.ready.catch(() => {});
    this.pools.set(key, entry);
    this.options.onCountChange?.(this.pools.size);
    return entry.ready;
  }

  private async create(row: TargetConnectionRow, entry: PoolEntry): Promise<pg.Pool> {
    let route: TargetRoute;
    try {
      route = await openTargetRoute(row, { policy: this.options.policy, keyring: this.options.keyring });
    } catch (error) {
      if (!(error instanceof TargetAddressError)) throw error;
      if (error.code === "ENOTFOUND") throw Object.assign(new Error(error.message), { code: "ENOTFOUND" });
      this.logger.warn({ connectionId: row.id, err: error.message }, "target connection refused by the target policy");
      throw new TargetRefusedError(error.message);
    }
    entry.route = route;
    const config = route.config;
    const logger = this.logger;
    const pool = new pg.Pool({
      ...config,
      max: this.options.max,
      idleTimeoutMillis: Math.min(this.options.idleMs, 30_000),
      allowExitOnIdle: true,
      // pg-pool awaits this before it hands a new session out (a query sent from the "connect" event
      // instead overlaps the first statement, which pg 8 warns about and pg 9 refuses). A session whose
      // setup failed may read statements differently from the checker: the hook's error ends it, and
      // the checkout that wanted it fails with that error instead of running on it.
      onConnect: async (client: pg.ClientBase) => {
        // A checked-out client whose socket closes mid-statement (the server reset it, the SSH chain
        // dropped, or the statement runner closed it to abandon an oversized row) emits "error" while
        // the pool's idle listener is detached: without this the process would crash. The statement
        // sees the failure itself.
        client.on("error", (error: Error) => logger.debug({ connectionId: row.id, err: error.message }, "target connection closed while in use"));
        try {
          await client.query(SESSION_SETUP);
        } catch (error) {
          logger.warn({ connectionId: row.id, err: (error as Error).message }, "session setup failed: closing the session");
          throw error;
        }
      },
    });
    // Idle clients die when the target restarts (or the SSH chain drops); the pool replaces them.
    // Without a listener the process would crash on that event.
    pool.on("error", (error) => this.logger.warn({ connectionId: row.id, err: error.message }, "idle target connection failed"));
    try {
      const { rows } = await pool.query<{ role: string; rolsuper: boolean; rolcreaterole: boolean; server_roles: string[] }>(ROLE_FACTS, [SERVER_ROLES]);
      const facts = rows[0];
      const why = facts
        ? explainPowerfulRole({ role: facts.role, superuser: facts.rolsuper, createRole: facts.rolcreaterole, serverRoles: facts.server_roles }, row.database)
        : undefined;
      if (why && !this.options.policy.allowPowerfulRoles) {
        this.logger.warn({ connectionId: row.id, why }, "target role refused: it reaches beyond its database");
        throw new TargetRefusedError(why);
      }
    } catch (error) {
      await endEntry(entry, pool);
      throw error;
    }
    return pool;
  }

  /** Closes every pool of the connection (primary and replicas) and their routes. */
  close(connectionId: string): void {
    for (const [key, entry] of this.pools) if (entry.connectionId === connectionId) this.closeKey(key);
  }

  private closeKey(key: string): void {
    const entry = this.pools.get(key);
    if (!entry) return;
    this.pools.delete(key);
    this.options.onCountChange?.(this.pools.size);
    // A pool still being created is ended by get()'s settle handler (it is no longer the map's entry).
    if (entry.pool) void endEntry(entry, entry.pool);
  }

  private sweep(): void {
    const cutoff = Date.now() - this.options.idleMs;
    for (const [key, entry] of this.pools) {
      const pool = entry.pool;
      if (expired(entry, Date.now())) this.closeKey(key);
      else if (pool && entry.lastUsed < cutoff && pool.waitingCount === 0 && pool.idleCount === pool.totalCount) this.closeKey(key);
    }
  }

  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    const entries = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(entries.map((e) => e.ready.then((pool) => endEntry(e, pool)).catch(() => e.route?.close())));
  }

  get size(): number {
    return this.pools.size;
  }
}

/** Ends the pool's sessions, then its route (the SSH chain they travelled). */
async function endEntry(entry: PoolEntry, pool: pg.Pool): Promise<void> {
  await pool.end().catch(() => {});
  await entry.route?.close().catch(() => {});
}
