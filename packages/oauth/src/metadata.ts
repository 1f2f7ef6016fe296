import { endpointsOf, type OAuthConfig } from "./config.js";

export const SUPPORTED_SCOPES = ["mcp"] as const;

/**
 * RFC 8414 authorization-server metadata. Only what we implement is advertised: public clients
 * (`none`), the code flow with PKCE S256 (OAuth 2.1 drops `plain` and the implicit flow), refresh
 * tokens, Client ID Metadata Documents (what MCP 2025-11-25 prefers) and RFC 7591 registration as a
 * fallback for older clients.
 */
export function authorizationServerMetadata(config: OAuthConfig) {
  const endpoints = endpointsOf(config);
  return {
    issuer: config.issuer,
    authorization_endpoint: endpoints.authorization,
    token_endpoint: endpoints.token,
    registration_endpoint: endpoints.registration,
    revocation_endpoint: endpoints.revocation,
    scopes_supported: [...SUPPORTED_SCOPES],
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    token_endpoint_auth_methods_supported: ["none"],
    revocation_endpoint_auth_methods_supported: ["none"],
    code_challenge_methods_supported: ["S256"],
    client_id_metadata_document_supported: true,
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
