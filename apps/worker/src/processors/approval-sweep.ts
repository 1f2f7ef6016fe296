import { expireAccessGrants, expireWriteRequests } from "@portcullis/db/operations";
import type pg from "pg";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";

export interface ApprovalSweepDeps {
  pool: pg.Pool;
  metrics: Metrics;
  logger: Logger;
}

/**
 * Pending write requests past their expiry and approved ones past execute_before become expired;
 * access grants past their end (and requests nobody decided in time) likewise. Each is one conditional
 * UPDATE, so several workers sweeping at once, or a decision racing the sweep, leave one winner.
 * The gateway refuses an expired request or grant by its times alone; the sweep makes lists and the
 * dashboard say so, tells gateways (access grants NOTIFY on change) to drop a grant from their caches,
 * and tells the requester: each expiry writes its notification_outbox row in the same statement.
 */
export async function sweepApprovals(deps: ApprovalSweepDeps, now?: Date): Promise<{ writeRequests: number; accessGrants: number }> {
  const writeRequests = await expireWriteRequests(deps.pool, now);
  const accessGrants = await expireAccessGrants(deps.pool, now);
  if (writeRequests) deps.metrics.approvalsExpired.inc({ kind: "write_request" }, writeRequests);
  if (accessGrants) deps.metrics.approvalsExpired.inc({ kind: "access_grant" }, accessGrants);
  if (writeRequests || accessGrants) deps.logger.info({ writeRequests, accessGrants }, "expired write requests and access grants");
  return { writeRequests, accessGrants };
}
