import { NextResponse, type NextRequest } from "next/server";
import { env } from "./lib/env";
import { contentSecurityPolicy, HSTS, STATIC_SECURITY_HEADERS } from "./lib/security-headers";

/**
 * Security headers on every dynamic response: a fresh CSP nonce per request (handed to Next.js on
 * the request's own Content-Security-Policy header, where it looks for it), HSTS when the dashboard
 * is served over TLS (its public URL is https), and the static set.
 */
export function proxy(request: NextRequest) {
  const e = env();
  const https = e.publicUrl.startsWith("https://");
  const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString("base64");
  const csp = contentSecurityPolicy(nonce, { https, development: e.NODE_ENV === "development" });
  const requestHeaders = new Headers(request.headers);
  requestHeaders.set("x-nonce", nonce);
  requestHeaders.set("Content-Security-Policy", csp);
  const response = NextResponse.next({ request: { headers: requestHeaders } });
  response.headers.set("Content-Security-Policy", csp);
  if (https) response.headers.set("Strict-Transport-Security", HSTS);
  for (const { key, value } of STATIC_SECURITY_HEADERS) response.headers.set(key, value);
  return response;
}

export const config = {
  // Everything but the build's static files (immutable, no inline scripts; next.config.ts covers them).
  matcher: ["/((?!_next/static|_next/image|favicon.ico).*)"],
};
