import { withPg } from "./victim-world";

/**
 * The judge: every row of every table of the metadata database, before and after an attack.
 * A changed, added or removed row that mentions anything protected (another team, a row of another
 * team, another user) is an effect the attacker caused — whatever the response said.
 */

type Row = Record<string, unknown>;
export type Snapshot = Map<string, Map<string, Row>>;

// Bookkeeping of the migration runner only; nothing an action could reach.
const IGNORED_TABLES = new Set(["_prisma_migrations"]);

function rowKey(row: Row): string {
  return typeof row.id === "string" || typeof row.id === "number" ? String(row.id) : JSON.stringify(row);
}

export async function snapshotMetadata(url: string): Promise<Snapshot> {
  return withPg(url, async (c) => {
    const tables = await c.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`);
    const names = tables.rows.map((r) => r.t).filter((t) => !IGNORED_TABLES.has(t));
    // One round trip for the whole database: each table as one JSON array.
    const sql = `SELECT ${names.map((t, i) => `(SELECT coalesce(json_agg(x), '[]') FROM "${t}" x) AS t${i}`).join(", ")}`;
    const { rows } = await c.query(sql);
    const snap: Snapshot = new Map();
    names.forEach((t, i) => {
      const table = new Map<string, Row>();
      for (const row of rows[0][`t${i}`] as Row[]) table.set(rowKey(row), row);
      snap.set(t, table);
    });
    return snap;
  });
}

export interface RowChange {
  table: string;
  kind: "added" | "removed" | "changed";
  before?: Row;
  after?: Row;
  changedColumns?: string[];
}

export function diffSnapshots(before: Snapshot, after: Snapshot): RowChange[] {
  const changes: RowChange[] = [];
  for (const [table, rowsAfter] of after) {
    const rowsBefore = before.get(table) ?? new Map<string, Row>();
    for (const [key, row] of rowsAfter) {
      const old = rowsBefore.get(key);
      if (!old) changes.push({ table, kind: "added", after: row });
      else {
        const changedColumns = Object.keys({ ...old, ...row }).filter((col) => JSON.stringify(old[col]) !== JSON.stringify(row[col]));
        if (changedColumns.length) changes.push({ table, kind: "changed", before: old, after: row, changedColumns });
      }
    }
    for (const [key, row] of rowsBefore) if (!rowsAfter.has(key)) changes.push({ table, kind: "removed", before: row });
  }
  return changes;
}

/** Ids an attacker must not affect: other teams, every row of theirs, every other user. */
export function protectedIds(snap: Snapshot, attacker: { userId: string | null; ownTeamIds: string[] }): Set<string> {
  const ids = new Set<string>();
  const own = new Set(attacker.ownTeamIds);
  for (const team of snap.get("teams")?.values() ?? []) if (!own.has(String(team.id))) ids.add(String(team.id));
  for (const user of snap.get("users")?.values() ?? []) if (user.id !== attacker.userId) ids.add(String(user.id));
  for (const [table, rows] of snap) {
    if (table === "teams" || table === "users") continue;
    for (const row of rows.values()) {
      if (typeof row.team_id === "string" && ids.has(row.team_id) && typeof row.id === "string") ids.add(row.id);
    }
  }
  // Rows hanging off a protected row one level down (link access, tokens of a grant, descriptions of a connection).
  for (const rows of snap.values()) {
    for (const row of rows.values()) {
      if (typeof row.id !== "string" || ids.has(row.id)) continue;
      for (const [col, value] of Object.entries(row)) {
        if (col.endsWith("_id") && col !== "user_id" && typeof value === "string" && ids.has(value)) {
          ids.add(row.id);
          break;
        }
      }
    }
  }
  return ids;
}

function mentions(row: Row | undefined, ids: Set<string>): string[] {
  if (!row) return [];
  return Object.entries(row)
    .filter(([, v]) => typeof v === "string" && ids.has(v))
    .map(([k]) => k);
}

export interface Verdict {
  violations: RowChange[];
}

/**
 * What the attacker may legitimately change about themselves: their own sessions, their own user row
 * (sign-in bookkeeping), and their own membership going away (leaving a team).
 */
export function judge(changes: RowChange[], ids: Set<string>, attackerUserId: string | null): RowChange[] {
  return changes.filter((ch) => {
    const touched = [...mentions(ch.before, ids), ...mentions(ch.after, ids)];
    if (touched.length === 0) return false;
    const row = (ch.after ?? ch.before)!;
    if (attackerUserId && ch.table === "sessions" && row.user_id === attackerUserId) return false;
    if (attackerUserId && ch.table === "memberships" && ch.kind === "removed" && row.user_id === attackerUserId) return false;
    // Anyone may ask for a reset of any account: the link goes to the account's own mailbox.
    if (ch.table === "password_reset_tokens" && ch.kind === "added") return false;
    return true;
  });
}

export function describeChange(ch: RowChange): string {
  const row = (ch.after ?? ch.before)!;
  const brief = Object.fromEntries(Object.entries(row).filter(([k]) => /(^id$|_id$|name|role|status|revoked|slug|scope)/.test(k)));
  const cols = ch.changedColumns ? ` [${ch.changedColumns.join(", ")}]` : "";
  return `${ch.kind} ${ch.table}${cols} ${JSON.stringify(brief).slice(0, 400)}`;
}

/**
 * Waits until the metadata database stops changing on its own (audit events of earlier specs still
 * arriving through the queue), so what the attack run sees changing is what the attack did.
 */
export async function settle(url: string, quietMs = 1500, maxMs = 20_000): Promise<void> {
  const started = Date.now();
  let previous = await snapshotMetadata(url);
  while (Date.now() - started < maxMs) {
    await new Promise((r) => setTimeout(r, quietMs));
    const next = await snapshotMetadata(url);
    if (diffSnapshots(previous, next).length === 0) return;
    previous = next;
  }
}
