import { countLiveWorkers } from "@portcullis/jobs";
import { getPrisma } from "../../../lib/db";
import { env } from "../../../lib/env";
import { getRedis } from "../../../lib/redis";
import { type GatewayReady, type HealthReport, describeParts, gatewayReadySchema } from "./parts";

/** Every open dashboard polls this; one look per 2 s serves them all (and a slow part is not asked twice). */
const CACHE_MS = 2_000;
let cached: { at: number; report: Promise<HealthReport> } | undefined;

export function collectHealth(now = Date.now()): Promise<HealthReport> {
  if (!cached || now - cached.at >= CACHE_MS) cached = { at: now, report: look() };
  return cached.report;
}

/** Drops the cached answer (tests change the world between calls). */
export function forgetHealth(): void {
  cached = undefined;
}

function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Causes go to the log, never to the caller (they name hosts and users).
const logged = (part: string) => (error: Error) => {
  console.error(`[web] health: ${part}`, error.message);
  return undefined;
};

async function look(): Promise<HealthReport> {
  const [database, redis, workers, gateway] = await Promise.all([
    within(getPrisma().$queryRawUnsafe("SELECT 1"), 2_000).then(() => true, (e: Error) => (logged("database")(e), false)),
    within(getRedis().ping(), 1_000).then(() => true, (e: Error) => (logged("redis")(e), false)),
    within(countLiveWorkers(getRedis(), env().QUEUE_PREFIX), 1_000).catch(logged("worker heartbeats")),
    gatewayReady().catch(logged("gateway")),
  ]);
  return describeParts({ database, redis, workers, gateway });
}

/** The gateway's /readyz (503 has a body too: it says what is not ready). */
async function gatewayReady(): Promise<GatewayReady | undefined> {
  const response = await fetch(`${env().gatewayHealthUrl}/readyz`, { signal: AbortSignal.timeout(1_500), cache: "no-store" });
  const parsed = gatewayReadySchema.safeParse(await response.json());
  if (!parsed.success) throw new Error(`unexpected /readyz answer (HTTP ${response.status})`);
  return parsed.data;
}
