import pg from "pg";
import { PortcullisError } from "@portcullis/db/errors";
import { explainConnectionError } from "@portcullis/db/operations";
import { pinTargetSession, type TargetConnectionRow } from "@portcullis/db/target";
import { openTargetRoute, type TargetRoute } from "@portcullis/db/target-route";
import { loadCatalog, type Catalog } from "@portcullis/policy";
import { getPrisma } from "../../lib/db";

type ConnectionRow = TargetConnectionRow & { name: string; updatedAt: Date };

/**
 * The connection's SSH hops when the caller's row was read without them (a Prisma row without the
 * relation): a connection that goes through a bastion must never be dialled directly instead.
 */
async function withHops(row: ConnectionRow): Promise<ConnectionRow> {
  if (row.sshHops !== undefined) return row;
  const sshHops = await getPrisma().connectionSshHop.findMany({
    where: { connectionId: row.id },
    orderBy: { position: "asc" },
    select: { position: true, host: true, port: true, username: true, privateKeyCiphertext: true, passphraseCiphertext: true, hostKeySha256: true },
  });
  return { ...row, sshHops };
}

/**
 * One client to a link's target, through its route (direct, or its SSH hops) under the operator's
 * target policy and pinned to the address it checked (a name that resolved to an allowed address when
 * the connection was saved may point at loopback or an internal server now). Errors are the explained
 * sentence, never the driver's raw text: this must not serve as a port scanner.
 */
export async function withTargetClient<T>(row: ConnectionRow, what: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  let route: TargetRoute | undefined;
  let client: pg.Client | undefined;
  try {
    const full = await withHops(row);
    route = await openTargetRoute(full);
    client = new pg.Client(route.config);
    client.on("error", () => {});
    await client.connect();
    await pinTargetSession(client);
  } catch (error) {
    await client?.end().catch(() => {});
    await route?.close();
    throw new PortcullisError("unavailable", `could not ${what} of "${row.name}": ${explainConnectionError(error, row)}`);
  }
  try {
    return await run(client);
  } finally {
    await client.end().catch(() => {});
    await route.close();
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
