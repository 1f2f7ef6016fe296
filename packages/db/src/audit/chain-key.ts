import { createHmac, hash } from "node:crypto";
import { z } from "zod";

/**
 * The key of the audit chain's HMAC. It lives only in the environment of the worker and of whoever
 * verifies (the CLI, the dashboard), never in the database: someone who can write the metadata
 * database (a stolen password, an injection, a restored dump) can delete or edit events and recompute
 * a plain SHA-256 chain, but cannot recompute an HMAC chain without this key.
 *
 * Format: 64 hex characters (32 random bytes), e.g. `openssl rand -hex 32`.
 */
export interface ChainKey {
  key: Buffer;
  /** A short public fingerprint of the key, for reports ("keyed with key 1a2b3c4d"). */
  id: string;
}

export const auditChainKeySchema = z
  .string()
  .trim()
  .regex(/^[0-9a-fA-F]{64}$/, "AUDIT_CHAIN_KEY must be 64 hex characters (32 random bytes: openssl rand -hex 32)");

export function parseAuditChainKey(value: string): ChainKey {
  const key = Buffer.from(auditChainKeySchema.parse(value), "hex");
  return { key, id: hash("sha256", Buffer.concat([Buffer.from("pc-audit-key-id\n"), key]), "hex").slice(0, 8) };
}

/** Keyed hashes carry this prefix: the row says how it was hashed, so one chain holds both kinds. */
export const KEYED_PREFIX = "k1:";

export const isKeyedHash = (h: string): boolean => h.startsWith(KEYED_PREFIX);

export function hmacHex(key: ChainKey, data: string): string {
  return createHmac("sha256", key.key).update(data).digest("hex");
}

/** The MAC of a retention anchor: the cut point (seq and hash) of one team's chain. */
export function anchorMac(key: ChainKey, teamId: string, seq: string, hash: string): string {
  return hmacHex(key, `pc-audit-anchor-v1\n${teamId.toLowerCase()}\n${seq}\n${hash}`);
}

/** The MAC of a configuration-change record in the outbox (its event JSON, as stored). */
export function outboxMac(key: ChainKey, event: string): string {
  return hmacHex(key, `pc-audit-outbox-v1\n${event}`);
}
