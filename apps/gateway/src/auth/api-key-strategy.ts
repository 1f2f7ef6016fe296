import type pg from "pg";
import { apiKeyPrefix, constantTimeEqualHex, hashApiKey } from "@portcullis/db/keys";
import type { Principal } from "../context.js";
import { TtlCache } from "../links/ttl-cache.js";
import type { MemberDirectory } from "./member-directory.js";
import type { AuthStrategy } from "./strategy.js";

interface KeyRow {
  id: string;
  hash: string;
  teamId: string;
  linkId: string;
  userId: string;
  expiresAt: number | null;
}

// The membership join makes a key stop working when its holder leaves the team, is demoted to
// viewer, or (as a plain member) loses access to the link, without the dashboard having to revoke it.
const KEY_QUERY = `SELECT k.id, k.hash, k.team_id, k.link_id, k.user_id, k.expires_at
  FROM api_keys k
  JOIN memberships m ON m.team_id = k.team_id AND m.user_id = k.user_id
  WHERE k.hash = $1 AND k.revoked_at IS NULL
    AND (m.role IN ('owner', 'admin')
      OR (m.role = 'member' AND EXISTS (SELECT 1 FROM link_access a WHERE a.link_id = k.link_id AND a.user_id = k.user_id)))`;

export class ApiKeyStrategy implements AuthStrategy {
  readonly name = "api_key";
  private readonly cache = new TtlCache<KeyRow | null>(50_000);
  private readonly pending = new Map<string, Promise<KeyRow | null>>();
  /** Bumped by every invalidation, so a lookup that raced a revocation is not cached. */
  private generation = 0;

  constructor(
    private readonly metadata: pg.Pool,
    private readonly ttlMs: number,
    private readonly members: MemberDirectory,
    private readonly now: () => number = Date.now,
  ) {}

  accepts(token: string): boolean {
    return apiKeyPrefix(token) !== undefined;
  }

  async authenticate(token: string, linkId: string): Promise<Principal | null> {
    const hash = hashApiKey(token);
    const principal = this.principal(await this.lookup(hash), hash, linkId);
    return principal && this.members.complete(principal);
  }

  peek(token: string, linkId: string): Principal | null {
    const hash = hashApiKey(token);
    return this.members.peekComplete(this.principal(this.cache.get(hash) ?? null, hash, linkId));
  }

  private principal(row: KeyRow | null, hash: string, linkId: string): Principal | null {
    if (!row) return null;
    // The row was found by this hash; the constant-time compare keeps that true even if a cache bug
    // ever returned a neighbour's entry.
    if (!constantTimeEqualHex(row.hash, hash)) return null;
    if (row.linkId !== linkId.toLowerCase()) return null;
    if (row.expiresAt !== null && row.expiresAt <= this.now()) return null;
    return {
      kind: "api_key",
      grantedScopes: null,
      teamId: row.teamId,
      linkId: row.linkId,
      userId: row.userId,
      apiKeyId: row.id,
      oauthClientId: null,
      subject: row.id,
      email: null,
      attributes: {},
    };
  }

  private lookup(hash: string): Promise<KeyRow | null> {
    const cached = this.cache.get(hash);
    if (cached !== undefined) return Promise.resolve(cached);
    let pending = this.pending.get(hash);
    if (!pending) {
      const generation = this.generation;
      pending = this.metadata
        .query(KEY_QUERY, [hash])
        .then(({ rows }) => {
          const r = rows[0];
          const row: KeyRow | null = r
            ? {
                id: r.id,
                hash: r.hash,
                teamId: r.team_id,
                linkId: r.link_id,
                userId: r.user_id,
                expiresAt: r.expires_at ? new Date(r.expires_at).getTime() : null,
              }
            : null;
          // Unknown hashes are cached briefly: nobody can hold a key before it is issued, and it keeps
          // a flood of random tokens off the metadata database.
          if (generation === this.generation) this.cache.set(hash, row, row ? this.ttlMs : 5_000);
          return row;
        })
        .finally(() => {
          if (this.pending.get(hash) === started) this.pending.delete(hash);
        });
      const started = pending;
      this.pending.set(hash, pending);
    }
    return pending;
  }

  invalidate(message: { apiKeyId?: string; hash?: string; linkId?: string; teamId?: string }): void {
    // In-flight lookups may have read the row before the change: later callers start a fresh one.
    this.generation++;
    this.pending.clear();
    if (message.hash) this.cache.delete(message.hash);
    if (message.apiKeyId) this.cache.deleteWhere((row) => row?.id === message.apiKeyId);
    // Negative answers (null) go with link and team changes: access granted again must not wait for them.
    if (message.linkId) this.cache.deleteWhere((row) => row === null || row.linkId === message.linkId);
    // By team: membership changes.
    if (message.teamId) this.cache.deleteWhere((row) => row === null || row.teamId === message.teamId);
  }

  clear(): void {
    this.generation++;
    this.pending.clear();
    this.cache.clear();
  }
}
