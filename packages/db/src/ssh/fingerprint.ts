import { createHash } from "node:crypto";

/** "SHA256:<base64 without padding>" of a host key blob: the form `ssh-keygen -lf` prints. */
export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

/**
 * One spelling of a stored fingerprint (a pasted one may carry base64 padding or lack the prefix), so a
 * confirmed key compares equal to what the server offers; anything that is not a SHA-256 fingerprint
 * reads as null, which refuses like an unconfirmed key.
 */
export function normalizeFingerprint(value: string | null | undefined): string | null {
  if (!value) return null;
  const body = value.trim().replace(/^SHA256:/i, "").replace(/=+$/, "");
  return /^[A-Za-z0-9+/]{43}$/.test(body) ? `SHA256:${body}` : null;
}
