import pg from "pg";
import type { TargetConnectionRow } from "@portcullis/db/target";
import type { Logger } from "../logger.js";
import { parseLsn } from "./replica-catalog.js";

/**
 * Lag is the contract's (docs/design/reach.md): 0 when everything received is replayed, else how long
 * ago the last replayed transaction committed on the primary — the conservative reading (a quiet
 * primary's first write after a long pause counts the whole pause until it is replayed). A server not
 * in recovery is no replica (promoted, or the wrong address): never used for reads.
 */
const PROBE_SQL = `SELECT pg_is_in_recovery() AS recovering, pg_last_wal_replay_lsn()::text AS replay_lsn,
  CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
       ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000 END AS lag_ms`;

export interface ProbeTiming {
  /** Between two probes of one replica. */
  intervalMs: number;
  /** A probe that has not answered by then counts as down. */
  timeoutMs: number;
  /** Probing stops when no statement used the connection for this long (restarted on next use). */
  activeWindowMs: number;
}

export const DEFAULT_PROBE_TIMING: ProbeTiming = { intervalMs: 1_000, timeoutMs: 2_000, activeWindowMs: 60_000 };

/**
 * What the gateway knows of one replica of one connection: up or down and its lag, from a background
 * probe on the replica's own pool. The probe runs only while the connection is in use (`touch`), and
 * stops when its pool is closed (evicted, or the gateway shutting down) — the next use starts it again.
 */
export class ReplicaHealth {
  /** undefined until the first probe answered. */
  up: boolean | undefined;
  lagMs = Number.POSITIVE_INFINITY;
  /** How far it has replayed, at the last probe (see replica-catalog.ts). */
  replayLsn: bigint | null = null;
  private lastUsed = Date.now();
  private timer: NodeJS.Timeout | undefined;
  /** Bumped by every start and stop: a probe of an earlier run schedules nothing (one chain at a time). */
  private generation = 0;
  private running = false;
  private firstProbe: Promise<void> | undefined;
  private pool: pg.Pool | undefined;
  private client: pg.Client | undefined;

  constructor(
    /** The row reaching this replica (forServer): its pool is `pools.get(row)`. Updated on each use. */
    public row: TargetConnectionRow,
    private readonly poolOf: (row: TargetConnectionRow) => Promise<pg.Pool>,
    private readonly timing: ProbeTiming,
    private readonly logger: Logger,
  ) {}

  /** Marks the connection in use; starts the probe when it is not running. Resolves at the first answer. */
  touch(): Promise<void> | undefined {
    this.lastUsed = Date.now();
    if (!this.running) {
      this.running = true;
      this.firstProbe = this.probe(++this.generation);
    }
    return this.up === undefined ? this.firstProbe : undefined;
  }

  /** Up, within the lag limit, and (when given) replayed at least to `minLsn`. */
  usable(maxLagMs: number, minLsn?: bigint): boolean {
    return this.up === true && this.lagMs <= maxLagMs && (minLsn === undefined || (this.replayLsn !== null && this.replayLsn >= minLsn));
  }

  /** A statement could not reach it: skipped until a probe says otherwise. */
  markDown(): void {
    this.up = false;
  }

  stop(): void {
    this.running = false;
    this.generation++;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.dropClient();
  }

  private async probe(generation: number): Promise<void> {
    if (this.poolClosed()) return this.reset();
    try {
      // The pool it probed last, while open: asking the pools again after they were all closed (the
      // gateway stopping) would open a new one. Getting it checks the replica's address against the
      // target policy and its role, like the primary's.
      const pool = this.pool ?? (await this.poolOf(this.row));
      this.pool = pool;
      const client = this.client ?? (await this.connect(pool));
      const { rows } = await withTimeout(client.query<{ recovering: boolean; replay_lsn: string | null; lag_ms: number | string | null }>(PROBE_SQL), this.timing.timeoutMs);
      if (generation !== this.generation) return;
      const row = rows[0];
      const lag = row?.lag_ms === null || row?.lag_ms === undefined ? Number.POSITIVE_INFINITY : Number(row.lag_ms);
      this.up = row?.recovering === true;
      this.lagMs = Number.isFinite(lag) ? Math.max(0, lag) : Number.POSITIVE_INFINITY;
      this.replayLsn = parseLsn(row?.replay_lsn);
      if (row && !row.recovering) this.logger.warn({ connectionId: this.row.id, server: this.row.server }, "replica is not in recovery: not used for reads");
    } catch (error) {
      if (generation !== this.generation) return;
      if (this.up !== false) this.logger.warn({ connectionId: this.row.id, server: this.row.server, err: (error as Error).message }, "replica probe failed: reads skip it");
      this.up = false;
      this.lagMs = Number.POSITIVE_INFINITY;
      this.replayLsn = null;
      this.dropClient();
    }
    this.schedule(generation);
  }

  /**
   * The probe's own session, with the pool's settings (address, route, credentials, TLS) but outside
   * it: reads filling the pool must not make the probe wait for a session and call the replica down.
   */
  private async connect(pool: pg.Pool): Promise<pg.Client> {
    const options = (pool as unknown as { options: pg.ClientConfig }).options;
    // pg keeps the pool's password non-enumerable: a spread alone would drop it.
    const client = new pg.Client({ ...options, password: options.password, connectionTimeoutMillis: this.timing.timeoutMs });
    client.on("error", () => {
      if (this.client === client) this.client = undefined;
    });
    this.client = client;
    try {
      await client.connect();
    } catch (error) {
      this.dropClient();
      throw error;
    }
    return client;
  }

  private dropClient(): void {
    const client = this.client;
    this.client = undefined;
    client?.end().catch(() => {});
  }

  private poolClosed(): boolean {
    return this.pool !== undefined && (this.pool.ending || this.pool.ended);
  }

  /** What we knew is stale by the next use: that use waits (briefly) for a fresh probe. */
  private reset(): void {
    this.stop();
    this.up = undefined;
    this.lagMs = Number.POSITIVE_INFINITY;
    this.pool = undefined;
  }

  private schedule(generation: number): void {
    if (!this.running || generation !== this.generation) return;
    if (Date.now() - this.lastUsed > this.timing.activeWindowMs || this.poolClosed()) return this.reset();
    this.timer = setTimeout(() => void this.probe(generation), this.timing.intervalMs);
    this.timer.unref();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
