import { z } from "zod";

/**
 * What the dashboard knows about each part of the stack, and what an outage means for the people
 * using it, in plain words. Pure, so the banner and the route share it and it is tested without I/O.
 */
export type PartName = "database" | "redis" | "worker" | "gateway";
export type PartState = "ok" | "degraded" | "down" | "unknown";

export interface Part {
  name: PartName;
  state: PartState;
  /** Plain words for the banner; absent when the part is fine. */
  message?: string;
  /** Live workers (worker part), or the gateway's audit backlog as it words it. */
  detail?: string;
}

export interface HealthReport {
  ok: boolean;
  status: "ok" | "degraded" | "down";
  checkedAt: string;
  parts: Part[];
}

/** The gateway's /readyz body (apps/gateway/src/http/router.ts); unknown fields are ignored. */
export const gatewayReadySchema = z.object({
  status: z.string(),
  checks: z.record(z.string(), z.string()).default({}),
});
export type GatewayReady = z.infer<typeof gatewayReadySchema>;

export interface RawHealth {
  database: boolean;
  redis: boolean;
  /** Live workers by heartbeat; undefined when Redis could not be asked. */
  workers: number | undefined;
  /** undefined: the gateway did not answer at all (or answered something that is not /readyz). */
  gateway: GatewayReady | undefined;
}

export function describeParts(raw: RawHealth, checkedAt = new Date()): HealthReport {
  const parts: Part[] = [];
  parts.push(
    raw.database
      ? { name: "database", state: "ok" }
      : {
          name: "database",
          state: "down",
          message: "The metadata database is not answering: the dashboard cannot load or save anything, and the gateway cannot check keys it has not seen recently.",
        },
  );
  parts.push(
    raw.redis
      ? { name: "redis", state: "ok" }
      : {
          name: "redis",
          state: "down",
          message: "Redis is not answering: calls are still answered and their audit events are kept on the gateway's disk, but Activity is delayed and schema refreshes cannot be queued until it is back.",
        },
  );
  if (raw.workers === undefined) parts.push({ name: "worker", state: "unknown", detail: "unknown while Redis is down" });
  else if (raw.workers === 0)
    parts.push({
      name: "worker",
      state: "down",
      detail: "0 running",
      message: "The worker is not running: calls are still answered and audited, but Activity and schema snapshots are delayed until it is back.",
    });
  else parts.push({ name: "worker", state: "ok", detail: `${raw.workers} running` });
  parts.push(gatewayPart(raw.gateway));
  const down = parts.some((p) => p.state === "down" && (p.name === "database" || p.name === "gateway"));
  const degraded = parts.some((p) => p.state !== "ok");
  const status = down ? "down" : degraded ? "degraded" : "ok";
  return { ok: status === "ok", status, checkedAt: checkedAt.toISOString(), parts };
}

function gatewayPart(ready: GatewayReady | undefined): Part {
  if (!ready)
    return {
      name: "gateway",
      state: "down",
      message: "The gateway is not answering: AI clients cannot reach your databases through their MCP links right now.",
    };
  const backlog = ready.checks.auditBacklog;
  const detail = backlog ? `audit backlog: ${backlog}` : undefined;
  if (ready.checks.draining === "yes")
    return { name: "gateway", state: "degraded", detail, message: "The gateway is restarting: calls in flight are finishing; new calls may fail for a moment." };
  if (ready.status === "ready") return { name: "gateway", state: "ok", detail };
  const failing = Object.entries(ready.checks)
    .filter(([name, value]) => name !== "auditBacklog" && name !== "draining" && value !== "ok")
    .map(([name, value]) => `${name}: ${value}`);
  return {
    name: "gateway",
    state: "degraded",
    detail,
    message: `The gateway is running but not ready${failing.length ? ` (${failing.join("; ")})` : ""}: calls may fail until it recovers.`,
  };
}

/** The signed-in answer as the banner reads it back from the network. */
export const healthReportSchema = z.object({
  ok: z.boolean(),
  status: z.enum(["ok", "degraded", "down"]),
  checkedAt: z.string(),
  parts: z.array(
    z.object({
      name: z.enum(["database", "redis", "worker", "gateway"]),
      state: z.enum(["ok", "degraded", "down", "unknown"]),
      message: z.string().optional(),
      detail: z.string().optional(),
    }),
  ),
});
