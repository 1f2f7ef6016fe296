import type pg from "pg";
import type { Verdict } from "@portcullis/policy";
import { forServer, type TargetConnectionRow, type TargetReplica } from "@portcullis/db/target";
import type { LinkRecord } from "../context.js";
import type { Services } from "../services.js";
import { DEFAULT_PROBE_TIMING, ReplicaHealth, type ProbeTiming } from "./replica-health.js";

export const PRIMARY = "primary";

/** One server a statement may run on: the primary, or a replica (with its health, to mark it down). */
export interface ServerChoice {
  name: string;
  pool(): Promise<pg.Pool>;
  health?: ReplicaHealth;
}

/** The contract's default (connections.replica_max_lag_ms). */
const DEFAULT_MAX_LAG_MS = 30_000;
/** How long a read waits for a just-started probe before it goes to the primary instead. */
const FIRST_PROBE_WAIT_MS = 250;

/**
 * Whether a checked statement may run on a replica: a pure read (every statement class "read", which
 * also makes it READ ONLY), not VACUUM/ANALYZE, not part of a write request's execution (those carry a
 * guard), and not an EXPLAIN. Writes, DDL, admin statements and the cost gate of a write are not reads
 * by the verdict. A plain EXPLAIN of a write IS a read by the verdict (nothing executes) — and the
 * approval dry run's plan is one: every EXPLAIN stays on the primary, so a write is planned where it
 * would run (a replica's plan could be of a schema it has not replayed yet).
 */
export function replicaEligible(verdict: Verdict, options: { guarded: boolean; outsideTransaction: boolean; explain: boolean }): boolean {
  return (
    verdict.readOnly &&
    verdict.classes.length > 0 &&
    verdict.classes.every((c) => c === "read") &&
    !options.guarded &&
    !options.outsideTransaction &&
    !options.explain
  );
}

/**
 * Where reads go (issue 17): round robin among the connection's replicas that are up and within
 * `replicaMaxLagMs`, the primary when none is. One per Services (gateway instance).
 */
export class ReplicaRouter {
  private readonly health = new Map<string, ReplicaHealth>();
  private readonly cursors = new Map<string, number>();
  // Per connection row object (link records are cached and reused): the forServer rows, built once.
  private readonly rows = new WeakMap<TargetConnectionRow, TargetConnectionRow[]>();

  constructor(
    private readonly services: Pick<Services, "pools" | "poolFor" | "logger">,
    private readonly timing: ProbeTiming = DEFAULT_PROBE_TIMING,
  ) {}

  /**
   * The servers to try for a read, in order: usable replicas from the round robin's position, then
   * the primary. Only the primary when the connection has no replicas (nothing else paid).
   */
  async readOrder(link: LinkRecord, minLsn?: bigint): Promise<ServerChoice[]> {
    const primary = this.primary(link);
    const replicas = link.connection.replicas;
    if (!replicas?.length) return [primary];
    const healths = this.replicaRows(link.connection).map((row, i) => this.healthOf(link.connection, replicas[i]!, row));
    const firstProbes = healths.map((h) => h.touch()).filter((p): p is Promise<void> => p !== undefined);
    if (firstProbes.length) await Promise.race([Promise.all(firstProbes), delay(FIRST_PROBE_WAIT_MS)]);
    const maxLag = link.connection.replicaMaxLagMs ?? DEFAULT_MAX_LAG_MS;
    const usable = healths.filter((h) => h.usable(maxLag, minLsn));
    if (!usable.length) return [primary];
    const cursor = this.cursors.get(link.connection.id) ?? 0;
    this.cursors.set(link.connection.id, (cursor + 1) % 1_000_000);
    const start = cursor % usable.length;
    const rotated = [...usable.slice(start), ...usable.slice(0, start)];
    return [
      ...rotated.map((h): ServerChoice => ({ name: h.row.server!, health: h, pool: () => this.services.pools.get(h.row) })),
      primary,
    ];
  }

  primary(link: LinkRecord): ServerChoice {
    return { name: PRIMARY, pool: () => this.services.poolFor(link) };
  }

  /** Stops every probe (tests; the probes also stop by themselves with their pools). */
  stop(): void {
    for (const h of this.health.values()) h.stop();
    this.health.clear();
  }

  private replicaRows(row: TargetConnectionRow): TargetConnectionRow[] {
    let rows = this.rows.get(row);
    if (!rows) {
      rows = (row.replicas ?? []).map((replica) => forServer(row, replica));
      this.rows.set(row, rows);
    }
    return rows;
  }

  private healthOf(connection: TargetConnectionRow, replica: TargetReplica, row: TargetConnectionRow): ReplicaHealth {
    // Keyed by where it is: a replica renamed or moved is a new server with no history.
    const key = `${connection.id}\0${replica.name}\0${replica.host}\0${replica.port}`;
    let health = this.health.get(key);
    if (!health) {
      health = new ReplicaHealth(row, (r) => this.services.pools.get(r), this.timing, this.services.logger);
      this.health.set(key, health);
    }
    // The newest row (credentials or TLS changed with it), for the probe's next pool.
    health.row = row;
    return health;
  }
}

const routers = new WeakMap<object, ReplicaRouter>();

/** The gateway instance's router (created on first use; keyed by its pools, which live as long). */
export function replicaRouter(services: Pick<Services, "pools" | "poolFor" | "logger">): ReplicaRouter {
  let router = routers.get(services.pools);
  if (!router) {
    router = new ReplicaRouter(services);
    routers.set(services.pools, router);
  }
  return router;
}

/** Tests: a router with faster probes for this gateway instance (replacing any earlier one). */
export function useReplicaTiming(services: Pick<Services, "pools" | "poolFor" | "logger">, timing: Partial<ProbeTiming>): ReplicaRouter {
  routers.get(services.pools)?.stop();
  const router = new ReplicaRouter(services, { ...DEFAULT_PROBE_TIMING, ...timing });
  routers.set(services.pools, router);
  return router;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
