/**
 * Access and refresh tokens are opaque random strings; only their SHA-256 is stored (as for API keys:
 * 256 bits of entropy leave nothing to brute-force, and the gateway can check a hash on every call).
 * The prefixes let the gateway route a bearer token to the right check without I/O, and let secret
 * scanners recognise a leaked token. Kept apart so the gateway's import stays small.
 */
export const ACCESS_TOKEN_PREFIX = "pca_";
export const REFRESH_TOKEN_PREFIX = "pcr_";

/** 32 random bytes in base64url are 43 characters. */
export function looksLikeAccessToken(token: string): boolean {
  return token.startsWith(ACCESS_TOKEN_PREFIX) && token.length === ACCESS_TOKEN_PREFIX.length + 43;
}
