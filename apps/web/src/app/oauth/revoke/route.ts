import { handleRevocationRequest, preflightResponse } from "@portcullis/oauth";
import { getOAuthContext } from "@/features/oauth/server";

export const dynamic = "force-dynamic";

export function POST(request: Request) {
  return handleRevocationRequest(getOAuthContext(), request);
}

export function OPTIONS() {
  return preflightResponse();
}
