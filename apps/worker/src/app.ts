import type { Server } from "node:http";
import { getKeyring } from "@portcullis/db/secrets";
import { auditSinkGauges } from "@portcullis/db/operations";
import { AUDIT_EXPORT_TICK_JOB, HOUSEKEEPING_JOB, INTROSPECT_ALL_JOB, QUEUES, createRedis, startHeartbeat, type HousekeepingJob } from "@portcullis/jobs";
import { traceJobs } from "@portcullis/telemetry";
import { Worker, type Job } from "bullmq";
import pg from "pg";
import { createDescriber } from "./describe/index.js";
import type { WorkerEnv } from "./env.js";
import { type Logger, createLogger } from "./logger.js";
import { type Metrics, createMetrics, startMetricsServer } from "./metrics.js";
import { createAuditWorker } from "./processors/audit-ingest.js";
import { auditExportWorker } from "./processors/audit-export-worker.js";
import { sweepFailedAuditJobs } from "./processors/dead-letter.js";
import { descriptionsProcessor } from "./processors/descriptions.js";
import { HOUSEKEEPING_EVERY, housekeepingProcessor } from "./processors/housekeeping.js";
import { INTROSPECT_ALL, introspectionProcessor } from "./processors/introspection.js";
import { createMailer } from "./notify/email.js";
import { fanOutOnce, requeueLostDeliveries } from "./notify/fan-out.js";
import { sweepApprovals } from "./processors/approval-sweep.js";
import { notificationsProcessor } from "./processors/notifications.js";
import { createQueues } from "./queues.js";

export interface WorkerOptions {
  logger?: Logger;
  /** Start the HTTP metrics/health server (default true). */
  metricsServer?: boolean;
  /** Register the repeatable housekeeping and introspection schedules (default true). */
  schedules?: boolean;
  /** Audit job lock; a crashed worker's jobs are retried after about this long (default 30 s). */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Description retries per table and their first delay (tests shorten them). */
  tableAttempts?: number;
  retryBaseMs?: number;
  /** How often the dead-letter sweep and the queue-lag gauges run (ms). */
  sweepEveryMs?: number;
  /** A pending delivery without a job is queued again once it is this old (default 10 s). */
  notifyRequeueAfterMs?: number;
}

export interface RunningWorker {
  metrics: Metrics;
  server: Server | undefined;
  pool: pg.Pool;
  close(): Promise<void>;
}

/** Starts every consumer of the worker; `close()` stops them gracefully. */
export async function startWorker(env: WorkerEnv, options: WorkerOptions = {}): Promise<RunningWorker> {
  const logger = options.logger ?? createLogger(env.LOG_LEVEL);
  const metrics = createMetrics();
  const keyring = getKeyring(env.PORTCULLIS_SECRET_KEYS);
  const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: env.AUDIT_WRITERS * 2 + 4, application_name: "portcullis-worker" });
  // An idle client's error (database restarted) must not crash the process; the next query reconnects.
  pool.on("error", (error) => logger.warn({ err: error.message }, "idle database connection lost"));
  const redis = createRedis(env.REDIS_URL, "worker");
  redis.on("error", (error) => logger.debug({ err: error.message }, "redis connection error"));
  const prefix = env.QUEUE_PREFIX;
  const queues = createQueues(redis, prefix);
  for (const q of queues.all) q.on("error", (error) => logger.debug({ err: error.message, queue: q.name }, "queue error"));

  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<unknown> | undefined;
  const sweep = () => {
    sweeping ??= sweepFailedAuditJobs(queues.audit, queues.auditDeadLetter, metrics, logger)
      .catch((error) => logger.warn({ err: error }, "dead-letter sweep failed"))
      .finally(() => (sweeping = undefined));
    return sweeping;
  };
  let sweepSoon: NodeJS.Timeout | undefined;

  const { worker: auditWorker, batcher } = createAuditWorker({
    pool,
    connection: redis,
    prefix,
    batchSize: env.AUDIT_BATCH_SIZE,
    batchWaitMs: env.AUDIT_BATCH_WAIT_MS,
    writers: env.AUDIT_WRITERS,
    metrics,
    logger,
    deadLetter: queues.auditDeadLetter,
    lockDurationMs: options.lockDurationMs ?? env.AUDIT_LOCK_DURATION_MS,
    stalledIntervalMs: options.stalledIntervalMs ?? env.AUDIT_STALLED_INTERVAL_MS,
    onFinalFailure: () => {
      sweepSoon ??= setTimeout(() => {
        sweepSoon = undefined;
        void sweep();
      }, 200);
    },
  });

  traceJobs(auditWorker, QUEUES.audit);
  const describer = createDescriber(env, metrics);
  const common = (queue: string) => ({
    connection: redis,
    prefix,
    name: queue,
  });
  const withEvents = (worker: Worker, queue: string) => {
    traceJobs(worker, queue);
    worker.on("completed", () => metrics.jobsCompleted.inc({ queue }));
    worker.on("failed", (job: Job | undefined, error: Error) => {
      metrics.jobsFailed.inc({ queue });
      logger.warn({ queue, jobId: job?.id, attemptsMade: job?.attemptsMade, err: error.message }, "job failed");
    });
    worker.on("error", (error) => logger.error({ queue, err: error.message }, "worker error"));
    return worker;
  };
  const introspectionWorker = withEvents(
    new Worker(
      QUEUES.introspection,
      introspectionProcessor({ pool, keyring, descriptions: queues.descriptions, introspection: queues.introspection, logger }),
      { ...common(QUEUES.introspection), concurrency: 2 },
    ),
    QUEUES.introspection,
  );
  const descriptionsWorker = withEvents(
    new Worker(
      QUEUES.descriptions,
      descriptionsProcessor({ pool, keyring, describer, logger, tableAttempts: options.tableAttempts, retryBaseMs: options.retryBaseMs }),
      // Model calls are paced by the describer's limiter; one connection at a time keeps order simple.
      { ...common(QUEUES.descriptions), concurrency: 1, lockDuration: 120_000 },
    ),
    QUEUES.descriptions,
  );
  const stop = new AbortController();
  const housekeepingWorker = withEvents(
    new Worker(QUEUES.housekeeping, housekeepingProcessor({ pool, redis, logger, signal: stop.signal, retentionDays: env.AUDIT_RETENTION_DAYS, metrics }), {
      ...common(QUEUES.housekeeping),
      concurrency: 1,
      removeOnComplete: { count: 50 },
      removeOnFail: { count: 200 },
    }),
    QUEUES.housekeeping,
  );
  // Notifications get a small pool of their own: a burst of deliveries (each waits on a webhook or an
  // SMTP server between its queries) never queues the audit writers behind it.
  const notifyPool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 4, application_name: "portcullis-worker-notify" });
  notifyPool.on("error", (error) => logger.warn({ err: error.message }, "idle database connection lost"));
  const mailer = createMailer({ smtpUrl: env.SMTP_URL, from: env.EMAIL_FROM, logger, maxConnections: env.NOTIFY_CONCURRENCY });
  const notificationsWorker = withEvents(
    new Worker(
      QUEUES.notifications,
      notificationsProcessor({
        pool: notifyPool,
        keyring,
        mailer,
        metrics,
        logger,
        webPublicUrl: env.WEB_PUBLIC_URL,
        webhookTimeoutMs: env.NOTIFY_WEBHOOK_TIMEOUT_MS,
        allowPrivateWebhooks: env.PORTCULLIS_WEBHOOK_ALLOW_PRIVATE,
      }),
      // The lock outlives the slowest attempt (a webhook's timeout), so a live attempt is never re-run as stalled.
      { ...common(QUEUES.notifications), concurrency: env.NOTIFY_CONCURRENCY, lockDuration: Math.max(30_000, env.NOTIFY_WEBHOOK_TIMEOUT_MS * 3) },
    ),
    QUEUES.notifications,
  );
  const exportWorker = withEvents(auditExportWorker(env, { pool: notifyPool, keyring, logger, metrics, connection: redis, prefix }), QUEUES.auditExport);
  const workers = [auditWorker, introspectionWorker, descriptionsWorker, housekeepingWorker, notificationsWorker, exportWorker];

  // The notification outbox is polled (every NOTIFY_POLL_MS, at most 2 s); a pass drains full batches.
  const fanOutDeps = { pool: notifyPool, queue: queues.notifications, metrics, logger, keyring, backoffBaseMs: env.NOTIFY_RETRY_BASE_MS };
  let fanningOut: Promise<void> | undefined;
  const fanOut = () => {
    fanningOut ??= (async () => {
      while (!stop.signal.aborted && (await fanOutOnce(fanOutDeps)) >= 50);
    })()
      .catch((error) => logger.warn({ err: (error as Error).message }, "notification fan-out failed; retried on the next poll"))
      .finally(() => (fanningOut = undefined));
    return fanningOut;
  };
  const fanOutTimer = setInterval(() => void fanOut(), env.NOTIFY_POLL_MS);
  // Expiry of write requests and access grants, and deliveries whose job Redis lost, on one slower timer.
  let approvalSweeping: Promise<void> | undefined;
  const approvalSweep = () => {
    approvalSweeping ??= (async () => {
      await sweepApprovals({ pool: notifyPool, metrics, logger }).catch((error) => logger.warn({ err: (error as Error).message }, "approval expiry sweep failed"));
      await requeueLostDeliveries(fanOutDeps, options.notifyRequeueAfterMs).catch((error) =>
        logger.debug({ err: (error as Error).message }, "re-enqueue of lost notification deliveries failed"),
      );
    })().finally(() => (approvalSweeping = undefined));
    return approvalSweeping;
  };
  const approvalTimer = setInterval(() => void approvalSweep(), env.APPROVAL_SWEEP_EVERY_MS);
  void fanOut();

  if (options.schedules !== false) {
    for (const [task, every] of Object.entries(HOUSEKEEPING_EVERY) as [HousekeepingJob["task"], number][]) {
      await queues.housekeeping.upsertJobScheduler(`housekeeping-${task}`, { every }, { name: task, data: HOUSEKEEPING_JOB.schema.parse({ task }), opts: HOUSEKEEPING_JOB.options });
    }
    await queues.auditExport.upsertJobScheduler(AUDIT_EXPORT_TICK_JOB.name, { every: env.AUDIT_EXPORT_POLL_MS }, { name: AUDIT_EXPORT_TICK_JOB.name, data: {}, opts: AUDIT_EXPORT_TICK_JOB.options });
    await queues.introspection.upsertJobScheduler(INTROSPECT_ALL, { pattern: env.INTROSPECTION_CRON, tz: "UTC" }, { name: INTROSPECT_ALL, data: {}, opts: INTROSPECT_ALL_JOB.options });
  }

  // Queue lag and sizes for /metrics, and the dead-letter sweep, on one timer.
  const measure = async () => {
    for (const q of queues.all) {
      try {
        const counts = await q.getJobCounts("waiting", "active", "failed", "delayed");
        metrics.queueWaiting.set({ queue: q.name }, counts.waiting ?? 0);
        metrics.queueActive.set({ queue: q.name }, counts.active ?? 0);
        metrics.queueFailed.set({ queue: q.name }, counts.failed ?? 0);
        const [oldest] = q === queues.auditDeadLetter ? [] : await q.getJobs(["wait"], 0, 0, true);
        metrics.queueOldestAge.set({ queue: q.name }, oldest ? Math.max(0, (Date.now() - oldest.timestamp) / 1000) : 0);
      } catch {
        // Redis unreachable: the gauges keep their last values; readiness reports the outage.
      }
    }
    try {
      for (const g of await auditSinkGauges(notifyPool)) {
        metrics.auditSinkLag.set({ kind: g.kind }, g.maxLag);
        metrics.auditSinkPaused.set({ kind: g.kind }, g.paused);
      }
    } catch {
      // PostgreSQL unreachable: as above, the last values stay and readiness says why.
    }
  };
  const tick = () => void Promise.all([measure(), sweep()]);
  sweepTimer = setInterval(tick, options.sweepEveryMs ?? 15_000);
  tick();

  const server =
    options.metricsServer === false
      ? undefined
      : await startMetricsServer(
          metrics,
          [
            { name: "postgres", check: async () => void (await pool.query("SELECT 1")) },
            { name: "redis", check: async () => void (await redis.ping()) },
          ],
          env.WORKER_METRICS_PORT,
          env.WORKER_METRICS_HOST,
        );

  // The dashboard counts live workers from these beats (a stopped or killed worker ages out).
  const heartbeat = startHeartbeat(redis, { prefix, onError: (error) => logger.debug({ err: error.message }, "heartbeat failed") });

  logger.info({ prefix, provider: env.AI_PROVIDER, heartbeat: heartbeat.id }, "worker started");
  let closing: Promise<void> | undefined;
  return {
    metrics,
    server,
    pool,
    close() {
      closing ??= (async () => {
        logger.info("worker stopping");
        clearInterval(sweepTimer);
        clearTimeout(sweepSoon);
        clearInterval(fanOutTimer);
        clearInterval(approvalTimer);
        sweepTimer = undefined;
        stop.abort();
        await heartbeat.stop();
        // Stop fetching; wait for active jobs. Audit jobs settle when their batch commits, which the
        // batcher's timer triggers; drain() makes that immediate.
        const closingWorkers = Promise.all(workers.map((w) => w.close()));
        await batcher.drain();
        batcher.abortRetries();
        await closingWorkers;
        await sweeping;
        await Promise.all([fanningOut, approvalSweeping]);
        mailer.close();
        await queues.close();
        await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
        await Promise.all([pool.end(), notifyPool.end()]);
        redis.disconnect();
        logger.info("worker stopped");
      })();
      return closing;
    },
  };
}
