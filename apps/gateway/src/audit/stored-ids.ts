import type pg from "pg";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * audit_events is partitioned by month on `time` (primary key (id, time)): the bounds on time let the
 * planner read only the months the events are in, where an id alone is looked up in every partition's
 * key. The worker stores an event under the time the gateway gave it (ingest keeps it, canonical ms),
 * so [min, max] of the journalled times covers every stored row. audit_orphans is keyed by id alone.
 */
export const STORED_IDS_SQL = `SELECT u::text AS id FROM unnest(string_to_array($1, ',')::uuid[]) AS u
     WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.id = u AND e.time >= $2::timestamptz AND e.time <= $3::timestamptz)
       AND NOT EXISTS (SELECT 1 FROM audit_orphans o WHERE o.id = u)`;

/**
 * The query's parameters for valid ids and the events' times (ISO strings; the earliest and the latest
 * suffice). No time, or one that does not parse, widens the range to everything: a wrong "missing"
 * would have the journal re-send that event forever.
 */
export function storedIdsParams(ids: string[], times: readonly (string | undefined)[]): [string, string, string] {
  let from = Infinity;
  let to = -Infinity;
  for (const time of times) {
    const ms = time === undefined ? NaN : Date.parse(time);
    if (Number.isNaN(ms)) {
      // Not a time the worker could have stored: bound nothing.
      from = -Infinity;
      to = Infinity;
      break;
    }
    if (ms < from) from = ms;
    if (ms > to) to = ms;
  }
  const bound = (ms: number) => (ms === Infinity ? "infinity" : ms === -Infinity ? "-infinity" : new Date(ms).toISOString());
  return [ids.join(","), bound(from === Infinity ? -Infinity : from), bound(to === -Infinity ? Infinity : to)];
}

/**
 * Of `ids` (lower-case), those the metadata database holds neither in audit_events nor in
 * audit_orphans (where the worker files events of a deleted team). Ids that are not UUIDs can never
 * be stored under that id, so they count as missing. `times`: the events' times, or at least the
 * earliest and the latest of them.
 * One round trip on the primary keys; it runs for every event the gateway answers, so it is shaped
 * for the usual answer (everything stored): the ids go as one comma-joined text (no per-element array
 * escaping) and only the missing ones come back.
 */
export async function missingFromStore(pool: pg.Pool, ids: string[], times: readonly (string | undefined)[]): Promise<Set<string>> {
  const missing = new Set<string>();
  const valid: string[] = [];
  for (const id of ids) {
    if (UUID.test(id)) valid.push(id);
    else missing.add(id);
  }
  if (valid.length === 0) return missing;
  const { rows } = await pool.query<{ id: string }>(STORED_IDS_SQL, storedIdsParams(valid, times));
  for (const row of rows) missing.add(row.id);
  return missing;
}
