import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { LinkStore, type MetadataQueryable } from "../src/links/link-store.js";
import { createLogger } from "../src/logger.js";
import { GatewayWorld } from "./fixtures.js";

/**
 * A link lookup that read the row before a scope change, and finishes after the change's
 * invalidation, must not put the old scope back in the cache. The race is made deterministic by
 * holding the real query's answer until the change has committed and been invalidated.
 */
let world: GatewayWorld;
let pool: pg.Pool;

beforeAll(async () => {
  world = await GatewayWorld.create();
  pool = new pg.Pool({ connectionString: world.meta.url, max: 2 });
});
afterAll(async () => {
  await pool?.end();
  await world?.close();
});

/** The real pool, whose answers wait for `release()` once `hold()` was called. */
function gatedPool() {
  let gate: Promise<void> | undefined;
  let open: () => void = () => {};
  let queried: () => void = () => {};
  const reached = new Promise<void>((r) => (queried = r));
  const db: MetadataQueryable = {
    async query(text, values) {
      const result = await pool.query(text, values);
      queried();
      if (gate) await gate;
      return result;
    },
  };
  return {
    db,
    reached,
    hold: () => (gate = new Promise((r) => (open = r))),
    release: () => {
      gate = undefined;
      open();
    },
  };
}

const narrowed = { access: "read", tables: { genre: { access: "none" } } };

test("a lookup that raced an invalidation answers its caller but is not cached", async () => {
  const link = await world.addLink({ access: "read" });
  const gated = gatedPool();
  const store = new LinkStore(gated.db, 600_000, createLogger("silent"));

  gated.hold();
  const slow = store.get(link.linkId); // reads the wide scope, then waits
  await gated.reached;
  await pool.query("UPDATE links SET scope = $2 WHERE id = $1", [link.linkId, JSON.stringify(narrowed)]);
  store.invalidateLink(link.linkId); // what the access-change notification does
  // A caller arriving now must not join the stale lookup.
  const fresh = store.get(link.linkId);
  gated.release();

  expect((await slow)?.scope.tables?.genre).toBeUndefined(); // it started before the change
  expect((await fresh)?.scope.tables?.genre?.access).toBe("none");
  // And the cache holds the new scope, not whichever lookup finished last.
  expect((await store.get(link.linkId))?.scope.tables?.genre?.access).toBe("none");
});

test("without an invalidation in between, a lookup is cached (the generation check is what refuses it)", async () => {
  const link = await world.addLink({ access: "read" });
  const gated = gatedPool();
  const store = new LinkStore(gated.db, 600_000, createLogger("silent"));
  await store.get(link.linkId);
  // Changed without telling the store: the cache still answers with the old scope (TTL 10 min).
  await pool.query("UPDATE links SET scope = $2 WHERE id = $1", [link.linkId, JSON.stringify(narrowed)]);
  expect((await store.get(link.linkId))?.scope.tables?.genre).toBeUndefined();
});

test("team and connection invalidations also start a new generation", async () => {
  const link = await world.addLink({ access: "read" });
  for (const invalidate of [
    (s: LinkStore) => s.invalidateTeam(link.teamId),
    (s: LinkStore) => s.invalidateConnection(world.connectionId),
    (s: LinkStore) => s.clear(),
  ]) {
    await pool.query("UPDATE links SET scope = $2 WHERE id = $1", [link.linkId, JSON.stringify({ access: "read" })]);
    const gated = gatedPool();
    const store = new LinkStore(gated.db, 600_000, createLogger("silent"));
    gated.hold();
    const slow = store.get(link.linkId);
    await gated.reached;
    await pool.query("UPDATE links SET scope = $2 WHERE id = $1", [link.linkId, JSON.stringify(narrowed)]);
    invalidate(store);
    gated.release();
    await slow;
    expect((await store.get(link.linkId))?.scope.tables?.genre?.access).toBe("none");
  }
});
