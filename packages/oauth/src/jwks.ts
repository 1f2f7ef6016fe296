import { isIP } from "node:net";
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import { z } from "zod";
import { ClientMetadataFetchError, DEFAULT_FETCH_POLICY, requestWithLimits, type FetchPolicy } from "./client-metadata.js";

/**
 * Key sets of trusted identity providers. A JWKS URI is chosen by a team admin, but fetched by the
 * dashboard's server, so it gets the same guard as metadata documents (https, public addresses after
 * DNS, no redirects, bounded size and time): an admin of one team must not be able to make the
 * dashboard probe its own network.
 */
export const JWKS_MAX_BYTES = 64 * 1024;
/** How long a fetched key set is used before it is fetched again (Cache-Control max-age, bounded). */
export const JWKS_CACHE_SECONDS = { default: 600, min: 60, max: 24 * 3600 } as const;
/** An unknown `kid` triggers one refetch, at most this often per key set, so forged kids cannot make us hammer the IdP. */
export const JWKS_REFETCH_COOLDOWN_MS = 10_000;

const publicJwk = z
  .object({ kty: z.string().max(10), kid: z.string().max(200).optional(), alg: z.string().max(20).optional(), use: z.string().max(20).optional() })
  .passthrough()
  // A private or symmetric key in a trust anchor means someone pasted the wrong thing (or an attacker
  // wants HS256 with a "public" secret): refused rather than used.
  .refine(
    (key) => ["RSA", "EC", "OKP"].includes(key.kty) && !("d" in key) && !("k" in key) && !("p" in key),
    "a JWKS must contain public keys only (RSA, EC or OKP)",
  );

export const jwksSchema = z.object({ keys: z.array(publicJwk).min(1, "the JWKS has no keys").max(50, "at most 50 keys") });

export function parseJwks(value: unknown): JSONWebKeySet {
  const parsed = jwksSchema.safeParse(value);
  if (!parsed.success) throw new ClientMetadataFetchError("invalid_document", `invalid JWKS: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  return parsed.data as unknown as JSONWebKeySet;
}

export async function fetchJwks(url: string, policy: FetchPolicy = DEFAULT_FETCH_POLICY): Promise<{ jwks: JSONWebKeySet; maxAgeSeconds: number | undefined }> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new ClientMetadataFetchError("invalid_url", "the JWKS URI is not a URL");
  }
  if (target.protocol !== "https:" && !(target.protocol === "http:" && !policy.requireHttps)) {
    throw new ClientMetadataFetchError("invalid_url", "the JWKS URI must be https");
  }
  if (target.username || target.password) throw new ClientMetadataFetchError("invalid_url", "the JWKS URI must not carry credentials");
  const hostname = target.hostname.replace(/^\[|\]$/g, "");
  if (isIP(hostname) && !policy.isAddressAllowed(hostname)) throw new ClientMetadataFetchError("address_refused", `${hostname} is not a public address`);
  const { status, headers, body } = await requestWithLimits(target, { ...policy, maxBytes: JWKS_MAX_BYTES });
  if (status >= 300 && status < 400) throw new ClientMetadataFetchError("redirect", "the JWKS URI redirects; redirects are not followed");
  if (status !== 200) throw new ClientMetadataFetchError("http_status", `fetching the JWKS returned HTTP ${status}`);
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    throw new ClientMetadataFetchError("not_json", "the JWKS is not JSON");
  }
  const cacheControl = Array.isArray(headers["cache-control"]) ? headers["cache-control"].join(",") : headers["cache-control"];
  const match = cacheControl ? /\bmax-age=(\d+)/i.exec(cacheControl) : null;
  return { jwks: parseJwks(json), maxAgeSeconds: match ? Number(match[1]) : undefined };
}

interface CachedSet {
  getKey: JWTVerifyGetKey;
  fetchedAt: number;
  until: number;
  lastRefetch: number;
}

/**
 * Key sets per provider, cached in this process. `resolve` hands out a key getter; `refetch` is what
 * the verifier calls once when a token names a `kid` the cached set lacks (the IdP rotated keys).
 */
export class JwksCache {
  private readonly sets = new Map<string, CachedSet>();
  fetches = 0;

  constructor(private readonly options: { policy?: FetchPolicy; now?: () => number } = {}) {}

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  async resolve(provider: { id: string; jwksUri: string | null; jwksJson: unknown }): Promise<JWTVerifyGetKey> {
    if (!provider.jwksUri) return createLocalJWKSet(parseJwks(provider.jwksJson));
    const key = `${provider.id}\n${provider.jwksUri}`;
    const cached = this.sets.get(key);
    if (cached && cached.until > this.now()) return cached.getKey;
    return (await this.load(key, provider.jwksUri, cached?.lastRefetch ?? 0)).getKey;
  }

  /** One refetch after an unknown kid; null when the cooldown says the set was just fetched. */
  async refetch(provider: { id: string; jwksUri: string | null }): Promise<JWTVerifyGetKey | null> {
    if (!provider.jwksUri) return null;
    const key = `${provider.id}\n${provider.jwksUri}`;
    const cached = this.sets.get(key);
    const now = this.now();
    if (cached && now - Math.max(cached.fetchedAt, cached.lastRefetch) < JWKS_REFETCH_COOLDOWN_MS) return null;
    return (await this.load(key, provider.jwksUri, now)).getKey;
  }

  forget(providerId: string): void {
    for (const key of this.sets.keys()) if (key.startsWith(`${providerId}\n`)) this.sets.delete(key);
  }

  private async load(key: string, uri: string, lastRefetch: number): Promise<CachedSet> {
    this.fetches++;
    const { jwks, maxAgeSeconds } = await fetchJwks(uri, this.options.policy ?? DEFAULT_FETCH_POLICY);
    const seconds = Math.min(JWKS_CACHE_SECONDS.max, Math.max(JWKS_CACHE_SECONDS.min, maxAgeSeconds ?? JWKS_CACHE_SECONDS.default));
    const now = this.now();
    if (this.sets.size > 1000) this.sets.clear();
    const entry = { getKey: createLocalJWKSet(jwks), fetchedAt: now, until: now + seconds * 1000, lastRefetch };
    this.sets.set(key, entry);
    return entry;
  }
}
