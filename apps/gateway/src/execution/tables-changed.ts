import type pg from "pg";
import type { WritePreview } from "../calls/pending-write.js";

export type TableChange = NonNullable<WritePreview["tablesChanged"]>[number];

/** What a table hidden on the link is called in a preview: it changed, but its name stays hidden. */
export const ANOTHER_TABLE = "another table";

type Counters = Map<string, { inserted: number; updated: number; deleted: number }>;

/**
 * PostgreSQL's per-transaction counters (pg_stat_xact_user_tables) as they stand now. Since PostgreSQL
 * 15 they also hold a pooled backend's earlier transactions not yet flushed to the shared statistics
 * (measured: a second dry run on the same connection read twice the first one's deletes), so a dry run
 * reads them right after BEGIN and again at its end, and keeps the difference.
 */
export async function readCounters(client: pg.PoolClient): Promise<Counters> {
  const { rows } = await client.query<{ schema: string; name: string; ins: string; upd: string; del: string }>(
    `SELECT schemaname AS schema, relname AS name, n_tup_ins::text AS ins, n_tup_upd::text AS upd, n_tup_del::text AS del
       FROM pg_catalog.pg_stat_xact_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0`,
  );
  return new Map(rows.map((r) => [`${r.schema}.${r.name}`, { inserted: Number(r.ins), updated: Number(r.upd), deleted: Number(r.del) }]));
}

/**
 * Rows each table gained, changed or lost since `baseline`, by PostgreSQL's own counters: they see
 * writes a rule or trigger makes, which the statement's text and its RETURNING do not show. They
 * include steps rolled back to a savepoint, which is what a dry run is made of. Tables the link does
 * not show are folded into one "another table" entry, without name.
 */
export async function tablesChanged(client: pg.PoolClient, baseline: Counters, visible: (table: string) => boolean): Promise<TableChange[]> {
  const now = await readCounters(client);
  const out: TableChange[] = [];
  let hidden: TableChange | undefined;
  for (const table of [...now.keys()].sort()) {
    const n = now.get(table)!;
    const b = baseline.get(table) ?? { inserted: 0, updated: 0, deleted: 0 };
    const change = { inserted: n.inserted - b.inserted, updated: n.updated - b.updated, deleted: n.deleted - b.deleted };
    if (!change.inserted && !change.updated && !change.deleted) continue;
    if (visible(table)) out.push({ table, ...change });
    else {
      hidden ??= { table: ANOTHER_TABLE, inserted: 0, updated: 0, deleted: 0 };
      hidden.inserted += change.inserted;
      hidden.updated += change.updated;
      hidden.deleted += change.deleted;
    }
  }
  if (hidden) out.push(hidden);
  return out;
}

/** The dry run's note on those writes starts so; the pending message repeats what follows it. */
export const THROUGH_NOTE = "Through rules or triggers it also ";

const rows = (n: number) => `${n} row${n === 1 ? "" : "s"}`;

/** "inserts 1 row and deletes 21 rows in public.invoice_line" */
export function changeWords(change: TableChange): string {
  const verbs = [
    change.inserted ? `inserts ${rows(change.inserted)}` : "",
    change.updated ? `updates ${rows(change.updated)}` : "",
    change.deleted ? `deletes ${rows(change.deleted)}` : "",
  ].filter(Boolean);
  const last = verbs.pop()!;
  return `${verbs.length ? `${verbs.join(", ")} and ${last}` : last} in ${change.table}`;
}

/** The changes to tables other than the preview's own and those the statement's text writes. */
export function hiddenEffects(preview: Pick<WritePreview, "table" | "tablesChanged">, written: readonly string[]): TableChange[] {
  return (preview.tablesChanged ?? []).filter((c) => c.table !== preview.table && !written.includes(c.table));
}
