import { type ChainKey, outboxMac } from "../audit/chain-key.js";
import { type ConfigChange, configChangeEvent } from "../audit/config-change.js";
import { loadAuditChainKey } from "../audit/env.js";
import type { Query } from "./sql-db.js";

/**
 * recordConfigChange for the SQL-written operations: the same event, authenticated the same way, as a
 * row of audit_outbox in the caller's transaction — the decision and its audit record commit together.
 */
export async function recordConfigChangeSql(q: Query, change: ConfigChange, key: ChainKey | undefined = loadAuditChainKey()): Promise<{ id: string }> {
  const event = configChangeEvent(change);
  const json = JSON.stringify(event);
  await q("INSERT INTO audit_outbox (id, team_id, event, mac, created_at) VALUES ($1::uuid, $2::uuid, $3, $4, $5::timestamptz)", [
    event.id,
    event.teamId,
    json,
    key ? outboxMac(key, json) : null,
    event.time,
  ]);
  return { id: event.id };
}

export type NotificationEvent =
  | "write_request.created"
  | "write_request.decided"
  | "write_request.expired"
  | "access_grant.requested"
  | "access_grant.decided"
  | "access_grant.expired";

/** One notification_outbox row, in the transaction that caused it (the worker fans it out). */
export async function recordNotification(q: Query, teamId: string, event: NotificationEvent, subjectId: string): Promise<void> {
  await q("INSERT INTO notification_outbox (team_id, event, subject_id) VALUES ($1::uuid, $2, $3::uuid)", [teamId, event, subjectId]);
}
