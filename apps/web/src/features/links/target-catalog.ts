import pg from "pg";
import { PortcullisError } from "@portcullis/db/errors";
import { explainConnectionError } from "@portcullis/db/operations";
import { pinTargetSession, resolveTargetClientConfig, type TargetConnectionRow } from "@portcullis/db/target";
import { loadCatalog, type Catalog } from "@portcullis/policy";

type ConnectionRow = TargetConnectionRow & { name: string; updatedAt: Date };

/**
 * One client to a link's target, through the operator's target policy and pinned to the address it
 * checked (a name that resolved to an allowed address when the connection was saved may point at
 * loopback or an internal server now). Errors are the explained sentence, never the driver's raw text:
 * this must not serve as a port scanner.
 */
export async function withTargetClient<T>(row: ConnectionRow, what: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  let client: pg.Client | undefined;
  try {
    client = new pg.Client(await resolveTargetClientConfig(row));
    client.on("error", () => {});
    await client.connect();
    await pinTargetSession(client);
  } catch (error) {
    await client?.end().catch(() => {});
    throw new PortcullisError("unavailable", `could not ${what} of "${row.name}": ${explainConnectionError(error, row)}`);
  }
  try {
    return await run(client);
  } finally {
    await client.end().catch(() => {});
  }
}

const catalogs = new Map<string, { at: number; catalog: Catalog }>();
const CATALOG_TTL_MS = 30_000;

/** The connection's catalog, as the gateway loads it (cached briefly: editors re-render and preview often). */
export async function connectionCatalog(row: ConnectionRow): Promise<Catalog> {
  const cached = catalogs.get(row.id);
  if (cached && Date.now() - cached.at < CATALOG_TTL_MS && cached.at > row.updatedAt.getTime()) return cached.catalog;
  const catalog = await withTargetClient(row, "read the tables", (client) => loadCatalog(client));
  // Bounded by the team's connections; a deleted connection's entry just ages out unused.
  if (catalogs.size > 500) catalogs.clear();
  catalogs.set(row.id, { at: Date.now(), catalog });
  return catalog;
}
