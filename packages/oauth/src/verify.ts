import { sha256Hex } from "@portcullis/db/keys";
import type { PrismaClient } from "@portcullis/db/client";
import { linkIdFromAnyResource } from "./resource.js";
import { normalizeScopes, type OperationScope } from "./scopes.js";
import { looksLikeAccessToken } from "./token-format.js";

/**
 * Access-token verification for the gateway (the protected resource).
 *
 * One indexed query answers everything: the token (by hash), its grant, client and link, and whether
 * the member still holds the link — the same membership rule as API keys, so a token stops working
 * the moment its member leaves the team, becomes a viewer, or loses the link, without anyone having
 * to revoke it. Every failure is `null` (the gateway answers one indistinguishable 401).
 */
export interface VerifiedAccessToken {
  teamId: string;
  linkId: string;
  userId: string;
  grantId: string;
  /** The OAuth client_id (metadata-document URL or registered `pcc_…` id): audit's oauthClientId. */
  clientId: string;
  clientName: string;
  /**
   * OAuth scopes the token carries, expanded (`mcp` → mcp:read mcp:write mcp:admin) and closed
   * downwards. A second ceiling under the link's scope document, for step-up challenges.
   */
  scopes: OperationScope[];
  /** When the token stops being valid: a cache must not keep a positive answer past this. */
  expiresAt: Date;
}

/** Anything that runs a parameterised query: a `pg.Pool`/`pg.Client`, as the gateway holds. */
export interface SqlQueryable {
  query(text: string, values: unknown[]): Promise<{ rows: unknown[] }>;
}

const TOKEN_QUERY = `SELECT g.id AS grant_id, g.team_id, g.link_id, g.user_id, c.client_id, c.name AS client_name, g.scopes, t.expires_at
  FROM oauth_tokens t
  JOIN oauth_grants g ON g.id = t.grant_id
  JOIN oauth_clients c ON c.id = g.client_id
  JOIN links l ON l.id = g.link_id
  JOIN memberships m ON m.team_id = g.team_id AND m.user_id = g.user_id
  WHERE t.token_hash = $1 AND t.kind = 'access' AND t.revoked_at IS NULL AND g.revoked_at IS NULL
    AND l.status = 'active'
    AND (m.role IN ('owner', 'admin')
      OR (m.role = 'member' AND EXISTS (SELECT 1 FROM link_access a WHERE a.link_id = g.link_id AND a.user_id = g.user_id)))`;

interface TokenRow {
  grant_id: string;
  team_id: string;
  link_id: string;
  user_id: string;
  client_id: string;
  client_name: string;
  scopes: string[] | null;
  expires_at: Date | string;
}

/**
 * Looks a token up without checking resource or expiry, so the answer can be cached per token hash
 * (the checks that depend on the request and the clock are in `checkVerifiedToken`).
 */
export async function lookupAccessToken(db: { prisma?: PrismaClient; pool?: SqlQueryable }, token: string): Promise<VerifiedAccessToken | null> {
  if (!looksLikeAccessToken(token)) return null;
  const hash = sha256Hex(token);
  let rows: unknown[];
  if (db.pool) rows = (await db.pool.query(TOKEN_QUERY, [hash])).rows;
  else if (db.prisma) rows = await db.prisma.$queryRawUnsafe<unknown[]>(TOKEN_QUERY, hash);
  else throw new Error("lookupAccessToken needs a prisma client or a pg pool");
  const row = rows[0] as TokenRow | undefined;
  if (!row) return null;
  return {
    teamId: row.team_id,
    linkId: row.link_id,
    userId: row.user_id,
    grantId: row.grant_id,
    clientId: row.client_id,
    clientName: row.client_name,
    // A NULL (never written by us) grants nothing rather than everything.
    scopes: normalizeScopes(row.scopes ?? []),
    expiresAt: new Date(row.expires_at),
  };
}

/** The request-dependent checks: audience (RFC 8707: this link only) and expiry. */
export function checkVerifiedToken(found: VerifiedAccessToken | null, linkId: string | null, now: number = Date.now()): VerifiedAccessToken | null {
  if (!found || !linkId) return null;
  if (found.linkId !== linkId.toLowerCase()) return null;
  if (found.expiresAt.getTime() <= now) return null;
  return found;
}

/**
 * Verifies a bearer token for one resource. `resource` is the link URL the request came to
 * (`{GATEWAY_PUBLIC_URL}/mcp/{linkId}`) — or pass `linkId` directly. Returns the principal, or null
 * for unknown, revoked, expired, other-link, or member-no-longer-allowed tokens.
 */
export async function verifyAccessToken(input: {
  prisma?: PrismaClient;
  pool?: SqlQueryable;
  token: string;
  resource?: string;
  linkId?: string;
  now?: number;
}): Promise<VerifiedAccessToken | null> {
  const linkId = input.linkId ?? (input.resource ? linkIdFromAnyResource(input.resource) : null);
  if (!linkId) return null;
  const found = await lookupAccessToken({ prisma: input.prisma, pool: input.pool }, input.token);
  const verified = checkVerifiedToken(found, linkId, input.now ?? Date.now());
  if (verified && input.prisma) noteGrantUse({ prisma: input.prisma }, verified.grantId, input.now);
  else if (verified && input.pool) noteGrantUse({ pool: input.pool }, verified.grantId, input.now);
  return verified;
}

const lastUseWrites = new Map<string, number>();
const LAST_USE_INTERVAL_MS = 60_000;

/**
 * Records "last used" for the dashboard's list of authorized clients. Throttled per grant and process
 * to one write a minute and never awaited, so the hot path pays nothing; a lost write only makes the
 * shown time a minute older. Call it on every authenticated request, cached or not.
 */
export function noteGrantUse(db: { prisma?: PrismaClient; pool?: SqlQueryable }, grantId: string, now: number = Date.now()): void {
  const last = lastUseWrites.get(grantId);
  if (last !== undefined && now - last < LAST_USE_INTERVAL_MS) return;
  if (lastUseWrites.size > 50_000) lastUseWrites.clear();
  lastUseWrites.set(grantId, now);
  const sql = "UPDATE oauth_grants SET last_used_at = $1 WHERE id = $2::uuid AND (last_used_at IS NULL OR last_used_at < $1)";
  const at = new Date(now);
  const write = db.pool ? db.pool.query(sql, [at, grantId]) : db.prisma?.$executeRawUnsafe(sql, at, grantId);
  void Promise.resolve(write).catch(() => lastUseWrites.delete(grantId));
}

/**
 * A cached verifier shaped like the gateway's AuthStrategy (accepts / authenticate / invalidate /
 * clear). Positive and negative answers are cached per token hash for `ttlMs`, never past the token's
 * expiry; an `oauth_grant` revocation broadcast drops that grant's entries at once, and a lookup that
 * raced a revocation is not cached (generation counter), so revocation is effective within the
 * broadcast's latency.
 */
export class AccessTokenVerifier {
  private readonly cache = new Map<string, { value: VerifiedAccessToken | null; until: number }>();
  private readonly byGrant = new Map<string, Set<string>>();
  private readonly pending = new Map<string, Promise<VerifiedAccessToken | null>>();
  private generation = 0;

  constructor(
    private readonly db: { prisma?: PrismaClient; pool?: SqlQueryable },
    private readonly options: { ttlMs: number; negativeTtlMs?: number; maxEntries?: number; now?: () => number } = { ttlMs: 30_000 },
  ) {}

  accepts(token: string): boolean {
    return looksLikeAccessToken(token);
  }

  async verify(token: string, linkId: string): Promise<VerifiedAccessToken | null> {
    const now = this.now();
    const hash = sha256Hex(token);
    const found = await this.lookup(token, hash, now);
    const verified = checkVerifiedToken(found, linkId, now);
    if (verified) noteGrantUse(this.db, verified.grantId, now);
    return verified;
  }

  /** A cached valid answer for this token and link, or null; never queries (used under attack). */
  peek(token: string, linkId: string): VerifiedAccessToken | null {
    const now = this.now();
    const cached = this.cache.get(sha256Hex(token));
    if (!cached || cached.until <= now) return null;
    return checkVerifiedToken(cached.value, linkId, now);
  }

  /** Apply a revocation broadcast or an access-change notification (by grant, link or team). */
  invalidate(message: { grantId?: string; linkId?: string; teamId?: string }): void {
    // In-flight lookups may have read the grant before the change: later callers start a fresh one.
    this.generation++;
    this.pending.clear();
    if (message.grantId) {
      for (const hash of this.byGrant.get(message.grantId) ?? []) this.cache.delete(hash);
      this.byGrant.delete(message.grantId);
    }
    if (message.linkId) {
      for (const [hash, entry] of this.cache) if (entry.value === null || entry.value.linkId === message.linkId) this.cache.delete(hash);
    }
    // By team: membership changes. Negative answers go too, so a re-granted member is not kept out.
    if (message.teamId) {
      for (const [hash, entry] of this.cache) if (entry.value === null || entry.value.teamId === message.teamId) this.cache.delete(hash);
    }
  }

  clear(): void {
    this.generation++;
    this.pending.clear();
    this.cache.clear();
    this.byGrant.clear();
  }

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  private lookup(token: string, hash: string, now: number): Promise<VerifiedAccessToken | null> {
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return Promise.resolve(cached.value);
    let pending = this.pending.get(hash);
    if (!pending) {
      const generation = this.generation;
      pending = lookupAccessToken(this.db, token)
        .then((value) => {
          if (generation === this.generation) this.store(hash, value, now);
          return value;
        })
        .finally(() => {
          if (this.pending.get(hash) === started) this.pending.delete(hash);
        });
      const started = pending;
      this.pending.set(hash, pending);
    }
    return pending;
  }

  private store(hash: string, value: VerifiedAccessToken | null, now: number): void {
    if (this.cache.size >= (this.options.maxEntries ?? 50_000)) this.clear();
    const ttl = value ? this.options.ttlMs : (this.options.negativeTtlMs ?? Math.min(this.options.ttlMs, 5_000));
    const until = value ? Math.min(now + ttl, value.expiresAt.getTime()) : now + ttl;
    this.cache.set(hash, { value, until });
    if (value) {
      let hashes = this.byGrant.get(value.grantId);
      if (!hashes) this.byGrant.set(value.grantId, (hashes = new Set()));
      hashes.add(hash);
    }
  }
}
