import { isIP } from "node:net";
import { z } from "zod";

/**
 * The address a request really came from, given how many reverse proxies stand in front of us.
 *
 * X-Forwarded-For is written by whoever sends the request, so only the entries appended by our own
 * proxies can be believed: with `trustProxyHops` = N, the Nth address counted from the right of
 * [...X-Forwarded-For, remoteAddress] is the client (N = 0: the socket's peer, headers ignored).
 * When the header has fewer entries than trusted hops, or an entry we would have to believe is not
 * an IP address, the answer is the nearest address a trusted hop vouched for — never a value the
 * client could have chosen freely.
 */
export function clientIp(
  remoteAddress: string | null | undefined,
  forwardedFor: string | readonly string[] | null | undefined,
  trustProxyHops: number,
): string | null {
  let current = normalizeIp(remoteAddress);
  const hops = Number.isInteger(trustProxyHops) && trustProxyHops > 0 ? Math.min(trustProxyHops, MAX_HOPS) : 0;
  if (hops === 0 || current === null) return current;
  const chain = forwardedEntries(forwardedFor);
  for (let hop = 0; hop < hops; hop++) {
    const next = chain.pop();
    if (next === undefined) break;
    const ip = normalizeIp(next);
    if (ip === null) break;
    current = ip;
  }
  return current;
}

/** TRUST_PROXY: how many reverse proxies in front of this process append to X-Forwarded-For. */
export const trustProxySchema = z.coerce
  .number({ error: "TRUST_PROXY must be a whole number of proxy hops (0 = ignore X-Forwarded-For)" })
  .int({ error: "TRUST_PROXY must be a whole number of proxy hops (0 = ignore X-Forwarded-For)" })
  .min(0)
  .max(16)
  .default(0);

const MAX_HOPS = 16;
// A header longer than this is not from a proxy chain we run; its tail is all we could use anyway.
const MAX_HEADER = 4096;

function forwardedEntries(header: string | readonly string[] | null | undefined): string[] {
  if (header === null || header === undefined) return [];
  const joined = typeof header === "string" ? header : header.join(",");
  const tail = joined.length > MAX_HEADER ? joined.slice(joined.length - MAX_HEADER) : joined;
  return tail.split(",").map((entry) => entry.trim()).filter((entry) => entry.length > 0);
}

function normalizeIp(value: string | null | undefined): string | null {
  if (!value) return null;
  let ip = value.trim();
  // "[::1]:443" and "203.0.113.7:5123" (some proxies append the port).
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(ip);
  if (bracketed) ip = bracketed[1]!;
  else if (/^\d{1,3}(?:\.\d{1,3}){3}:\d+$/.test(ip)) ip = ip.slice(0, ip.lastIndexOf(":"));
  const zone = ip.indexOf("%");
  if (zone !== -1) ip = ip.slice(0, zone);
  const family = isIP(ip);
  if (family === 0) return null;
  if (family === 6) {
    ip = ip.toLowerCase();
    // An IPv4 client on a dual-stack socket: one client, one key.
    const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(ip);
    if (mapped) return mapped[1]!;
  }
  return ip;
}
