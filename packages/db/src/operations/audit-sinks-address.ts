import { networkInterfaces } from "node:os";
import { classifyAddress, normalizeAddress } from "../target.js";

/**
 * Where an audit sink's webhook may not go, beyond the notification rule (public addresses only unless
 * the operator allows private ones): the cloud metadata service and every link-local address, always,
 * and the stack's own services (its PostgreSQL, Redis, dashboard, gateway, worker metrics), even on a
 * closed network where private addresses are allowed — a sink is a way for a team admin to make the
 * worker POST the team's data somewhere, and that must never be the stack itself.
 */
export interface StackEndpoint {
  host: string;
  port: number;
}

const DEFAULT_PORTS: Record<string, number> = { "http:": 80, "https:": 443, "postgres:": 5432, "postgresql:": 5432, "redis:": 6379, "rediss:": 6379 };

/** host:port of each of the stack's own URLs (unparseable ones are skipped). */
export function stackEndpoints(urls: (string | undefined | null)[]): StackEndpoint[] {
  const out: StackEndpoint[] = [];
  for (const raw of urls) {
    if (!raw || !URL.canParse(raw)) continue;
    const url = new URL(raw);
    const port = url.port ? Number(url.port) : DEFAULT_PORTS[url.protocol];
    if (port) out.push({ host: url.hostname.replace(/^\[|\]$/g, "").toLowerCase(), port });
  }
  return out;
}

export function urlPort(url: URL): number {
  return url.port ? Number(url.port) : (DEFAULT_PORTS[url.protocol] ?? 0);
}

/**
 * Why a sink may not connect to `address` (already resolved) for the URL's host and port, or null.
 * The private/loopback rule itself is the caller's (resolveWebhookAddress); this adds what is refused
 * whatever the operator allows.
 */
export function auditSinkAddressRefusal(host: string, address: string, port: number, stack: StackEndpoint[]): string | null {
  const normal = normalizeAddress(address);
  const cls = classifyAddress(normal);
  if (cls === "link-local" || cls === "reserved") return `${host} resolves to ${normal}, a ${cls} address (the cloud metadata service lives there); audit sinks never go there`;
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  // This machine answers on every interface's address (a public-looking eth0 address too) and on the
  // unspecified ones: a service bound to 0.0.0.0 is reached through any of them.
  const thisHost = cls === "loopback" || thisHostAddresses().has(normal);
  for (const own of stack) {
    if (own.port !== port) continue;
    // Same port on this machine, a private neighbour or the very host the stack names: the stack's own service.
    if (thisHost || cls !== "public" || own.host === bare || normalizeAddress(own.host) === normal)
      return `${host}:${port} is one of this Portcullis stack's own services; audit sinks never go there`;
  }
  return null;
}

/** The addresses of this host's interfaces, and 0.0.0.0 / :: (read each time: interfaces come and go). */
export function thisHostAddresses(): Set<string> {
  const own = new Set<string>(["0.0.0.0", "::"]);
  for (const nets of Object.values(networkInterfaces())) for (const net of nets ?? []) own.add(normalizeAddress(net.address));
  return own;
}
