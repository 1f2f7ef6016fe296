import type { Catalog } from "./types.js";

interface Entry {
  catalog?: Catalog;
  pending?: Promise<Catalog>;
  expiresAt: number;
}

export interface CatalogCacheOptions {
  /** How long a loaded catalog is trusted before the next `get` reloads it. Default 5 minutes. */
  ttlMs?: number;
  /** Most connections kept; least recently used is dropped. Default 1000. */
  maxEntries?: number;
  now?: () => number;
}

/**
 * One catalog per connection key (e.g. the connection id). Concurrent `get`s for the same key share
 * one load, so a burst of first requests does not load the catalog N times. A failed load is not
 * cached. `invalidate` after DDL or when the worker's introspection sees a change.
 */
export class CatalogCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: CatalogCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.maxEntries = options.maxEntries ?? 1000;
    this.now = options.now ?? Date.now;
  }

  get(key: string, loader: () => Promise<Catalog>): Promise<Catalog> {
    const entry = this.entries.get(key);
    if (entry) {
      if (entry.pending) return entry.pending;
      if (entry.catalog && entry.expiresAt > this.now()) {
        this.entries.delete(key);
        this.entries.set(key, entry);
        return Promise.resolve(entry.catalog);
      }
    }
    const fresh: Entry = { expiresAt: 0 };
    const pending = loader().then(
      (catalog) => {
        if (this.entries.get(key) === fresh) {
          fresh.catalog = catalog;
          fresh.pending = undefined;
          fresh.expiresAt = this.now() + this.ttlMs;
        }
        return catalog;
      },
      (error: unknown) => {
        if (this.entries.get(key) === fresh) this.entries.delete(key);
        throw error;
      },
    );
    fresh.pending = pending;
    this.entries.delete(key);
    this.entries.set(key, fresh);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return pending;
  }

  /** The cached catalog if loaded and fresh, without loading. */
  peek(key: string): Catalog | undefined {
    const entry = this.entries.get(key);
    return entry?.catalog && entry.expiresAt > this.now() ? entry.catalog : undefined;
  }

  /** Reloads now (after DDL through the gateway, or on a worker's "schema changed" broadcast). */
  refresh(key: string, loader: () => Promise<Catalog>): Promise<Catalog> {
    this.entries.delete(key);
    return this.get(key, loader);
  }

  invalidate(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
