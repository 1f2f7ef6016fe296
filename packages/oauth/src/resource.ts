import type { OAuthConfig } from "./config.js";

/**
 * Resource indicators (RFC 8707). Every link is its own protected resource, `{GATEWAY_PUBLIC_URL}/mcp/
 * {linkId}` — the URL the gateway's protected-resource metadata advertises — so a token is minted for
 * exactly one link and the gateway refuses it anywhere else.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function resourceForLink(config: Pick<OAuthConfig, "gatewayPublicUrl">, linkId: string): string {
  return `${config.gatewayPublicUrl}/mcp/${linkId}`;
}

/** The link id a resource indicator names, or null if it is not one of our link URLs. */
export function linkIdFromResource(config: Pick<OAuthConfig, "gatewayPublicUrl">, resource: string): string | null {
  const base = `${config.gatewayPublicUrl}/mcp/`;
  if (!resource.toLowerCase().startsWith(base.toLowerCase())) return null;
  // A trailing slash is tolerated (clients differ); query strings and fragments are not (RFC 8707 §2).
  const rest = resource.slice(base.length).replace(/\/$/, "");
  return UUID.test(rest) ? rest.toLowerCase() : null;
}

/** The link id in any `…/mcp/{uuid}` URL, whatever its origin: what the gateway passes to the verifier. */
export function linkIdFromAnyResource(resource: string): string | null {
  const match = /\/mcp\/([0-9a-f-]{36})\/?$/i.exec(resource.split(/[?#]/)[0] ?? "");
  return match && UUID.test(match[1]!) ? match[1]!.toLowerCase() : null;
}
