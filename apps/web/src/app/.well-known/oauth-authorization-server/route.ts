import { metadataResponse, preflightResponse } from "@portcullis/oauth";
import { getOAuthContext } from "@/features/oauth/server";

// RFC 8414 metadata. The issuer has no path, so this single URL is where every client looks.
export const dynamic = "force-dynamic";

export function GET() {
  return metadataResponse(getOAuthContext().config, "oauth");
}

export function OPTIONS() {
  return preflightResponse();
}
