import type pg from "pg";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Of `ids` (lower-case), those the metadata database holds neither in audit_events nor in
 * audit_orphans (where the worker files events of a deleted team). Ids that are not UUIDs can never
 * be stored under that id, so they count as missing. One round trip on the primary keys.
 */
export async function missingFromStore(pool: pg.Pool, ids: string[]): Promise<Set<string>> {
  const missing = new Set(ids);
  const valid = ids.filter((id) => UUID.test(id));
  if (valid.length === 0) return missing;
  const { rows } = await pool.query<{ id: string }>(
    `SELECT id::text AS id FROM audit_events WHERE id = ANY($1::uuid[])
     UNION ALL SELECT id::text FROM audit_orphans WHERE id = ANY($1::uuid[])`,
    [valid],
  );
  for (const row of rows) missing.delete(row.id);
  return missing;
}
