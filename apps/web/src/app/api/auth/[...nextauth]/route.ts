import NextAuth from "next-auth";
import { NextRequest } from "next/server";
import { z } from "zod";
import { readLimitedText } from "@portcullis/oauth";
import { authOptions } from "../../../../lib/auth";

type RouteContext = { params: Promise<{ nextauth: string[] }> };

/**
 * next-auth's endpoints, parsed before next-auth sees them: the path is one of its actions (and a
 * configured provider where it takes one), the query and the body are flat maps of bounded strings
 * without NUL, and the body is read with a cap. next-auth itself would parse a JSON body unchecked
 * (a malformed one was a 500), read any body whole, and throw on a GET of the credentials callback.
 */
const PROVIDERS = ["credentials", "github", "google"] as const;
const value = z.string().max(4096).refine((v) => !v.includes("\0"), "NUL is not allowed");
const flatMap = z.record(z.string().max(100), value).refine((m) => Object.keys(m).length <= 30, "too many fields");

const pathSchema = z.union([
  z.tuple([z.enum(["providers", "session", "csrf", "signin", "signout", "error", "verify-request", "_log"])]),
  z.tuple([z.enum(["signin", "callback"]), z.enum(PROVIDERS)]),
]);

const MAX_BODY = 16 * 1024;

function refuse(status: number, message: string): Response {
  return new Response(message, { status, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } });
}

function queryOf(url: URL): Record<string, string> | null {
  const keys = [...url.searchParams.keys()];
  // A repeated parameter is ambiguous (next-auth would keep the last one silently).
  if (new Set(keys).size !== keys.length) return null;
  const parsed = flatMap.safeParse(Object.fromEntries(url.searchParams));
  return parsed.success ? parsed.data : null;
}

async function bodyOf(request: Request): Promise<{ ok: true; text: string } | { ok: false; response: Response }> {
  const type = (request.headers.get("content-type") ?? "").toLowerCase();
  let text: string;
  try {
    text = await readLimitedText(request, MAX_BODY);
  } catch {
    return { ok: false, response: refuse(413, "Request body too large.") };
  }
  let fields: unknown;
  if (type.startsWith("application/x-www-form-urlencoded")) {
    const form = new URLSearchParams(text);
    if (new Set(form.keys()).size !== [...form.keys()].length) return { ok: false, response: refuse(400, "Repeated form field.") };
    fields = Object.fromEntries(form);
  } else if (type.startsWith("application/json")) {
    try {
      fields = JSON.parse(text || "{}");
    } catch {
      return { ok: false, response: refuse(400, "The body is not valid JSON.") };
    }
  } else if (text.length === 0) {
    fields = {};
  } else {
    return { ok: false, response: refuse(415, "Send a form (application/x-www-form-urlencoded).") };
  }
  if (!flatMap.safeParse(fields).success) return { ok: false, response: refuse(400, "The body is not understood.") };
  return { ok: true, text };
}

// next-auth v4 reads `context.params.nextauth` synchronously; Next 16 hands params as a promise.
async function handler(req: Request, context: RouteContext) {
  const path = pathSchema.safeParse((await context.params).nextauth);
  if (!path.success) return refuse(404, "Not found");
  const [action, provider] = path.data;
  // The credentials callback is a POST of the sign-in form; a GET of it is nothing next-auth handles.
  if (req.method === "GET" && action === "callback" && provider === "credentials") return refuse(405, "Method not allowed");
  const url = new URL(req.url);
  if (!queryOf(url)) return refuse(400, "The query is not understood.");

  // A fresh request carries the parsed body; its framing headers describe the original, not this one.
  const headers = new Headers(req.headers);
  headers.delete("content-length");
  headers.delete("transfer-encoding");
  let forwarded: NextRequest;
  if (req.method === "POST") {
    const body = await bodyOf(req);
    if (!body.ok) return body.response;
    forwarded = new NextRequest(url, { method: "POST", headers, body: body.text });
  } else {
    forwarded = new NextRequest(url, { method: req.method, headers });
  }
  try {
    return await NextAuth(authOptions())(forwarded as never, { params: { nextauth: path.data } } as never);
  } catch (error) {
    // next-auth throws for requests it does not support; that is the caller's mistake, not an outage.
    console.warn("[web] next-auth refused a request:", (error as Error).message);
    return refuse(400, "Bad request");
  }
}

export { handler as GET, handler as POST };
