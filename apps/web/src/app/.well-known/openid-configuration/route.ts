import { metadataResponse, preflightResponse } from "@portcullis/oauth";
import { getOAuthContext } from "@/features/oauth/server";

// Some MCP clients look for OpenID-style discovery first (the SDK tries both).
export const dynamic = "force-dynamic";

export function GET() {
  return metadataResponse(getOAuthContext().config, "openid");
}

export function OPTIONS() {
  return preflightResponse();
}
