import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CatalogCache, catalogWeight, loadCatalog, type Catalog } from "../src/index.js";
import { createPolicyDatabase } from "./support/chinook.js";
import type { TestDatabase } from "@portcullis/db/testing";

let db: TestDatabase;
let client: pg.Client;
let holder: pg.Client;
/** The slow loader's own session (a pg.Client runs one query at a time: the test's DDL must not queue behind it). */
let slow: pg.Client;

// A real slow load: the loader waits for an advisory lock the test holds in another session, the
// way a catalog query waits behind DDL or a busy server.
const LOCK = 7_310_042;

beforeAll(async () => {
  ({ db } = await createPolicyDatabase());
  client = new pg.Client({ connectionString: db.url });
  holder = new pg.Client({ connectionString: db.url });
  slow = new pg.Client({ connectionString: db.url });
  await Promise.all([client.connect(), holder.connect(), slow.connect()]);
});
afterAll(async () => {
  await Promise.all([client?.end(), holder?.end(), slow?.end()]);
  await db?.drop();
});

function countingLoader() {
  const state = { loads: 0, settled: 0 };
  const load = async (): Promise<Catalog> => {
    state.loads++;
    try {
      await slow.query("SELECT pg_advisory_lock($1)", [LOCK]);
      try {
        return await loadCatalog(slow);
      } finally {
        await slow.query("SELECT pg_advisory_unlock($1)", [LOCK]);
      }
    } finally {
      state.settled++;
    }
  };
  return { state, load };
}

/** Resolves with the value, or rejects if it takes longer than `ms` (a call that waited for the held load). */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("catalog cache: stale-while-revalidate", () => {
  it("after refreshAfter, answers from the old catalog at once while one background load runs; the next call sees the new one", async () => {
    let now = 0;
    const cache = new CatalogCache({ refreshAfterMs: 1_000, ttlMs: 60_000, now: () => now });
    const { state, load } = countingLoader();
    const first = await cache.get("c", load);
    expect(first.relations["public.swr_new"]).toBeUndefined();

    await client.query("CREATE TABLE swr_new (id int)");
    await holder.query("SELECT pg_advisory_lock($1)", [LOCK]);
    try {
      now = 5_000;
      const stale = await within(cache.get("c", load), 500);
      expect(stale).toBe(first);
      // A burst during the reload: still the old catalog, still one load.
      const burst = await within(Promise.all([cache.get("c", load), cache.get("c", load), cache.get("c", load)]), 500);
      for (const c of burst) expect(c).toBe(first);
      expect(state.loads).toBe(2);
      expect(state.settled).toBe(1);
    } finally {
      await holder.query("SELECT pg_advisory_unlock($1)", [LOCK]);
    }
    await until(() => state.settled === 2);
    const fresh = await within(cache.get("c", load), 500);
    expect(fresh.relations["public.swr_new"]).toBeDefined();
    expect(fresh.version).not.toBe(first.version);
    expect(state.loads).toBe(2);
    await client.query("DROP TABLE swr_new");
  });

  it("a failed background reload keeps the old catalog and retries after retryMs", async () => {
    let now = 0;
    const errors: string[] = [];
    const cache = new CatalogCache({
      refreshAfterMs: 1_000,
      ttlMs: 60_000,
      retryMs: 2_000,
      now: () => now,
      onRefreshError: (key, error) => errors.push(`${key}: ${(error as Error).message}`),
    });
    const good = await cache.get("c", () => loadCatalog(client));
    let attempts = 0;
    const failing = async (): Promise<Catalog> => {
      attempts++;
      // A real failure from the server, not a thrown stand-in.
      await client.query("SELECT * FROM swr_missing_table");
      throw new Error("unreachable");
    };
    const failingCache = cache;
    now = 2_000;
    expect(await failingCache.get("c", failing)).toBe(good);
    await until(() => errors.length === 1);
    expect(errors[0]).toMatch(/swr_missing_table/);
    now = 3_000; // within retryMs of the failure: no new attempt
    expect(await failingCache.get("c", failing)).toBe(good);
    await new Promise((r) => setTimeout(r, 50));
    expect(attempts).toBe(1);
    now = 4_500; // retry due
    expect(await failingCache.get("c", failing)).toBe(good);
    await until(() => errors.length === 2);
    expect(attempts).toBe(2);
    now = 7_000;
    await client.query("CREATE TABLE swr_after_failure (id int)");
    expect(await failingCache.get("c", () => loadCatalog(client))).toBe(good);
    await until(() => failingCache.peek("c") !== good);
    expect(failingCache.peek("c")!.relations["public.swr_after_failure"]).toBeDefined();
    await client.query("DROP TABLE swr_after_failure");
  });

  it("never serves a catalog past ttlMs (waits for the load), and invalidate drops an in-flight background reload", async () => {
    let now = 0;
    const cache = new CatalogCache({ refreshAfterMs: 1_000, ttlMs: 10_000, now: () => now });
    await client.query("CREATE TABLE swr_dropped (id int)");
    const old = await cache.get("c", () => loadCatalog(client));
    expect(old.relations["public.swr_dropped"]).toBeDefined();
    await client.query("DROP TABLE swr_dropped");
    now = 20_000;
    const after = await cache.get("c", () => loadCatalog(client));
    expect(after.relations["public.swr_dropped"]).toBeUndefined();

    // A background reload that began before a schema-change broadcast must not install its result.
    await client.query("CREATE TABLE swr_during (id int)");
    const { state, load } = countingLoader();
    await holder.query("SELECT pg_advisory_lock($1)", [LOCK]);
    let next: Promise<Catalog>;
    try {
      now = 22_000;
      expect(await cache.get("c", load)).toBe(after);
      cache.invalidate("c");
      await client.query("DROP TABLE swr_during");
      next = cache.get("c", () => loadCatalog(client));
    } finally {
      await holder.query("SELECT pg_advisory_unlock($1)", [LOCK]);
    }
    await until(() => state.settled === 1);
    expect((await next).relations["public.swr_during"]).toBeUndefined();
    expect(cache.peek("c")!.relations["public.swr_during"]).toBeUndefined();
  });

  it("keeps the same object when a reload finds the same version", async () => {
    let now = 0;
    const cache = new CatalogCache({ refreshAfterMs: 1_000, ttlMs: 10_000, now: () => now });
    let loads = 0;
    let settled = 0;
    const loader = async () => {
      loads++;
      try {
        return await loadCatalog(client);
      } finally {
        settled++;
      }
    };
    const a = await cache.get("c", loader);
    now = 5_000;
    await cache.get("c", loader);
    await until(() => settled === 2);
    await new Promise((r) => setImmediate(r));
    expect(loads).toBe(2);
    expect(cache.peek("c")).toBe(a);
    now = 12_000; // refreshed at 5 s: still within its TTL
    expect(await cache.get("c", loader)).toBe(a);
  });
});

describe("catalog cache: bounded by size", () => {
  it("evicts least recently used catalogs once their columns exceed maxColumns, never the one just loaded", async () => {
    const real = await loadCatalog(client);
    const weight = catalogWeight(real);
    expect(weight).toBeGreaterThan(Object.keys(real.relations).length);
    const cache = new CatalogCache({ maxColumns: weight * 2 + 1 });
    await cache.get("a", async () => ({ ...real, version: "a" }));
    await cache.get("b", async () => ({ ...real, version: "b" }));
    expect(cache.size).toBe(2);
    await cache.get("a", async () => ({ ...real, version: "a2" })); // touch a: b is now least recent
    await cache.get("c", async () => ({ ...real, version: "c" }));
    expect(cache.size).toBe(2);
    expect(cache.peek("b")).toBeUndefined();
    expect(cache.peek("a")?.version).toBe("a");
    expect(cache.weight).toBe(weight * 2);

    const tiny = new CatalogCache({ maxColumns: 10 });
    await tiny.get("big", async () => real);
    expect(tiny.peek("big")).toBe(real);
    await tiny.get("big2", async () => real);
    expect(tiny.size).toBe(1);
    expect(tiny.peek("big")).toBeUndefined();
  });
});
