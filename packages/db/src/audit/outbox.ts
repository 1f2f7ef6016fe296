import { timingSafeEqual } from "node:crypto";
import type pg from "pg";
import { type ChainKey, outboxMac } from "./chain-key.js";

export interface OutboxRow {
  id: string;
  /** The audit event as recordConfigChange wrote it (JSON text); the worker parses it with zod. */
  event: string;
  /** Its writer's HMAC (AUDIT_CHAIN_KEY), or null when the writer had no key. */
  mac: string | null;
}

/** The oldest configuration-change records not yet in the chain. */
export async function readConfigOutbox(pool: pg.Pool, limit = 500): Promise<OutboxRow[]> {
  const { rows } = await pool.query<OutboxRow>(`SELECT id::text, event, mac FROM audit_outbox ORDER BY created_at, id LIMIT $1`, [limit]);
  return rows;
}

/** Removes outbox rows whose events are stored (or dead-lettered); a row removed twice is no error. */
export async function deleteConfigOutbox(pool: pg.Pool, ids: readonly string[]): Promise<void> {
  if (ids.length) await pool.query(`DELETE FROM audit_outbox WHERE id = ANY($1::uuid[])`, [ids]);
}

/** Whether a record was written by a process holding the chain key (always true when there is no key). */
export function outboxRecordAuthentic(key: ChainKey | undefined, row: OutboxRow): boolean {
  if (!key) return true;
  if (!row.mac) return false;
  const expected = Buffer.from(outboxMac(key, row.event));
  const actual = Buffer.from(row.mac);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
