import { endpointsOf, type OAuthConfig } from "./config.js";
import { OPERATION_SCOPES } from "./scopes.js";

/** Advertised scopes; the legacy `mcp` (= all three) is still accepted but no longer advertised. */
export const SUPPORTED_SCOPES = OPERATION_SCOPES;
/** RFC 7523 §2.1: the grant an enterprise ID-JAG is redeemed with. */
export const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/** The MCP extension that grant implements (advertised so clients can tell it is meant for ID-JAGs). */
export const ENTERPRISE_AUTH_EXTENSION = "io.modelcontextprotocol/enterprise-managed-authorization";

/**
 * RFC 8414 authorization-server metadata. Only what we implement is advertised: public clients
 * (`none`), the code flow with PKCE S256 (OAuth 2.1 drops `plain` and the implicit flow), refresh
 * tokens, Client ID Metadata Documents (what MCP 2026-07-28 prefers, so listed first), RFC 7591
 * registration kept, deprecated, for older clients, RFC 9207 `iss` on every authorization response,
 * and the RFC 7523 jwt-bearer grant for enterprise ID-JAGs.
 */
export function authorizationServerMetadata(config: OAuthConfig) {
  const endpoints = endpointsOf(config);
  return {
    issuer: config.issuer,
    authorization_endpoint: endpoints.authorization,
    token_endpoint: endpoints.token,
    client_id_metadata_document_supported: true,
    registration_endpoint: endpoints.registration,
    revocation_endpoint: endpoints.revocation,
    scopes_supported: [...SUPPORTED_SCOPES],
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token", JWT_BEARER_GRANT],
    token_endpoint_auth_methods_supported: ["none"],
    revocation_endpoint_auth_methods_supported: ["none"],
    code_challenge_methods_supported: ["S256"],
    authorization_response_iss_parameter_supported: true,
    service_documentation: `${config.issuer}/docs`,
  };
}

/**
 * The OpenID-style discovery document some MCP clients try first. We are not an OpenID provider (no
 * ID tokens), but the fields these clients read are the same; the OIDC-required ones are filled with
 * what is true of us so strict parsers (the MCP SDK validates this shape) accept it.
 */
export function openidConfiguration(config: OAuthConfig) {
  return {
    ...authorizationServerMetadata(config),
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256"],
    jwks_uri: `${config.issuer}/.well-known/jwks.json`,
  };
}
