import { TtlCache } from "../links/ttl-cache.js";

/**
 * A value per (link, member), loaded from the metadata database and cached in-process: concurrent
 * misses share one load, and every invalidation bumps a generation so a load that raced a change
 * answers its callers but is not cached. The member directory (attributes) and the grant directory
 * (time-boxed elevation) both sit on it; access-channel messages invalidate by link, member or both.
 */
export class MemberLinkCache<V> {
  private readonly cache = new TtlCache<V>(50_000);
  private readonly pending = new Map<string, Promise<V>>();
  private generation = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly load: (linkId: string, userId: string) => Promise<V>,
  ) {}

  peek(linkId: string, userId: string): V | undefined {
    return this.cache.get(`${linkId}/${userId}`);
  }

  /** Synchronous on a hit (the hot path pays a Map lookup); a promise on a miss. */
  get(linkId: string, userId: string): V | Promise<V> {
    const key = `${linkId}/${userId}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    let pending = this.pending.get(key);
    if (!pending) {
      const generation = this.generation;
      const started: Promise<V> = this.load(linkId, userId)
        .then((value) => {
          if (generation === this.generation) this.cache.set(key, value, this.ttlMs);
          return value;
        })
        .finally(() => {
          if (this.pending.get(key) === started) this.pending.delete(key);
        });
      pending = started;
      this.pending.set(key, pending);
    }
    return pending;
  }

  invalidate(change: { linkId?: string | null; userId?: string | null }): void {
    this.generation++;
    this.pending.clear();
    const { linkId, userId } = change;
    if (linkId && userId) this.cache.delete(`${linkId}/${userId}`);
    else if (linkId) this.cache.deleteWhere((_v, key) => key.startsWith(`${linkId}/`));
    else if (userId) this.cache.deleteWhere((_v, key) => key.endsWith(`/${userId}`));
    else this.cache.clear();
  }

  clear(): void {
    this.generation++;
    this.pending.clear();
    this.cache.clear();
  }
}
