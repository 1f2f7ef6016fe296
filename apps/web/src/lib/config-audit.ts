/**
 * Configuration changes made in the dashboard are recorded in the team's audit chain with
 * `recordConfigChange(tx, { teamId, actorUserId, action, target: { type, id, name }, before, after, sourceIp })`,
 * called with the transaction client of the `$transaction` that makes the change (the record is an
 * outbox row committed with it; the worker moves it into the chain). The CLI uses the same function.
 * Secrets in before/after are redacted by field name; pass rows as they are.
 */
export { recordConfigChange, type ConfigAuditTx, type ConfigChange } from "@portcullis/db/audit";
