import { createServer, type Server } from "node:http";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { withTimeout } from "./retry.js";

/** Every metric the worker exposes, on a registry of its own (tests run several workers per process). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "portcullis_worker_" });
  const m = {
    registry,
    auditIngested: new Counter({ name: "portcullis_audit_events_ingested_total", help: "Audit events written to PostgreSQL", registers: [registry] }),
    auditDuplicates: new Counter({
      name: "portcullis_audit_events_duplicate_total",
      help: "Audit events already stored (replays, retries after a crash); skipped",
      registers: [registry],
    }),
    auditSkipped: new Counter({
      name: "portcullis_audit_events_skipped_total",
      help: "Audit events that could not be stored, by reason",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    auditBatches: new Counter({ name: "portcullis_audit_batches_total", help: "Audit batches committed", registers: [registry] }),
    auditBatchFailures: new Counter({
      name: "portcullis_audit_batch_failures_total",
      help: "Audit batch writes that failed (each is retried)",
      registers: [registry],
    }),
    auditDeadLettered: new Counter({
      name: "portcullis_audit_dead_lettered_total",
      help: "Audit events moved to the dead-letter queue after their last attempt",
      registers: [registry],
    }),
    auditBatchSeconds: new Histogram({
      name: "portcullis_audit_batch_duration_seconds",
      help: "Time to write one audit batch",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    auditDelaySeconds: new Histogram({
      name: "portcullis_audit_ingest_delay_seconds",
      help: "From an event's time to its commit in PostgreSQL (end-to-end lag)",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    queueWaiting: new Gauge({ name: "portcullis_queue_waiting", help: "Jobs waiting per queue", labelNames: ["queue"] as const, registers: [registry] }),
    queueActive: new Gauge({ name: "portcullis_queue_active", help: "Jobs being processed per queue", labelNames: ["queue"] as const, registers: [registry] }),
    queueFailed: new Gauge({ name: "portcullis_queue_failed", help: "Jobs in the failed set per queue", labelNames: ["queue"] as const, registers: [registry] }),
    queueOldestAge: new Gauge({
      name: "portcullis_queue_oldest_waiting_seconds",
      help: "Age of the oldest waiting job per queue (queue lag)",
      labelNames: ["queue"] as const,
      registers: [registry],
    }),
    jobsCompleted: new Counter({ name: "portcullis_jobs_completed_total", help: "Jobs completed", labelNames: ["queue"] as const, registers: [registry] }),
    jobsFailed: new Counter({
      name: "portcullis_jobs_failed_total",
      help: "Job attempts that failed (retried or final)",
      labelNames: ["queue"] as const,
      registers: [registry],
    }),
    notificationEvents: new Counter({
      name: "portcullis_notification_events_total",
      help: "Notification outbox rows fanned out into deliveries",
      registers: [registry],
    }),
    notificationDeliveriesCreated: new Counter({
      name: "portcullis_notification_deliveries_created_total",
      help: "Notification deliveries written and queued by the fan-out",
      registers: [registry],
    }),
    notificationRequeued: new Counter({
      name: "portcullis_notification_deliveries_requeued_total",
      help: "Pending deliveries queued again because their job was lost (Redis down or emptied)",
      registers: [registry],
    }),
    notificationsSent: new Counter({
      name: "portcullis_notification_attempts_total",
      help: "Notification delivery attempts by channel and outcome (delivered, retry, failed)",
      labelNames: ["channel", "outcome"] as const,
      registers: [registry],
    }),
    approvalsExpired: new Counter({
      name: "portcullis_approvals_expired_total",
      help: "Write requests and access grants expired by the sweep",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    auditPartitionsDropped: new Counter({
      name: "portcullis_audit_partitions_dropped_total",
      help: "Monthly audit_events partitions dropped by retention (AUDIT_RETENTION_DAYS)",
      registers: [registry],
    }),
    auditPartitionStragglers: new Counter({
      name: "portcullis_audit_partition_stragglers_total",
      help: "Events of a dropped partition kept (moved to DEFAULT) because they lie past their team's prunable prefix",
      registers: [registry],
    }),
    // Sinks are labelled by kind only (webhook, file): never by team or sink, so the series stay few.
    auditSinkLag: new Gauge({
      name: "portcullis_audit_sink_lag_events",
      help: "Largest number of events not yet delivered to one sink (team head seq minus the sink's cursor), by sink kind",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    auditSinkPaused: new Gauge({
      name: "portcullis_audit_sink_paused",
      help: "Audit sinks paused (by a team or after failing), by sink kind",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    auditSinkDeliveries: new Counter({
      name: "portcullis_audit_sink_deliveries_total",
      help: "Audit sink batch attempts by kind and outcome (delivered, failed: retried later, paused: the sink was paused)",
      labelNames: ["kind", "outcome"] as const,
      registers: [registry],
    }),
    auditSinkSkippedEvents: new Counter({
      name: "portcullis_audit_sink_skipped_events_total",
      help: "Events retention removed before a sink got them (each gap is told to the receiver), by sink kind",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    aiCalls: new Counter({
      name: "portcullis_ai_calls_total",
      help: "Model calls for schema descriptions by outcome",
      labelNames: ["provider", "outcome"] as const,
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;

export interface HealthCheck {
  name: string;
  check: () => Promise<void>;
}

/**
 * GET /metrics (Prometheus text), GET /healthz (liveness: the process answers), GET /readyz
 * (PostgreSQL and Redis reachable; 503 with the failing dependency otherwise).
 */
export function startMetricsServer(metrics: Metrics, checks: HealthCheck[], port: number, host: string): Promise<Server> {
  const server = createServer(async (req, res) => {
    try {
      const path = (req.url ?? "/").split("?")[0];
      if (req.method !== "GET") {
        res.writeHead(405).end();
      } else if (path === "/metrics") {
        const body = await metrics.registry.metrics();
        res.writeHead(200, { "content-type": metrics.registry.contentType }).end(body);
      } else if (path === "/healthz") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: "ok" }));
      } else if (path === "/readyz") {
        const results = await Promise.all(
          checks.map(async (c) => {
            try {
              await withTimeout(c.check(), 2000);
              return [c.name, "ok"] as const;
            } catch (error) {
              return [c.name, error instanceof Error ? error.message : "failed"] as const;
            }
          }),
        );
        const ok = results.every(([, r]) => r === "ok");
        res
          .writeHead(ok ? 200 : 503, { "content-type": "application/json" })
          .end(JSON.stringify({ status: ok ? "ok" : "unavailable", checks: Object.fromEntries(results) }));
      } else {
        res.writeHead(404).end();
      }
    } catch {
      if (!res.headersSent) res.writeHead(500).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

