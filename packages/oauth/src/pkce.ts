import { createHash, timingSafeEqual } from "node:crypto";

/**
 * PKCE (RFC 7636) as OAuth 2.1 and MCP require it: S256 only. `plain` sends the verifier itself as the
 * challenge, so anyone who sees the authorization request can redeem an intercepted code: refused.
 */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
/** A base64url SHA-256 is always 43 characters without padding. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

export type PkceProblem = "missing_challenge" | "unsupported_method" | "malformed_challenge";

/** Checks the authorization request's challenge; `method` defaults to plain in RFC 7636, so absent is refused too. */
export function checkCodeChallenge(challenge: string | null | undefined, method: string | null | undefined): PkceProblem | null {
  if (!challenge) return "missing_challenge";
  if (method !== "S256") return "unsupported_method";
  if (!S256_CHALLENGE.test(challenge)) return "malformed_challenge";
  return null;
}

export function s256Challenge(verifier: string): string {
  return createHash("sha256").update(verifier, "ascii").digest("base64url");
}

/** True only for a well-formed verifier whose S256 hash equals the stored challenge (constant time). */
export function verifyCodeVerifier(verifier: string | null | undefined, challenge: string): boolean {
  if (!verifier || !VERIFIER.test(verifier)) return false;
  const expected = Buffer.from(challenge, "ascii");
  const actual = Buffer.from(s256Challenge(verifier), "ascii");
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
