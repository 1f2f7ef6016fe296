import type { Catalog } from "@portcullis/policy";
import type { LinkRecord } from "../context.js";
import type { Services } from "../services.js";
import { catalogPosition } from "./replica-catalog.js";
import { PRIMARY, replicaEligible, replicaRouter, type ServerChoice } from "./replica-router.js";
import { runStatement, type RunOptions, type RunOutcome } from "./run-statement.js";

/** Where a statement ran, or failed to: "primary" or a replica's name (CallAudit.targetServer). */
export type Routed = { outcome: RunOutcome; server: string } | { failure: unknown; server: string };

// Server errors after which a read is safe to send elsewhere: the replica is shutting down, starting
// or gone (57P0x, 08xxx), or replay cancelled the read (a standby's recovery conflict: 40001, 40P01).
const REPLICA_RETRY_CODES = /^(57P0[1234]|08\w{3}|40001|40P01)$/;

/**
 * Runs a checked statement where it belongs: a pure read on a usable replica (round robin), anything
 * else on the primary. A read whose replica cannot be reached, or drops it before an answer, is retried
 * on the next usable replica and then the primary (a read is safe to retry); the failed replica is
 * skipped until its probe sees it again. A write never gets here with more than the primary, so it is
 * never retried. Connections without replicas take the primary at once (no probe, no await).
 */
export async function runRouted(
  services: Services,
  link: LinkRecord,
  verdictAllowsReplica: Parameters<typeof replicaEligible>[0],
  options: RunOptions & { guarded: boolean; explain: boolean; catalog: Catalog },
): Promise<Routed> {
  const { guarded, explain, catalog, ...run } = options;
  const onReplica =
    link.connection.replicas?.length && replicaEligible(verdictAllowsReplica, { guarded, explain, outsideTransaction: run.outsideTransaction === true });
  const primary: ServerChoice = { name: PRIMARY, pool: () => services.poolFor(link) };
  let servers = [primary];
  if (onReplica) {
    // Only replicas that have replayed the schema the policy decided against (replica-catalog.ts).
    const position = await catalogPosition(services, link, catalog);
    if (position !== null) servers = await replicaRouter(services).readOrder(link, position);
  }
  // The chosen replica, one more, then the primary: a failing replica costs at most two tries.
  const tries = servers.length > 3 ? [...servers.slice(0, 2), servers[servers.length - 1]!] : servers;
  for (let i = 0; ; i++) {
    const server = tries[i]!;
    const last = i === tries.length - 1;
    let outcome: RunOutcome;
    try {
      outcome = await runStatement(await server.pool(), run);
    } catch (failure) {
      if (last || !server.health || run.signal?.aborted) return { failure, server: server.name };
      server.health.markDown();
      services.logger.warn({ connectionId: link.connection.id, server: server.name, err: (failure as Error)?.message }, "replica unreachable: read retried elsewhere");
      continue;
    }
    const error = outcome.error;
    if (!last && server.health && error && !run.signal?.aborted && (error.fatal || (error.code !== undefined && REPLICA_RETRY_CODES.test(error.code)))) {
      // A recovery conflict cancels one read; the replica itself is fine.
      if (!/^40/.test(error.code ?? "")) server.health.markDown();
      services.logger.warn({ connectionId: link.connection.id, server: server.name, err: error.message, code: error.code }, "replica failed the read: retried elsewhere");
      continue;
    }
    return { outcome, server: server.name };
  }
}
