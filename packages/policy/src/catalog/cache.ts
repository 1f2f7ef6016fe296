import type { Catalog } from "./types.js";

interface Entry {
  catalog?: Catalog;
  /** The first load, which callers wait for (there is nothing to serve yet). */
  pending?: Promise<Catalog>;
  /** A background reload while `catalog` is served. */
  refreshing?: Promise<void>;
  loadedAt: number;
  /** No background reload before this (set after a failed one). */
  retryAt: number;
  weight: number;
}

export interface CatalogCacheOptions {
  /**
   * The oldest a catalog may be when served. Past it, `get` waits for a reload (the bound on how long a
   * schema change nobody announced can go unseen). Default 5 minutes.
   */
  ttlMs?: number;
  /**
   * From this age on, `get` still answers with the cached catalog at once and reloads it in the
   * background (one reload per key at a time), so a link in use never waits for a reload. Default
   * 80% of `ttlMs`.
   */
  refreshAfterMs?: number;
  /** After a failed background reload, the next one waits this long; the old catalog is served meanwhile. Default 10 s. */
  retryMs?: number;
  /** Most connections kept; least recently used is dropped. Default 1000. */
  maxEntries?: number;
  /**
   * Most columns (see `catalogWeight`) over all cached catalogs; least recently used are dropped. A
   * catalog of 10,000 tables is about 60 MiB of heap, so an entry count alone does not bound memory.
   * Default 2,000,000.
   */
  maxColumns?: number;
  /** A background reload failed (the old catalog stays until `ttlMs`). */
  onRefreshError?: (key: string, error: unknown) => void;
  now?: () => number;
}

/**
 * A catalog's estimated size: its relations' columns plus one per relation and per function. Its heap
 * footprint is roughly proportional (names, types, per-relation arrays).
 */
export function catalogWeight(catalog: Catalog): number {
  let weight = Object.keys(catalog.functions).length;
  for (const relation of Object.values(catalog.relations)) weight += 1 + relation.columns.length;
  return weight;
}

/**
 * One catalog per connection key (e.g. the connection id). Concurrent `get`s for the same key share
 * one load, so a burst of first requests does not load the catalog N times. A failed load is not
 * cached. `invalidate` after DDL or when the worker's introspection sees a change.
 *
 * Stale-while-revalidate, and why it is bounded by `ttlMs`: the catalog is what the policy knows about
 * the target's objects. A stale one naming a table since dropped is harmless (the database refuses the
 * statement), but stale is not safe in every direction: a view redefined to read a hidden table, a new
 * trigger running a writing function, a function that became volatile — the old catalog under-reports
 * them, and the policy could allow what the new one refuses. Scopes and grants are not here (they live
 * in link records, cached and invalidated elsewhere), so only out-of-band DDL is at stake, and for that
 * the gateway was already trusting a catalog up to the TTL: DDL through the gateway and the worker's
 * "schema changed" broadcast invalidate at once (and a reload that was in flight then is discarded).
 * So the background reload starts before the TTL (`refreshAfterMs`) and nothing older than `ttlMs` is
 * ever served: a link in use never waits, and staleness is no worse than before.
 */
export class CatalogCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly refreshAfterMs: number;
  private readonly retryMs: number;
  private readonly maxEntries: number;
  private readonly maxColumns: number;
  private readonly onRefreshError: (key: string, error: unknown) => void;
  private readonly now: () => number;
  private totalWeight = 0;

  constructor(options: CatalogCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.refreshAfterMs = Math.min(options.refreshAfterMs ?? this.ttlMs * 0.8, this.ttlMs);
    this.retryMs = options.retryMs ?? 10_000;
    this.maxEntries = options.maxEntries ?? 1000;
    this.maxColumns = options.maxColumns ?? 2_000_000;
    this.onRefreshError = options.onRefreshError ?? (() => {});
    this.now = options.now ?? Date.now;
  }

  get(key: string, loader: () => Promise<Catalog>): Promise<Catalog> {
    const entry = this.entries.get(key);
    if (entry) {
      if (entry.pending) return entry.pending;
      const age = this.now() - entry.loadedAt;
      if (entry.catalog && age < this.ttlMs) {
        this.entries.delete(key);
        this.entries.set(key, entry);
        if (age >= this.refreshAfterMs && !entry.refreshing && this.now() >= entry.retryAt) this.reload(key, entry, loader);
        return Promise.resolve(entry.catalog);
      }
    }
    this.remove(key);
    const fresh: Entry = { loadedAt: 0, retryAt: 0, weight: 0 };
    const pending = loader().then(
      (catalog) => {
        if (this.entries.get(key) === fresh) {
          fresh.pending = undefined;
          this.install(key, fresh, catalog);
        }
        return catalog;
      },
      (error: unknown) => {
        if (this.entries.get(key) === fresh) this.entries.delete(key);
        throw error;
      },
    );
    fresh.pending = pending;
    this.entries.set(key, fresh);
    this.evict(key);
    return pending;
  }

  private reload(key: string, entry: Entry, loader: () => Promise<Catalog>): void {
    entry.refreshing = loader().then(
      (catalog) => {
        entry.refreshing = undefined;
        // Invalidated (or evicted) meanwhile: this load may predate the change that was announced.
        if (this.entries.get(key) !== entry) return;
        this.install(key, entry, catalog);
      },
      (error: unknown) => {
        entry.refreshing = undefined;
        entry.retryAt = this.now() + this.retryMs;
        this.onRefreshError(key, error);
      },
    );
  }

  private install(key: string, entry: Entry, catalog: Catalog): void {
    entry.loadedAt = this.now();
    entry.retryAt = 0;
    // Same content: keep the object, so whatever was derived from it (keyed by identity) stays valid.
    if (entry.catalog?.version === catalog.version) return;
    this.totalWeight -= entry.weight;
    entry.catalog = catalog;
    entry.weight = catalogWeight(catalog);
    this.totalWeight += entry.weight;
    this.evict(key);
  }

  /** Drops least recently used entries over the bounds, never `keep` (a catalog bigger than the bound alone is still cached). */
  private evict(keep: string): void {
    for (const [key] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.totalWeight <= this.maxColumns) return;
      if (key !== keep) this.remove(key);
    }
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.totalWeight -= entry.weight;
    this.entries.delete(key);
  }

  /** The cached catalog if loaded and within its TTL, without loading. */
  peek(key: string): Catalog | undefined {
    const entry = this.entries.get(key);
    return entry?.catalog && this.now() - entry.loadedAt < this.ttlMs ? entry.catalog : undefined;
  }

  /** Reloads now (after DDL through the gateway, or on a worker's "schema changed" broadcast). */
  refresh(key: string, loader: () => Promise<Catalog>): Promise<Catalog> {
    this.remove(key);
    return this.get(key, loader);
  }

  invalidate(key: string): void {
    this.remove(key);
  }

  clear(): void {
    this.entries.clear();
    this.totalWeight = 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Estimated size of what is cached (sum of `catalogWeight`). */
  get weight(): number {
    return this.totalWeight;
  }
}
