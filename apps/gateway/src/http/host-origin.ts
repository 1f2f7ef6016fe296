import type { IncomingHttpHeaders } from "node:http";

const LOOPBACK = ["localhost", "127.0.0.1", "[::1]", "::1"];

/**
 * DNS-rebinding protection as the MCP SDK advises: a browser page on an attacker's domain that
 * resolves to the gateway sends that domain in Host, and its own origin in Origin. Keys are bearer
 * tokens (never cookies), so this is defence in depth, but cheap.
 */
export class HostOriginPolicy {
  private readonly hosts: Set<string> | "any";
  private readonly origins: Set<string> | "any";

  constructor(options: { publicUrl: string; webUrl: string; allowedHosts: string[]; allowedOrigins: string[] }) {
    this.hosts = options.allowedHosts.includes("*")
      ? "any"
      : new Set([new URL(options.publicUrl).hostname.toLowerCase(), ...LOOPBACK, ...options.allowedHosts.map((h) => h.toLowerCase())]);
    this.origins = options.allowedOrigins.includes("*")
      ? "any"
      : new Set([new URL(options.publicUrl).origin, new URL(options.webUrl).origin, ...options.allowedOrigins]);
  }

  hostAllowed(headers: IncomingHttpHeaders): boolean {
    if (this.hosts === "any") return true;
    const host = headers.host;
    if (!host) return false;
    const hostname = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0]!;
    return this.hosts.has(hostname.toLowerCase());
  }

  /** Requests without Origin (every non-browser client) pass. */
  originAllowed(headers: IncomingHttpHeaders): boolean {
    const origin = headers.origin;
    if (!origin || this.origins === "any") return true;
    return this.origins.has(origin);
  }
}
