import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Prometheus metrics, one registry per gateway instance (tests run several in one process). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "portcullis_gateway_" });
  const http = new Counter({
    name: "portcullis_gateway_http_requests_total",
    help: "HTTP requests by route and status",
    labelNames: ["route", "method", "status"] as const,
    registers: [registry],
  });
  const toolCalls = new Counter({
    name: "portcullis_gateway_tool_calls_total",
    help: "MCP tool calls by tool and verdict",
    labelNames: ["tool", "verdict"] as const,
    registers: [registry],
  });
  const toolDuration = new Histogram({
    name: "portcullis_gateway_tool_duration_seconds",
    help: "Tool call duration",
    labelNames: ["tool"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const refused = new Counter({
    name: "portcullis_gateway_refused_requests_total",
    help: "Requests refused before any tool ran, by reason",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const auditEvents = new Counter({
    name: "portcullis_gateway_audit_events_total",
    help: "Audit events by outcome (journalled, queued, resent, stored, dead_lettered, journal_failed)",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const auditJournalPending = new Gauge({
    name: "portcullis_gateway_audit_journal_pending",
    help: "Audit events in this instance's journal not yet seen in the metadata database",
    registers: [registry],
  });
  const auditJournalOldestSeconds = new Gauge({
    name: "portcullis_gateway_audit_journal_oldest_seconds",
    help: "Age of the oldest journalled audit event not yet seen in the metadata database",
    registers: [registry],
  });
  // One observation per synchronous journal write (O_DSYNC: durable as after fdatasync); its _count is the
  // number of syncs, which group commit keeps far below the number of calls.
  const auditFsyncSeconds = new Histogram({
    name: "portcullis_gateway_audit_journal_fsync_seconds",
    help: "Duration of one synchronous (O_DSYNC) audit journal write, one per group of events",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1],
    registers: [registry],
  });
  const pools = new Gauge({
    name: "portcullis_gateway_target_pools",
    help: "Open target connection pools",
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: "portcullis_gateway_in_flight_requests",
    help: "HTTP requests being served",
    registers: [registry],
  });
  return { registry, http, toolCalls, toolDuration, refused, auditEvents, auditJournalPending, auditJournalOldestSeconds, auditFsyncSeconds, pools, inFlight };
}

export type GatewayMetrics = ReturnType<typeof createMetrics>;
