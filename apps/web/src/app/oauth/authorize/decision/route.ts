import { approveAuthorization, clientAddress, denyAuthorization, isOAuthError, parseAuthorizationRequest } from "@portcullis/oauth";
import { getOAuthContext } from "@/features/oauth/server";
import { env } from "@/lib/env";
import { getSessionUser } from "@/lib/session";

export const dynamic = "force-dynamic";

function seeOther(location: string): Response {
  return new Response(null, { status: 303, headers: { location, "cache-control": "no-store" } });
}

function plain(status: number, message: string): Response {
  return new Response(message, { status, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } });
}

/**
 * Cross-site request forgery: this POST turns a session into a code for someone else's client, so
 * it is accepted only from the dashboard's own pages (Origin is sent by browsers on every POST; the
 * session cookie is SameSite=Lax as a second line). The request is validated again from the form:
 * nothing the page showed is trusted.
 */
function sameOrigin(request: Request): boolean {
  const origin = request.headers.get("origin");
  if (!origin) return false;
  const allowed = new Set([new URL(env().publicUrl).origin]);
  const host = request.headers.get("host");
  if (host) allowed.add(`${new URL(request.url).protocol}//${host}`);
  return allowed.has(origin);
}

export async function POST(request: Request) {
  if (!sameOrigin(request)) return plain(403, "This form can only be submitted from the Portcullis dashboard.");
  const user = await getSessionUser();
  const form = await request.formData();
  const params = new URLSearchParams();
  for (const [key, value] of form.entries()) if (key !== "decision" && typeof value === "string") params.append(key, value);
  if (!user) return seeOther(`/sign-in?callbackUrl=${encodeURIComponent(`/oauth/authorize?${params.toString()}`)}`);
  const ctx = getOAuthContext();
  const parsed = await parseAuthorizationRequest(ctx, params);
  if (!parsed.ok) return parsed.redirectTo ? seeOther(parsed.redirectTo) : plain(400, parsed.error.description);
  const input = { request: parsed.request, client: parsed.client, userId: user.userId, sourceIp: clientAddress(request) };
  if (form.get("decision") !== "approve") return seeOther(await denyAuthorization(ctx, input));
  try {
    return seeOther(await approveAuthorization(ctx, input));
  } catch (error) {
    // Not allowed on the link (or lost access since the page was shown): back to the page, which says so.
    if (isOAuthError(error) && error.error === "access_denied") return seeOther(`/oauth/authorize?${params.toString()}`);
    throw error;
  }
}
