import { handleTokenRequest, preflightResponse } from "@portcullis/oauth";
import { getOAuthContext } from "@/features/oauth/server";

export const dynamic = "force-dynamic";

export function POST(request: Request) {
  return handleTokenRequest(getOAuthContext(), request);
}

export function OPTIONS() {
  return preflightResponse();
}
