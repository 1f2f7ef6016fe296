import { errorResponse, handleRegistrationRequest, OAuthError, preflightResponse } from "@portcullis/oauth";
import { getOAuthContext } from "../../../features/oauth/server";
import { clientIp } from "../../../lib/auth";
import { hitRateLimit } from "../../../lib/rate-limit";

export const dynamic = "force-dynamic";

// Registration is open to anyone (RFC 7591 as MCP uses it), so each address may only add so many
// rows to oauth_clients; a registered client still cannot do anything without a member's consent.
const REGISTRATIONS_PER_HOUR = 60;

export async function POST(request: Request) {
  // The address as the dashboard's proxies vouch for it (TRUST_PROXY): X-Forwarded-For alone is the client's to write.
  const limit = await hitRateLimit(`oauth-register:${clientIp(request.headers)}`, REGISTRATIONS_PER_HOUR, 3600);
  if (!limit.allowed) {
    const response = errorResponse(new OAuthError("invalid_request", "too many client registrations from this address; try again later", 429));
    response.headers.set("retry-after", String(limit.retryAfterSeconds));
    return response;
  }
  // The body (JSON, capped while it streams) is parsed by the OAuth package's metadata schema.
  return handleRegistrationRequest(getOAuthContext(), request);
}

export function OPTIONS() {
  return preflightResponse();
}
