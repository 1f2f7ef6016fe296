import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { networkInterfaces } from "node:os";
import type pg from "pg";
import { z } from "zod";
import { getKeyring, type SecretKeyring } from "./secrets/index.js";
import { tlsOptions } from "./target-tls.js";

/** The fields of a `connections` row needed to reach the target database. */
export interface TargetConnectionRow {
  id: string;
  host: string;
  port: number;
  database: string;
  username: string;
  secretCiphertext: string;
  sslMode: "disable" | "prefer" | "require" | "verify_ca" | "verify_full";
  sslCaCert: string | null;
  // Issue 17 (docs/design/reach.md). Optional so rows built by older code paths still type; absent reads
  // as "none".
  /** Client certificate (PEM) for mTLS, and its key sealed like the password (AAD `<id>:ssl-key`). */
  sslClientCert?: string | null;
  sslClientKeyCiphertext?: string | null;
  /** The name verify-full checks (and SNI sends) when it is not `host`. */
  sslServerName?: string | null;
  /** The SSH route, in dialling order; empty or absent: connect directly. */
  sshHops?: readonly TargetSshHop[];
  /** Read replicas (same database, role, password, route, TLS). */
  replicas?: readonly TargetReplica[];
  /** Replicas further behind than this are skipped for reads. */
  replicaMaxLagMs?: number;
  /**
   * Which of the connection's servers this row reaches: absent or "primary", or a replica's name (then
   * `host`/`port` are the replica's; `id` stays the connection's, the secrets' AAD). See `forServer`.
   */
  server?: string;
}

/** One SSH hop: position 0 is dialled first; the last forwards to the database. */
export interface TargetSshHop {
  position: number;
  host: string;
  port: number;
  username: string;
  /** Sealed with AAD `<connection id>:ssh:<position>:key` / `…:passphrase`. */
  privateKeyCiphertext: string;
  passphraseCiphertext: string | null;
  /** The confirmed host key, "SHA256:<base64>"; null: not confirmed, so refused. */
  hostKeySha256: string | null;
}

export interface TargetReplica {
  name: string;
  host: string;
  port: number;
}

/** The row that reaches one replica of `row` (same id, secrets, route and TLS; its host and port). */
export function forServer(row: TargetConnectionRow, replica: TargetReplica): TargetConnectionRow {
  return { ...row, host: replica.host, port: replica.port, server: replica.name, replicas: [] };
}

export { tlsOptions } from "./target-tls.js";

/** A pg client/pool config for a connection row; the password is decrypted only here, in memory. */
export function targetClientConfig(row: TargetConnectionRow, keyring: SecretKeyring = getKeyring()): pg.ClientConfig {
  return {
    host: row.host,
    port: row.port,
    database: row.database,
    user: row.username,
    password: keyring.open(row.secretCiphertext, row.id),
    ssl: tlsOptions(row, keyring),
    application_name: "portcullis",
    connectionTimeoutMillis: 5000,
  };
}

/** Parses a postgresql:// URL into the connection fields the dashboard and CLI store. */
export function parseTargetUrl(url: string): {
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
  sslMode: TargetConnectionRow["sslMode"];
} {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error("not a valid URL: expected postgresql://user:password@host:port/database");
  }
  if (parsed.protocol !== "postgresql:" && parsed.protocol !== "postgres:") {
    throw new Error(`unsupported scheme "${parsed.protocol}": expected postgresql://`);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (!parsed.hostname) throw new Error("the URL names no host");
  if (!database) throw new Error("the URL names no database (…/database at the end)");
  if (!parsed.username) throw new Error("the URL names no user");
  const sslParam = (parsed.searchParams.get("sslmode") ?? "prefer").replace("-", "_");
  const sslModes = ["disable", "prefer", "require", "verify_ca", "verify_full"] as const;
  const sslMode = sslModes.find((m) => m === sslParam);
  if (!sslMode) throw new Error(`unknown sslmode "${sslParam}"`);
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ""),
    port: parsed.port ? Number(parsed.port) : 5432,
    database,
    username: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    sslMode,
  };
}

// ---------------------------------------------------------------- where a target may be

/**
 * Which networks a connection may point at. `public`: public addresses only. `private`: also
 * RFC 1918 / unique-local / carrier-grade NAT networks (where self-hosted databases usually live).
 * `any`: also loopback and link-local (this machine, cloud metadata endpoints). Multicast and
 * reserved addresses are never targets.
 */
export const TARGET_NETWORKS = ["public", "private", "any"] as const;
export type TargetNetworks = (typeof TARGET_NETWORKS)[number];
export type AddressClass = "public" | "private" | "loopback" | "link-local" | "reserved";

export interface TargetPolicy {
  networks: TargetNetworks;
  /** `address` or `address:port` (after name resolution) allowed whatever their network. */
  allowAddresses: ReadonlySet<string>;
  /** Databases of the stack's own PostgreSQL server that may be targets ("*": any but the metadata one). */
  stackDatabases: ReadonlySet<string>;
  /** Superusers and server program/file roles may be saved (their links are then never admin). */
  allowPowerfulRoles: boolean;
  /** The stack's Redis, which no target may point at. */
  redis?: { host: string; port: number };
}

const list = (value: string | undefined): Set<string> =>
  new Set((value ?? "").split(",").map((s) => s.trim()).filter(Boolean));

const policyEnv = z.object({
  TARGET_NETWORKS: z.enum(TARGET_NETWORKS, { error: `TARGET_NETWORKS must be one of ${TARGET_NETWORKS.join(", ")}` }).default("private"),
  TARGET_ALLOW_ADDRESSES: z.string().optional(),
  TARGET_STACK_DATABASES: z.string().optional(),
  TARGET_ALLOW_POWERFUL_ROLES: z.enum(["true", "false", "1", "0", ""]).optional(),
  REDIS_URL: z.string().optional(),
});

/**
 * The operator's target settings (see .env.example), validated with zod here because every process
 * that tests a connection (dashboard, CLI, seed) shares this one reading of them.
 */
// eslint-disable-next-line no-restricted-properties
export function targetPolicyFromEnv(source: Readonly<Record<string, string | undefined>> = process.env): TargetPolicy {
  const parsed = policyEnv.safeParse(source);
  if (!parsed.success) throw new Error(`Invalid environment: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const env = parsed.data;
  let redis: TargetPolicy["redis"];
  if (env.REDIS_URL) {
    try {
      const url = new URL(env.REDIS_URL);
      redis = { host: url.hostname.replace(/^\[|\]$/g, ""), port: url.port ? Number(url.port) : 6379 };
    } catch {
      redis = undefined;
    }
  }
  const allow = new Set<string>();
  for (const entry of list(env.TARGET_ALLOW_ADDRESSES)) allow.add(normalizeAllowEntry(entry));
  return {
    networks: env.TARGET_NETWORKS,
    allowAddresses: allow,
    stackDatabases: list(env.TARGET_STACK_DATABASES),
    allowPowerfulRoles: env.TARGET_ALLOW_POWERFUL_ROLES === "true" || env.TARGET_ALLOW_POWERFUL_ROLES === "1",
    redis,
  };
}

function normalizeAllowEntry(entry: string): string {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return bracketed[2] ? `${normalizeAddress(bracketed[1]!)}:${bracketed[2]}` : normalizeAddress(bracketed[1]!);
  const v4 = /^([^:]+):(\d+)$/.exec(entry);
  if (v4) return `${normalizeAddress(v4[1]!)}:${v4[2]}`;
  return normalizeAddress(entry);
}

/** One spelling per address: IPv4-mapped, -compatible and NAT64 IPv6 addresses become their IPv4 address. */
export function normalizeAddress(address: string): string {
  const bare = address.replace(/%.*$/, "");
  if (isIP(bare) !== 6) return bare;
  const groups = expandIPv6(bare);
  if (!groups) return bare.toLowerCase();
  const embedsV4 =
    (groups.slice(0, 5).every((g) => g === 0) && (groups[5] === 0xffff || (groups[5] === 0 && (groups[6]! > 0 || groups[7]! > 1)))) ||
    (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0));
  if (embedsV4) return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  return groups.map((g) => g.toString(16)).join(":");
}

function expandIPv6(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split(".").map(Number) as [number, number, number, number];
    text = `${text.slice(0, -dotted[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail ? tail.split(":") : [];
  const missing = 8 - h.length - t.length;
  if (tail === undefined ? h.length !== 8 : missing < 0) return undefined;
  const groups = [...h, ...Array<string>(tail === undefined ? 0 : missing).fill("0"), ...t].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

const CLASSES: [AddressClass, string, number, "ipv4" | "ipv6"][] = [
  ["loopback", "127.0.0.0", 8, "ipv4"],
  // 0.0.0.0 reaches this machine on Linux.
  ["loopback", "0.0.0.0", 8, "ipv4"],
  ["loopback", "::1", 128, "ipv6"],
  ["loopback", "::", 128, "ipv6"],
  ["link-local", "169.254.0.0", 16, "ipv4"],
  ["link-local", "fe80::", 10, "ipv6"],
  ["private", "10.0.0.0", 8, "ipv4"],
  ["private", "172.16.0.0", 12, "ipv4"],
  ["private", "192.168.0.0", 16, "ipv4"],
  ["private", "100.64.0.0", 10, "ipv4"],
  ["private", "192.0.0.0", 24, "ipv4"],
  ["private", "198.18.0.0", 15, "ipv4"],
  ["private", "fc00::", 7, "ipv6"],
  ["private", "fec0::", 10, "ipv6"],
  ["reserved", "224.0.0.0", 4, "ipv4"],
  ["reserved", "240.0.0.0", 4, "ipv4"],
  ["reserved", "ff00::", 8, "ipv6"],
];
const classLists = new Map<AddressClass, BlockList>();
for (const [cls, network, prefix, type] of CLASSES) {
  let blocks = classLists.get(cls);
  if (!blocks) classLists.set(cls, (blocks = new BlockList()));
  blocks.addSubnet(network, prefix, type);
}

// Discard-only (RFC 6666) and documentation (RFC 3849) prefixes route nowhere legitimate.
classLists.get("reserved")!.addSubnet("100::", 64, "ipv6");
classLists.get("reserved")!.addSubnet("2001:db8::", 32, "ipv6");

const SEVERITY: AddressClass[] = ["reserved", "loopback", "link-local", "private", "public"];

function v4(hi: number, lo: number): string {
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * IPv4 addresses an IPv6 address carries to a translator or relay that forwards to them: 6to4
 * (2002:AABB:CCDD::/48), SIIT (::ffff:0:a.b.c.d) and local-use NAT64 (64:ff9b:1::/48, RFC 6052
 * layouts). A 64:ff9b:1:: address does not say its prefix length: every layout whose suffix is zero
 * (RFC 6052 §2.2) is a candidate and the caller judges the address by the worst of them, so a /48-style
 * address whose /96 reading is 0.0.0.0 is refused rather than guessed public.
 */
function embeddedIPv4(groups: number[]): string[] {
  const g = groups;
  if (g[0] === 0x2002) return [v4(g[1]!, g[2]!)];
  if (g.slice(0, 4).every((x) => x === 0) && g[4] === 0xffff && g[5] === 0) return [v4(g[6]!, g[7]!)];
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) {
    const byte = (i: number) => (g[i >> 1]! >> (i % 2 === 0 ? 8 : 0)) & 255;
    const out: string[] = [];
    // The /48, /56, /64 and /96 layouts within this /48; bits 64-71 (byte 8) never carry address bits.
    for (const start of [6, 7, 9, 12]) {
      const at: number[] = [];
      let i = start;
      for (; at.length < 4; i++) if (i !== 8) at.push(i);
      let suffixZero = true;
      for (; i < 16; i++) if (byte(i) !== 0) suffixZero = false;
      if (suffixZero) out.push(at.map(byte).join("."));
    }
    return out;
  }
  return [];
}

/** The network an address belongs to (IPv4 embedded in IPv6 is judged as IPv4). */
export function classifyAddress(address: string): AddressClass {
  const normal = normalizeAddress(address);
  const type = isIP(normal) === 4 ? "ipv4" : isIP(normal) === 6 ? "ipv6" : undefined;
  if (!type) return "reserved";
  for (const [cls, blocks] of classLists) if (blocks.check(normal, type)) return cls;
  if (type === "ipv6") {
    const groups = expandIPv6(normal);
    if (!groups) return "reserved";
    const embedded = embeddedIPv4(groups).map((a) => classifyAddress(a));
    if (embedded.length) return SEVERITY.find((cls) => embedded.includes(cls))!;
  }
  return "public";
}

const ALLOWED_CLASSES: Record<TargetNetworks, ReadonlySet<AddressClass>> = {
  public: new Set(["public"]),
  private: new Set(["public", "private"]),
  any: new Set(["public", "private", "loopback", "link-local"]),
};

export type TargetAddressCheck =
  | { ok: true; addresses: string[] }
  | { ok: false; error: string; code: "target_refused" | "ENOTFOUND" };

export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;
const systemResolver: Resolver = (host) => lookup(host, { all: true, verbatim: true });

/**
 * Resolves `host` and checks every address it resolves to (an attacker's name may answer with a
 * public address and a loopback one). The caller connects to the returned addresses, the ones checked,
 * so a second resolution cannot rebind the name to somewhere else.
 */
export async function checkTargetAddress(host: string, port: number, policy: TargetPolicy, resolve: Resolver = systemResolver): Promise<TargetAddressCheck> {
  let addresses: { address: string; family: number }[];
  try {
    addresses = await resolve(host);
  } catch {
    return { ok: false, error: `the host name "${host}" does not resolve`, code: "ENOTFOUND" };
  }
  if (addresses.length === 0) return { ok: false, error: `the host name "${host}" does not resolve`, code: "ENOTFOUND" };
  const redisAddresses = policy.redis && policy.redis.port === port ? await stackAddresses(policy.redis.host, resolve) : undefined;
  for (const { address } of addresses) {
    const normal = normalizeAddress(address);
    const cls = classifyAddress(normal);
    const shown = normal === host ? host : `${host} (${normal})`;
    if (redisAddresses && (cls === "loopback" || redisAddresses.has(normal)))
      return { ok: false, code: "target_refused", error: `${shown}:${port} is Portcullis's own Redis, which can never be a target` };
    if (policy.allowAddresses.has(`${normal}:${port}`) || policy.allowAddresses.has(normal)) continue;
    if (cls === "reserved") return { ok: false, code: "target_refused", error: `${shown} is a multicast or reserved address, which can never be a target` };
    if (!ALLOWED_CLASSES[policy.networks].has(cls))
      return {
        ok: false,
        code: "target_refused",
        error: `${shown} is a ${cls} address, and this Portcullis only connects to ${policy.networks === "public" ? "public" : "public and private"} addresses (the operator setting TARGET_NETWORKS=${policy.networks}; TARGET_ALLOW_ADDRESSES can allow one address)`,
      };
  }
  return { ok: true, addresses: [...new Set(addresses.map((a) => normalizeAddress(a.address)))] };
}

/** The addresses a stack service answers on: its resolved host, and all of this machine's when it runs here. */
async function stackAddresses(host: string, resolve: Resolver): Promise<Set<string>> {
  const out = new Set<string>();
  for (const { address } of await resolve(host).catch(() => [])) out.add(normalizeAddress(address));
  const own = new Set<string>();
  for (const nets of Object.values(networkInterfaces())) for (const net of nets ?? []) own.add(normalizeAddress(net.address));
  // A service on this machine may listen on every interface: each of its addresses reaches it.
  if ([...out].some((a) => classifyAddress(a) === "loopback" || own.has(a))) for (const a of own) out.add(a);
  return out;
}

/**
 * Client options that connect to the checked address while TLS still verifies (and SNI still names)
 * the host the user typed.
 */
export function pinnedClientConfig(config: pg.ClientConfig, checkedAddress: string): pg.ClientConfig {
  const host = String(config.host ?? "");
  const ssl = config.ssl && typeof config.ssl === "object" && isIP(host) === 0 ? { servername: host, ...config.ssl } : config.ssl;
  return { ...config, host: checkedAddress, ssl };
}

/**
 * Settings the policy checker's parser assumes, pinned on every session opened to a target before any
 * statement runs. libpg-query reads text as PostgreSQL does with standard_conforming_strings on: a
 * target (or a role, or a database) configured with it off reads `'\\'` as an escape, so the server
 * would see a different statement than the one that was checked — one whose string literal hides a
 * subquery. A session where the pin fails must not be used.
 */
export const TARGET_SESSION_PIN = "SET standard_conforming_strings = on";

/** Pins the parser-relevant settings on a freshly connected target session (throws when refused). */
export async function pinTargetSession(client: Pick<pg.ClientBase, "query">): Promise<void> {
  await client.query(TARGET_SESSION_PIN);
}

/**
 * For processes that open sessions to a stored connection (gateway pools, the worker's introspection):
 * resolves the host now, applies the same address rules as the connection test, and pins the session
 * to the checked address, so a name rebound after the connection was saved (to 127.0.0.1, the cloud
 * metadata address, the stack's own servers) is refused instead of followed.
 */
export async function resolveTargetClientConfig(
  row: TargetConnectionRow,
  policy: TargetPolicy = targetPolicyFromEnv(),
  keyring: SecretKeyring = getKeyring(),
  resolve?: Resolver,
): Promise<pg.ClientConfig> {
  const address = await checkedTargetAddress(row.id, row.host, row.port, policy, resolve);
  return pinnedClientConfig(targetClientConfig(row, keyring), address);
}

/** A host this machine would dial is refused by the target policy, or its name does not resolve. */
export class TargetAddressError extends Error {
  constructor(
    message: string,
    readonly code: "target_refused" | "ENOTFOUND",
    readonly host: string,
    readonly port: number,
  ) {
    super(message);
    this.name = "TargetAddressError";
  }
}

/**
 * The address this machine may dial for `host:port` (the database, or an SSH route's first hop),
 * checked against the policy; throws TargetAddressError (message kept as before: "connection <id>
 * refused: …").
 */
export async function checkedTargetAddress(connectionId: string, host: string, port: number, policy: TargetPolicy, resolve?: Resolver): Promise<string> {
  const checked = await checkTargetAddress(host, port, policy, resolve);
  if (!checked.ok) throw new TargetAddressError(`connection ${connectionId} refused: ${checked.error}`, checked.code, host, port);
  return checked.addresses[0]!;
}
