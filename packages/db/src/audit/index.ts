/**
 * The audit trail's tamper evidence. The worker writes events with `ingestAuditBatch` (which extends
 * each team's hash chain), retention removes old ones with `pruneAuditEvents` (which records where it
 * cut), and anyone can check a team's chain with `verifyAuditChain`:
 *
 *   import { verifyAuditChain } from "@portcullis/db/audit";
 *   const result = await verifyAuditChain(prisma, teamId);
 *   // { ok: true, checked: 1042 } or
 *   // { ok: false, checked: 17, firstBroken: { seq: "17", id: "…", reason: "content does not match its hash (the event was edited)" } }
 *
 * Chain format: hash = SHA-256(prev_hash ‖ "\n" ‖ canonicalAuditContent(event)), or with
 * AUDIT_CHAIN_KEY "k1:" ‖ HMAC-SHA-256(key, same), prev_hash of a team's first event = 64 zeros,
 * seq = 1, 2, 3… per team (see canonical.ts). Keyed verification and the head checkpoints kept in
 * Redis: `verifyAuditChain(db, teamId, { key, checkpoint, diverged })` (chain-key.ts, checkpoint.ts).
 * Configuration changes: `recordConfigChange(tx, …)` (config-change.ts). audit_events is partitioned
 * by month; `ensurePartitions` creates the coming months and `dropExpiredPartitions` is retention by
 * DROP that keeps every chain verifiable (partitions.ts).
 */
export { CHAIN_FORMAT, GENESIS_HASH, canonicalAuditContent, canonicalTime, chainHash, sanitizeText, type AuditRow } from "./canonical.js";
export {
  ingestAuditBatch,
  prepareAuditBatch,
  writePreparedBatch,
  type AuditEventInput,
  type ChainBreak,
  type IngestResult,
  type PreparedAuditBatch,
  type WriteOptions,
} from "./ingest.js";
export { pruneAuditEvents, type PruneOptions, type PruneResult } from "./retention.js";
export {
  DEFAULT_PARTITION,
  dropExpiredPartitions,
  ensurePartitions,
  listAuditPartitions,
  partitionOf,
  type AuditPartition,
  type DropOptions,
  type DroppedPartition,
  type EnsureOptions,
  type EnsureResult,
} from "./partitions.js";
export { verifyAuditChain, type AuditVerification, type VerifyOptions } from "./verify.js";
export { KEYED_PREFIX, auditChainKeySchema, isKeyedHash, parseAuditChainKey, type ChainKey } from "./chain-key.js";
export { loadAuditChainKey } from "./env.js";
export {
  checkpointHoldsIn,
  checkpointKey,
  divergedKey,
  readCheckpoint,
  readDivergedCheckpoints,
  signCheckpoint,
  writeCheckpoints,
  type Checkpoint,
  type CheckpointHolds,
  type CheckpointRedis,
  type DivergedCheckpoint,
  type HeadMove,
} from "./checkpoint.js";
export type { AuditDatabase } from "./reader.js";
export { CONFIG_DETAIL_MAX, configChangeEvent, configChangeSchema, recordConfigChange, redactSecrets, type ConfigAuditTx, type ConfigChange } from "./config-change.js";
export { deleteConfigOutbox, outboxRecordAuthentic, readConfigOutbox, type OutboxRow } from "./outbox.js";
