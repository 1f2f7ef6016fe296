/**
 * Settings of the authorization server. Everything is explicit (no process.env here) so tests and the
 * two callers (the dashboard, which issues tokens, and the gateway, which verifies them) build it from
 * their own validated environment.
 */
export interface OAuthConfig {
  /** The dashboard's public URL: the issuer, and the base of every endpoint (RFC 8414 §2). */
  issuer: string;
  /** The gateway's public URL: resource indicators must be `{gatewayPublicUrl}/mcp/{linkId}`. */
  gatewayPublicUrl: string;
  /** Access tokens are short-lived so a token copied off a machine is worth little for long. */
  accessTokenTtlSeconds: number;
  /** Refresh tokens rotate on every use; this bounds how long an idle client stays signed in. */
  refreshTokenTtlSeconds: number;
  /** Authorization codes are exchanged seconds after the redirect; a long life only helps thieves. */
  authorizationCodeTtlSeconds: number;
}

export const DEFAULT_TTLS = {
  accessTokenTtlSeconds: 15 * 60,
  refreshTokenTtlSeconds: 30 * 24 * 3600,
  authorizationCodeTtlSeconds: 5 * 60,
} as const;

export function createOAuthConfig(input: { issuer: string; gatewayPublicUrl: string } & Partial<OAuthConfig>): OAuthConfig {
  return {
    ...DEFAULT_TTLS,
    ...input,
    issuer: stripTrailingSlash(input.issuer),
    gatewayPublicUrl: stripTrailingSlash(input.gatewayPublicUrl),
  };
}

export function stripTrailingSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/** The endpoints, derived from the issuer, shared by the metadata document and the route handlers. */
export function endpointsOf(config: OAuthConfig) {
  return {
    authorization: `${config.issuer}/oauth/authorize`,
    token: `${config.issuer}/oauth/token`,
    registration: `${config.issuer}/oauth/register`,
    revocation: `${config.issuer}/oauth/revoke`,
  };
}
