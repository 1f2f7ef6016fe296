import type { NextRequest } from "next/server";
import { getToken } from "next-auth/jwt";
import { env } from "../../../lib/env";
import { collectHealth } from "./collect";

export const dynamic = "force-dynamic";

/**
 * Readiness for load balancers and scripts/up.sh (HTTP 503 only when the dashboard itself cannot
 * work: its database or Redis is down), and the degraded-part banner's source. Signed-out callers get
 * the overall status only; a signed-in browser gets each part and what its outage means.
 */
export async function GET(request: NextRequest) {
  const report = await collectHealth();
  const serving = report.parts.every((p) => (p.name === "database" || p.name === "redis" ? p.state === "ok" : true));
  const headers = { "cache-control": "no-store" };
  const body = (await signedIn(request)) ? report : { ok: report.ok, status: report.status };
  return Response.json(body, { status: serving ? 200 : 503, headers });
}

/**
 * The session's signed token only, without its database row: the banner must keep working when the
 * metadata database is the part that is down, and the parts list reveals nothing a member could misuse.
 */
async function signedIn(request: NextRequest): Promise<boolean> {
  try {
    const token = await getToken({ req: request, secret: env().NEXTAUTH_SECRET, secureCookie: env().publicUrl.startsWith("https://") });
    return Boolean(token?.uid && token.sid);
  } catch {
    return false;
  }
}
