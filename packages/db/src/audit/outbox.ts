import type pg from "pg";

export interface OutboxRow {
  id: string;
  /** The audit event as recordConfigChange wrote it (JSON text); the worker parses it with zod. */
  event: string;
}

/** The oldest configuration-change records not yet in the chain. */
export async function readConfigOutbox(pool: pg.Pool, limit = 500): Promise<OutboxRow[]> {
  const { rows } = await pool.query<OutboxRow>(`SELECT id::text, event FROM audit_outbox ORDER BY created_at, id LIMIT $1`, [limit]);
  return rows;
}

/** Removes outbox rows whose events are stored (or dead-lettered); a row removed twice is no error. */
export async function deleteConfigOutbox(pool: pg.Pool, ids: readonly string[]): Promise<void> {
  if (ids.length) await pool.query(`DELETE FROM audit_outbox WHERE id = ANY($1::uuid[])`, [ids]);
}
