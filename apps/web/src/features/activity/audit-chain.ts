import { loadAuditChainKey, readCheckpoint, readDivergedCheckpoints, verifyAuditChain, type AuditVerification } from "@portcullis/db/audit";
import { authorizeTeam, type Actor } from "../../lib/authz";
import { getPrisma } from "../../lib/db";
import { getRedis } from "../../lib/redis";

/** How long one verification is reused: it reads the whole chain, and the Activity tab refreshes every few seconds. */
export const VERIFY_TTL_MS = 60_000;

export interface AuditChainStatus extends AuditVerification {
  /** When the chain was read (the cached result says so, rather than pretending to be live). */
  verifiedAt: string;
}

interface Entry {
  expires: number;
  result: Promise<AuditChainStatus>;
}

// On globalThis so dev-mode module reloads do not drop it; one per process is the point (a cache
// shared across instances would need Redis and buys little: each instance verifies once a minute).
const globalForChain = globalThis as unknown as { portcullisAuditChainCache?: Map<string, Entry> };
const cache = (globalForChain.portcullisAuditChainCache ??= new Map());

/**
 * The team's audit hash chain, verified at most once a minute per team in this process. The promise
 * is cached, not the value, so concurrent page renders share one read of the chain; a failed read is
 * forgotten at once so the next render retries. Every role that reads activity may see it: the
 * answer holds no event content, only whether the trail is intact and how long it is.
 */
export async function auditChainStatus(actor: Actor, teamId: string, now = Date.now()): Promise<AuditChainStatus> {
  await authorizeTeam(actor, teamId, "activity:verify");
  const hit = cache.get(teamId);
  if (hit && hit.expires > now) return hit.result;
  const result = verifyTeamChain(teamId).then((v) => ({ ...v, verifiedAt: new Date().toISOString() }));
  cache.set(teamId, { expires: now + VERIFY_TTL_MS, result });
  result.catch(() => {
    if (cache.get(teamId)?.result === result) cache.delete(teamId);
  });
  // Bound the map on a gateway serving many teams: drop expired entries as new ones come in.
  if (cache.size > 1000) for (const [key, entry] of cache) if (entry.expires <= now) cache.delete(key);
  return result;
}

/**
 * The chain with the key (HMAC part) and against the checkpoint kept in Redis (a truncated tail).
 * Redis being down only means the checkpoint is not consulted: the result says so.
 */
async function verifyTeamChain(teamId: string): Promise<AuditVerification> {
  const key = loadAuditChainKey();
  const checkpoint = key ? await readCheckpoint(getRedis(), teamId).catch(() => undefined) : undefined;
  const diverged = key ? await readDivergedCheckpoints(getRedis(), teamId).catch(() => []) : [];
  return verifyAuditChain(getPrisma(), teamId, { key, checkpoint, diverged });
}

/** For tests: forget cached verifications. */
export function clearAuditChainCache(): void {
  cache.clear();
}
