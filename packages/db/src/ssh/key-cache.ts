import { createHash } from "node:crypto";
import type { ParsedKey } from "ssh2";
import type { SecretKeyring } from "../secrets/index.js";
import type { TargetConnectionRow, TargetSshHop } from "../target.js";
import { SshAuthError } from "./errors.js";
import { KeyBusyError, KEY_WORKER_FAILED, parseHopKey } from "./key.js";
import { openSshSecret } from "./secrets.js";

/**
 * Opening a protected key is seconds of a worker's time, and a connection opens its keys for every route
 * (the primary's and each replica's pool, again after every drop). Opened keys are kept in memory per
 * (connection, hop position, sealed key, sealed passphrase): an edit that changes either secret is a new
 * entry, and concurrent routes of one connection wait on ONE open. Only a verdict about the key itself (a
 * wrong passphrase, an unreadable key) is remembered as a failure, and only briefly; a busy or missing
 * worker is not remembered at all.
 */
const MAX_ENTRIES = 256;
const FAILURE_MEMORY_MS = 30_000;

interface Entry {
  opened: Promise<ParsedKey>;
  /** Set when `opened` rejected with a verdict about the key: when it stops counting. */
  failedUntil?: number;
}

// Map order is recency: a hit is moved to the back, the front is evicted first.
const entries = new Map<string, Entry>();

function cacheKey(row: TargetConnectionRow, hop: TargetSshHop): string {
  // Hashed so the cache holds no ciphertext (and keys stay short); the id and position bound the AAD.
  return createHash("sha256").update([row.id, hop.position, hop.privateKeyCiphertext, hop.passphraseCiphertext ?? ""].join("\0")).digest("base64");
}

/** Forgets every opened key (tests). */
export function clearOpenedHopKeys(): void {
  entries.clear();
}

/** The hop's key, opened and parsed (or taken from the cache), so a wrong passphrase is refused in words before any dialling. */
export function openHopKey(row: TargetConnectionRow, hop: TargetSshHop, keyring: SecretKeyring): Promise<ParsedKey> {
  const key = cacheKey(row, hop);
  const hit = entries.get(key);
  if (hit && (hit.failedUntil === undefined || Date.now() < hit.failedUntil)) {
    entries.delete(key);
    entries.set(key, hit);
    return hit.opened;
  }
  if (hit) entries.delete(key);
  const entry: Entry = { opened: openUncached(row, hop, keyring) };
  entry.opened.catch((error: unknown) => {
    if (entries.get(key) !== entry) return;
    if (remembered(error)) entry.failedUntil = Date.now() + FAILURE_MEMORY_MS;
    else entries.delete(key);
  });
  entries.set(key, entry);
  while (entries.size > MAX_ENTRIES) entries.delete(entries.keys().next().value!);
  return entry.opened;
}

// A refusal for want of a worker, or a worker that did not run, says nothing about the key: not kept.
function remembered(error: unknown): boolean {
  if (!(error instanceof SshAuthError)) return false;
  return !(error.cause instanceof KeyBusyError) && !error.message.includes(KEY_WORKER_FAILED) && !/took too long/.test(error.message);
}

async function openUncached(row: TargetConnectionRow, hop: TargetSshHop, keyring: SecretKeyring): Promise<ParsedKey> {
  const ref = { position: hop.position, host: hop.host, port: hop.port, username: hop.username };
  let privateKey: string;
  let passphrase: string | undefined;
  try {
    privateKey = openSshSecret(keyring, row.id, hop.position, "key", hop.privateKeyCiphertext);
    passphrase = hop.passphraseCiphertext ? openSshSecret(keyring, row.id, hop.position, "passphrase", hop.passphraseCiphertext) : undefined;
  } catch (error) {
    throw new SshAuthError(ref, "key_unreadable", (error as Error).message);
  }
  // The connection is the owner whose queue the key waits in: one connection's keys cannot hold the
  // workers for the others'.
  const parsed = await parseHopKey(privateKey, passphrase, { owner: row.id });
  if (parsed instanceof KeyBusyError) throw Object.assign(new SshAuthError(ref, "key_unreadable", parsed.message), { cause: parsed });
  if (parsed instanceof Error) {
    // ssh2 words these "Encrypted private OpenSSH key detected, but no passphrase given" and "…bad
    // passphrase?"/"Failed to decrypt…": both are a passphrase problem, anything else is the key itself.
    const passphraseProblem = !/bcrypt rounds/.test(parsed.message) && /passphrase|decrypt/i.test(parsed.message);
    throw new SshAuthError(ref, passphraseProblem ? "passphrase" : "key_unreadable", passphraseProblem && !passphrase ? "the key is encrypted and no passphrase is stored" : parsed.message);
  }
  if (parsed.isPrivateKey() !== true) throw new SshAuthError(ref, "key_unreadable", "it is not a private key");
  return parsed;
}
