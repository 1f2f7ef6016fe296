import { type ChainKey, parseAuditChainKey } from "./chain-key.js";

/**
 * AUDIT_CHAIN_KEY from the environment, or undefined when it is unset (the chain then stays SHA-256
 * only, and `audit verify` says so). A malformed key is an error, never silently ignored. Every
 * process that writes or verifies the chain (worker, CLI, dashboard) reads it here.
 */
export function loadAuditChainKey(source: NodeJS.ProcessEnv = process.env): ChainKey | undefined {
  const value = source.AUDIT_CHAIN_KEY?.trim();
  return value ? parseAuditChainKey(value) : undefined;
}
