import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";

/**
 * Server-side request forgery guard for the one place the dashboard fetches a URL a stranger chose
 * (a Client ID Metadata Document). Anyone can start an authorization request with any `client_id`, so
 * without this the dashboard would probe its own network for them: loopback services, the cloud
 * metadata endpoint (169.254.169.254), the metadata database, Redis.
 *
 * Addresses are checked after DNS resolution and the connection is made to the checked address (see
 * `guardedLookup`), so a name that resolves to a public address for the check and a private one for
 * the connection (DNS rebinding) gains nothing.
 */
// Separate lists per family: a BlockList also matches IPv4 addresses against IPv6 rules (as
// IPv4-mapped/compatible), so "::/96" in a shared list would block every IPv4 address.
const blockedV4 = new BlockList();
const blockedV6 = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local, cloud metadata
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // 6to4 relay anycast
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const) {
  blockedV4.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128], // unspecified
  ["::1", 128], // loopback
  ["::ffff:0:0", 96], // IPv4-mapped: would reach whatever IPv4 address it embeds
  ["::", 96], // IPv4-compatible (deprecated), same reason
  ["64:ff9b::", 96], // NAT64: embeds an IPv4 address
  ["64:ff9b:1::", 48], // local-use NAT64
  ["100::", 64], // discard
  ["2001::", 23], // IETF protocol assignments (Teredo, ORCHID, ...)
  ["2001:db8::", 32], // documentation
  ["2002::", 16], // 6to4: embeds an IPv4 address
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["fec0::", 10], // site-local (deprecated)
  ["ff00::", 8], // multicast
] as const) {
  blockedV6.addSubnet(network, prefix, "ipv6");
}
const globalUnicastV6 = new BlockList();
globalUnicastV6.addSubnet("2000::", 3, "ipv6");

/** True for an address on the public internet; false for private, loopback, link-local, reserved, or not an IP. */
export function isPublicAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const family = isIP(bare);
  if (family === 4) return !blockedV4.check(bare, "ipv4");
  if (family === 6) return globalUnicastV6.check(bare, "ipv6") && !blockedV6.check(bare, "ipv6");
  return false;
}

export class AddressRefusedError extends Error {
  constructor(
    readonly hostname: string,
    readonly address: string,
  ) {
    super(`${hostname} resolves to ${address}, which is not a public address`);
    this.name = "AddressRefusedError";
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `http.request` that resolves every address of the name and refuses the connection
 * if any of them is not allowed (a name with one public and one private address is as dangerous as
 * a private one: the client may pick either). Node calls it with `all: true` when it races families.
 */
export function guardedLookup(isAllowed: (address: string) => boolean) {
  return (hostname: string, options: { all?: boolean; family?: number } | number, callback: LookupCallback): void => {
    const all = typeof options === "object" && options.all === true;
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => {
      if (error) return callback(error, all ? [] : "", undefined);
      if (!addresses.length) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: "ENOTFOUND" }), all ? [] : "");
      const refused = addresses.find((entry) => !isAllowed(entry.address));
      if (refused) return callback(new AddressRefusedError(hostname, refused.address), all ? [] : "");
      if (all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}
