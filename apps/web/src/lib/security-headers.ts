/**
 * The dashboard's response headers, in one place (src/proxy.ts sets them on every response it sees;
 * next.config.ts sets the static ones on everything else, static assets included).
 *
 * Scripts: only those carrying this response's nonce, and what they load ('strict-dynamic'); Next.js
 * reads the nonce from the request's Content-Security-Policy header and puts it on its own scripts.
 * No form-action: the OAuth consent form and the GitHub/Google sign-in post to us and are then
 * redirected to the client's or provider's site, which form-action would block in Chromium.
 * Styles: Tailwind's stylesheet plus inline style attributes (charts), hence 'unsafe-inline' for
 * styles only; injected CSS cannot run code.
 */
export function contentSecurityPolicy(nonce: string, options: { https: boolean; development: boolean }): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${options.development ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "frame-src 'none'",
    "worker-src 'self' blob:",
    "manifest-src 'self'",
    ...(options.https ? ["upgrade-insecure-requests"] : []),
  ].join("; ");
}

/** Headers that do not depend on the request (also applied by next.config.ts to static files). */
export const STATIC_SECURITY_HEADERS: { key: string; value: string }[] = [
  { key: "X-Frame-Options", value: "DENY" },
  { key: "X-Content-Type-Options", value: "nosniff" },
  { key: "Referrer-Policy", value: "strict-origin-when-cross-origin" },
  { key: "Cross-Origin-Opener-Policy", value: "same-origin" },
  {
    key: "Permissions-Policy",
    value: "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), hid=(), midi=(), display-capture=(), browsing-topics=()",
  },
];

/** Two years, subdomains included: sent only when the dashboard is served over TLS. */
export const HSTS = "max-age=63072000; includeSubDomains";
