import type pg from "pg";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Of `ids` (lower-case), those the metadata database holds neither in audit_events nor in
 * audit_orphans (where the worker files events of a deleted team). Ids that are not UUIDs can never
 * be stored under that id, so they count as missing. One round trip on the primary keys; it runs for
 * every event the gateway answers, so it is shaped for the usual answer (everything stored): the ids go
 * as one comma-joined text (no per-element array escaping) and only the missing ones come back.
 */
export async function missingFromStore(pool: pg.Pool, ids: string[]): Promise<Set<string>> {
  const missing = new Set<string>();
  const valid: string[] = [];
  for (const id of ids) {
    if (UUID.test(id)) valid.push(id);
    else missing.add(id);
  }
  if (valid.length === 0) return missing;
  const { rows } = await pool.query<{ id: string }>(
    `SELECT u::text AS id FROM unnest(string_to_array($1, ',')::uuid[]) AS u
     WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.id = u)
       AND NOT EXISTS (SELECT 1 FROM audit_orphans o WHERE o.id = u)`,
    [valid.join(",")],
  );
  for (const row of rows) missing.add(row.id);
  return missing;
}
