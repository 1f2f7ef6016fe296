import type { Catalog } from "@portcullis/policy";
import type { LinkRecord } from "../context.js";
import type { Services } from "../services.js";

/**
 * The primary's WAL position no earlier than the moment the catalog the policy checked against was
 * loaded: a replica may serve a statement only once it has replayed up to here. The policy decides
 * against the primary's catalog, and its virtual catalog hides objects by oid: a replica still behind
 * a DDL (a hidden table dropped and created again under a new oid) would otherwise show the old object
 * — its name, its statistics — which the decision never saw. Read once per catalog object (one
 * round trip on the primary after each catalog load, shared by concurrent calls); null when it could
 * not be read: then no replica.
 */
const positions = new WeakMap<Catalog, Promise<bigint | null>>();

export function catalogPosition(services: Pick<Services, "poolFor">, link: LinkRecord, catalog: Catalog): Promise<bigint | null> {
  let position = positions.get(catalog);
  if (!position) {
    position = services
      .poolFor(link)
      .then((pool) => pool.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn"))
      .then(({ rows }) => parseLsn(rows[0]?.lsn))
      .catch(() => null);
    positions.set(catalog, position);
    // A failure is not remembered: the next call asks again.
    void position.then((p) => {
      if (p === null && positions.get(catalog) === position) positions.delete(catalog);
    });
  }
  return position;
}

/** "16/B374D848" → a comparable number; null for anything else. */
export function parseLsn(text: string | null | undefined): bigint | null {
  const match = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(text ?? "");
  return match ? (BigInt(`0x${match[1]}`) << 32n) + BigInt(`0x${match[2]}`) : null;
}
