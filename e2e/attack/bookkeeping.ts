import type { RowChange } from "../support/tenant-snapshot";

/**
 * Changes no request of an attacker can cause, left out before judging: the worker moves the
 * gateways' key last-used times (kept in Redis) to api_keys.last_used_at every 30 s, for keys any
 * earlier spec used, whenever that lands. No dashboard action writes that column, so a row whose
 * only change is that column is the worker's, whichever action's window it fell into. Any other
 * column changed with it keeps the row judged.
 */
export function withoutWorkerBookkeeping(changes: RowChange[]): RowChange[] {
  return changes.filter((ch) => !(ch.table === "api_keys" && ch.kind === "changed" && ch.changedColumns?.length === 1 && ch.changedColumns[0] === "last_used_at"));
}
