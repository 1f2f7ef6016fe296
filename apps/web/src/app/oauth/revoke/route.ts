import { handleRevocationRequest, preflightResponse } from "@portcullis/oauth";
import { getOAuthContext } from "../../../features/oauth/server";
import { clientIp } from "../../../lib/auth";

export const dynamic = "force-dynamic";

// The body (a bounded form, each parameter a bounded string) is read and parsed by the OAuth package.
export function POST(request: Request) {
  return handleRevocationRequest(getOAuthContext(), request, { sourceIp: clientIp(request.headers) });
}

export function OPTIONS() {
  return preflightResponse();
}
