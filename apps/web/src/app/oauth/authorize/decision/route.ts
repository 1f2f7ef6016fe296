import { z } from "zod";
import { approveAuthorization, denyAuthorization, isOAuthError, parseAuthorizationRequest, readLimitedText } from "@portcullis/oauth";
import { getOAuthContext } from "../../../../features/oauth/server";
import { clientIp } from "../../../../lib/auth";
import { env } from "../../../../lib/env";
import { getSessionUser } from "../../../../lib/session";

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

/**
 * The consent form: the authorization request's parameters, as the page carried them, and the
 * decision. Each is one bounded string (resource may repeat); anything else is refused.
 */
const value = z.string().max(4096);
const decisionFormSchema = z.strictObject({
  decision: z.enum(["approve", "deny"]),
  response_type: value.optional(),
  client_id: value.optional(),
  redirect_uri: value.optional(),
  code_challenge: value.optional(),
  code_challenge_method: value.optional(),
  state: value.optional(),
  scope: value.optional(),
  resource: z.array(value).max(10).optional(),
});

async function readDecisionForm(request: Request) {
  if (!(request.headers.get("content-type") ?? "").toLowerCase().startsWith("application/x-www-form-urlencoded")) return null;
  const raw = new URLSearchParams(await readLimitedText(request, 32 * 1024));
  const fields: Record<string, string | string[]> = {};
  for (const key of new Set(raw.keys())) {
    const all = raw.getAll(key);
    if (key === "resource") fields[key] = all;
    else if (all.length === 1) fields[key] = all[0]!;
    else return null;
  }
  const parsed = decisionFormSchema.safeParse(fields);
  return parsed.success ? parsed.data : null;
}

export async function POST(request: Request) {
  if (!sameOrigin(request)) return plain(403, "This form can only be submitted from the Portcullis dashboard.");
  let form: z.output<typeof decisionFormSchema> | null;
  try {
    form = await readDecisionForm(request);
  } catch {
    return plain(413, "The form is too large.");
  }
  if (!form) return plain(400, "The consent form was not understood; start the sign-in from your AI client again.");
  const user = await getSessionUser();
  const params = new URLSearchParams();
  for (const [key, v] of Object.entries(form)) {
    if (key === "decision" || v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) params.append(key, one);
  }
  if (!user) return seeOther(`/sign-in?callbackUrl=${encodeURIComponent(`/oauth/authorize?${params.toString()}`)}`);
  const ctx = getOAuthContext();
  const parsed = await parseAuthorizationRequest(ctx, params);
  if (!parsed.ok) return parsed.redirectTo ? seeOther(parsed.redirectTo) : plain(400, parsed.error.description);
  const input = { request: parsed.request, client: parsed.client, userId: user.userId, sourceIp: clientIp(request.headers) };
  if (form.decision !== "approve") return seeOther(await denyAuthorization(ctx, input));
  try {
    return seeOther(await approveAuthorization(ctx, input));
  } catch (error) {
    // Not allowed on the link (or lost access since the page was shown): back to the page, which says so.
    if (isOAuthError(error) && error.error === "access_denied") return seeOther(`/oauth/authorize?${params.toString()}`);
    throw error;
  }
}
