import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { createChinookDatabase, type TestDatabase } from "@portcullis/db/testing";
import { loadCatalog } from "../../src/index.js";
import type { Catalog } from "../../src/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
export const EXTRAS_SQL = readFileSync(path.join(here, "../fixtures/extras.sql"), "utf8");
export const SNAPSHOT_PATH = path.join(here, "../fixtures/chinook-catalog.json");

/** A private Chinook copy plus the attack fixtures, with its loaded catalog. */
export async function createPolicyDatabase(): Promise<{ db: TestDatabase; catalog: Catalog }> {
  const db = await createChinookDatabase();
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query(EXTRAS_SQL);
    return { db, catalog: await loadCatalog(client) };
  } finally {
    await client.end();
  }
}

/** Catalog content without what differs between two copies of the same schema (oids, times). */
export function comparableCatalog(catalog: Catalog): unknown {
  return JSON.parse(
    JSON.stringify({ ...catalog, version: undefined, loadedAt: undefined, database: undefined }, (key, value) => (key === "oid" ? undefined : value)),
  );
}
