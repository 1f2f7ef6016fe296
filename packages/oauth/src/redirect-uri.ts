/**
 * Redirect URIs: where the authorization code is delivered, so the one thing an attacker most wants to
 * point elsewhere. Registered URIs are validated once (registration or metadata document) and a
 * request's URI must then equal one of them character for character — with a single exception from
 * RFC 8252 §7.3: a native app listening on a loopback interface picks a free port at run time, so for
 * `http` loopback URIs the port is ignored (everything else still compared exactly).
 */

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);
/** Schemes a browser would run as code or that read local files: never a redirect target. */
const FORBIDDEN_SCHEMES = new Set(["javascript:", "data:", "vbscript:", "file:", "blob:", "about:", "ftp:", "ws:", "wss:"]);

export type RedirectUriProblem =
  | "not_a_url"
  | "has_fragment"
  | "forbidden_scheme"
  | "http_not_loopback"
  | "has_credentials"
  | "too_long";

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname.toLowerCase());
}

/**
 * Validates a redirect URI a client registers. Allowed: `https`, `http` on a loopback host (native
 * clients: Claude Code, VS Code, mcp-remote), and private-use schemes of native apps (`cursor://…`,
 * RFC 8252 §7.1). No fragments (RFC 6749 §3.1.2), no embedded credentials.
 */
export function checkRedirectUri(value: string): RedirectUriProblem | null {
  if (value.length > 2000) return "too_long";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "not_a_url";
  }
  if (value.includes("#")) return "has_fragment";
  if (url.username || url.password) return "has_credentials";
  const scheme = url.protocol.toLowerCase();
  if (FORBIDDEN_SCHEMES.has(scheme)) return "forbidden_scheme";
  if (scheme === "http:" && !isLoopbackHost(url.hostname)) return "http_not_loopback";
  // A private-use scheme must look like one (letters, digits, + - .), which URL parsing guarantees.
  return null;
}

/** Whether `requested` may be used given the client's registered URIs. */
export function matchRedirectUri(registered: readonly string[], requested: string): boolean {
  if (checkRedirectUri(requested) !== null) return false;
  for (const candidate of registered) {
    if (candidate === requested) return true;
    if (loopbackMatchIgnoringPort(candidate, requested)) return true;
  }
  return false;
}

function loopbackMatchIgnoringPort(registered: string, requested: string): boolean {
  let a: URL;
  let b: URL;
  try {
    a = new URL(registered);
    b = new URL(requested);
  } catch {
    return false;
  }
  if (a.protocol !== "http:" || b.protocol !== "http:") return false;
  if (!isLoopbackHost(a.hostname) || a.hostname.toLowerCase() !== b.hostname.toLowerCase()) return false;
  // Compare what remains exactly, on the raw strings with the port removed, so URL normalisation
  // (e.g. of percent-encoding or a trailing "?") can never make two different strings equal.
  return stripPort(registered) === stripPort(requested);
}

function stripPort(value: string): string {
  // Only for loopback http URIs: http://host(:port)?/rest
  return value.replace(/^(http:\/\/(?:\[::1\]|[^/:?#@[\]]+))(?::\d{1,5})?(?=[/?]|$)/i, "$1");
}

export type ApplicationType = "native" | "web";

/**
 * SEP-837 / OpenID Connect Registration §2 `application_type`: a web client's redirect URIs are https
 * on a real host (a loopback redirect would hand its codes to whatever listens on the user's machine),
 * a native client's are loopback http or a private-use scheme. Absent, the type is read from the URIs,
 * so clients registered before the field existed (loopback redirects, no type) keep working.
 */
export function checkApplicationType(type: ApplicationType | undefined, uris: readonly string[]): { type: ApplicationType; problem: string | null } {
  const kinds = uris.map((uri) => {
    const url = new URL(uri);
    if (url.protocol === "https:") return isLoopbackHost(url.hostname) ? "loopback" : "web";
    if (url.protocol === "http:") return "loopback";
    return "private_scheme";
  });
  const resolved: ApplicationType = type ?? (kinds.every((kind) => kind === "web") ? "web" : "native");
  if (resolved === "web" && kinds.some((kind) => kind !== "web")) {
    return { type: resolved, problem: "a web application may only use https redirect URIs on a non-loopback host" };
  }
  if (resolved === "native" && kinds.some((kind) => kind === "web")) {
    return { type: resolved, problem: "a native application may only use loopback http or private-use scheme redirect URIs" };
  }
  return { type: resolved, problem: null };
}

/** True when every redirect URI goes back to this computer: the consent page warns (MCP security considerations). */
export function isLocalhostOnly(uris: readonly string[]): boolean {
  return uris.length > 0 && uris.every((uri) => {
    try {
      return isLoopbackHost(new URL(uri).hostname);
    } catch {
      return false;
    }
  });
}
