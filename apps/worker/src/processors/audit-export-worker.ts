import { type StackEndpoint, stackEndpoints } from "@portcullis/db/operations";
import type { SecretKeyring } from "@portcullis/db/secrets";
import { AUDIT_EXPORT_TICK_JOB, QUEUES } from "@portcullis/jobs";
import { type ConnectionOptions, Worker } from "bullmq";
import type pg from "pg";
import type { WorkerEnv } from "../env.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { type AuditExportConfig, auditExportProcessor } from "./audit-export.js";

/** The stack's own services, which no audit sink may target (whatever PORTCULLIS_WEBHOOK_ALLOW_PRIVATE says). */
export function workerStack(env: WorkerEnv): StackEndpoint[] {
  return stackEndpoints([
    env.DATABASE_URL,
    env.REDIS_URL,
    env.WEB_PUBLIC_URL,
    env.GATEWAY_PUBLIC_URL,
    `http://127.0.0.1:${env.GATEWAY_INTERNAL_PORT}`,
    `http://127.0.0.1:${env.WORKER_METRICS_PORT}`,
  ]);
}

export function auditExportConfig(env: WorkerEnv): AuditExportConfig {
  return {
    dir: env.AUDIT_EXPORT_DIR,
    batchEvents: env.AUDIT_EXPORT_BATCH_EVENTS,
    batchBytes: env.AUDIT_EXPORT_BATCH_BYTES,
    fileMaxBytes: env.AUDIT_EXPORT_FILE_MAX_BYTES,
    timeoutMs: env.AUDIT_EXPORT_TIMEOUT_MS,
    retryBaseMs: env.AUDIT_EXPORT_RETRY_BASE_MS,
    retryMaxMs: env.AUDIT_EXPORT_RETRY_MAX_MS,
    pauseAfterMs: env.AUDIT_EXPORT_PAUSE_AFTER_MS,
    allowPrivate: env.PORTCULLIS_WEBHOOK_ALLOW_PRIVATE,
    stack: workerStack(env),
    sinksPerTick: 8,
    batchesPerTurn: 20,
    leaseMs: env.AUDIT_EXPORT_LEASE_MS,
  };
}

/**
 * The consumer of the audit-export ticks. Concurrency 2: a tick whose sinks wait on a slow receiver
 * does not hold back the next one (which leases other sinks; a sink is never held twice).
 */
export function auditExportWorker(
  env: WorkerEnv,
  deps: { pool: pg.Pool; keyring: SecretKeyring; logger: Logger; metrics?: Metrics; connection: ConnectionOptions; prefix: string },
): Worker {
  const tick = auditExportProcessor({ pool: deps.pool, keyring: deps.keyring, logger: deps.logger, metrics: deps.metrics, config: auditExportConfig(env) });
  return new Worker(
    QUEUES.auditExport,
    async (job) => {
      if (job.name !== AUDIT_EXPORT_TICK_JOB.name) throw new Error(`unknown audit-export job ${job.name}`);
      await tick();
    },
    { connection: deps.connection, prefix: deps.prefix, concurrency: 2, lockDuration: Math.max(30_000, env.AUDIT_EXPORT_TIMEOUT_MS * 3 * 20) },
  );
}
