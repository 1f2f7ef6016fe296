import { z } from "zod";

/**
 * The dry run's preview as the gateway stores it (docs/design/approvals.md §3). It is read back from a
 * JSON column written by another process, so it is parsed, never trusted: a preview that does not
 * parse is shown as "no preview" rather than half-rendered.
 */
export const writePreviewSchema = z.object({
  // A command tag (DELETE), or the gateway's label for code whose writes cannot be listed (~70 characters).
  command: z.string().max(200),
  functions: z.array(z.string().max(300)).max(50).optional(),
  // Rows the dry run changed per table, rules and triggers included (hidden tables arrive unnamed).
  tablesChanged: z
    .array(z.object({ table: z.string().max(300), inserted: z.number().int().nonnegative(), updated: z.number().int().nonnegative(), deleted: z.number().int().nonnegative() }))
    .max(100)
    .optional(),
  affected: z.number().int().nullable(),
  table: z.string().max(300).nullable(),
  columns: z.array(z.string().max(300)).max(500),
  keyColumns: z.array(z.string().max(300)).max(50),
  before: z.array(z.array(z.unknown())).max(50),
  after: z.array(z.array(z.unknown())).max(50),
  plan: z.unknown().optional(),
  notes: z.array(z.string().max(2000)).max(50).default([]),
  durationMs: z.number().optional(),
});
export type WritePreview = z.infer<typeof writePreviewSchema>;

/** Shown instead of a preview's rows when the link's scope changed since the dry run. */
export const STALE_PREVIEW_SENTENCE = "The link's scope changed since this preview was taken; rows are withheld.";

export function parsePreview(value: unknown): WritePreview | null {
  const parsed = writePreviewSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

export type CellState = "same" | "changed";
export interface DiffCell {
  state: CellState;
  before?: string;
  after?: string;
}
export type DiffRowKind = "deleted" | "inserted" | "updated" | "unchanged";
export interface DiffRow {
  kind: DiffRowKind;
  /** The key's values in words, when the rows were matched by key. */
  key: string | null;
  cells: DiffCell[];
}
export interface PreviewDiff {
  columns: string[];
  /** How before and after rows were paired: by the visible primary key, by position, or not at all. */
  matchedBy: "key" | "position" | "none";
  rows: DiffRow[];
}

/**
 * Values are shown exactly as the dry run returned them: a masked value is already masked by the
 * gateway (the preview ran through the policy), and nothing here may try to "improve" it.
 */
export function showValue(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  return JSON.stringify(value);
}

function rowKey(row: unknown[], keyIndexes: number[]): string {
  return JSON.stringify(keyIndexes.map((i) => showValue(row[i])));
}

function keyWords(row: unknown[], columns: string[], keyIndexes: number[]): string {
  return keyIndexes.map((i) => `${columns[i]} = ${showValue(row[i])}`).join(", ");
}

const solid = (row: unknown[], width: number, side: "before" | "after"): DiffCell[] =>
  Array.from({ length: width }, (_, i) => ({ state: "same" as const, [side]: showValue(row[i]) }));

function paired(before: unknown[], after: unknown[], width: number): { cells: DiffCell[]; changed: boolean } {
  let changed = false;
  const cells = Array.from({ length: width }, (_, i): DiffCell => {
    const b = showValue(before[i]);
    const a = showValue(after[i]);
    if (b === a) return { state: "same", before: b, after: a };
    changed = true;
    return { state: "changed", before: b, after: a };
  });
  return { cells, changed };
}

/**
 * Pairs the rows before and after the write. With a visible, unmasked key (keyColumns) rows are matched
 * by it: a before row with no after row was deleted, an after row with no before row was inserted.
 * Without one, an UPDATE's rows are paired by position (the dry run re-reads the rows it updated in
 * the same order) and the page says so; other commands need no pairing.
 */
export function diffPreview(preview: WritePreview): PreviewDiff {
  const { columns } = preview;
  const width = columns.length;
  const command = preview.command.toLowerCase();
  const keyIndexes = preview.keyColumns.map((k) => columns.indexOf(k)).filter((i) => i >= 0);
  const byKey = keyIndexes.length > 0 && keyIndexes.length === preview.keyColumns.length;

  if (command === "delete" || command === "truncate") {
    return { columns, matchedBy: byKey ? "key" : "none", rows: preview.before.map((r) => ({ kind: "deleted", key: byKey ? keyWords(r, columns, keyIndexes) : null, cells: solid(r, width, "before") })) };
  }
  if (command === "insert" && preview.before.length === 0) {
    return { columns, matchedBy: byKey ? "key" : "none", rows: preview.after.map((r) => ({ kind: "inserted", key: byKey ? keyWords(r, columns, keyIndexes) : null, cells: solid(r, width, "after") })) };
  }
  if (!byKey) {
    const rows: DiffRow[] = [];
    const n = Math.max(preview.before.length, preview.after.length);
    for (let i = 0; i < n; i++) {
      const b = preview.before[i];
      const a = preview.after[i];
      if (b && a) {
        const { cells, changed } = paired(b, a, width);
        rows.push({ kind: changed ? "updated" : "unchanged", key: null, cells });
      } else if (b) rows.push({ kind: "deleted", key: null, cells: solid(b, width, "before") });
      else if (a) rows.push({ kind: "inserted", key: null, cells: solid(a, width, "after") });
    }
    return { columns, matchedBy: rows.length ? "position" : "none", rows };
  }
  const afterByKey = new Map<string, unknown[]>();
  for (const a of preview.after) afterByKey.set(rowKey(a, keyIndexes), a);
  const rows: DiffRow[] = [];
  for (const b of preview.before) {
    const k = rowKey(b, keyIndexes);
    const a = afterByKey.get(k);
    if (a) {
      afterByKey.delete(k);
      const { cells, changed } = paired(b, a, width);
      rows.push({ kind: changed ? "updated" : "unchanged", key: keyWords(b, columns, keyIndexes), cells });
    } else rows.push({ kind: "deleted", key: keyWords(b, columns, keyIndexes), cells: solid(b, width, "before") });
  }
  for (const a of afterByKey.values()) rows.push({ kind: "inserted", key: keyWords(a, columns, keyIndexes), cells: solid(a, width, "after") });
  return { columns, matchedBy: "key", rows };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString("en")} ${n === 1 ? one : many}`;

/** "would delete 340 rows from public.invoice": the affected count in words, as approvers read it. */
export function affectedWords(preview: Pick<WritePreview, "command" | "affected" | "table">): string {
  // A function call, DO or CALL: the gateway names it in words ("runs code … whose writes cannot be listed").
  if (/^runs code\b/.test(preview.command)) return preview.command;
  const command = preview.command.toLowerCase();
  const table = preview.table ?? "the database";
  const n = preview.affected;
  if (command === "ddl") return `would change the structure of ${table} (DDL)`;
  if (command === "truncate") return n === null ? `would remove every row of ${table} (TRUNCATE)` : `would remove every row of ${table} (${plural(n, "row")}, TRUNCATE)`;
  if (n === null) return `would ${command} an unknown number of rows in ${table}`;
  switch (command) {
    case "delete":
      return `would delete ${plural(n, "row")} from ${table}`;
    case "insert":
      return `would insert ${plural(n, "row")} into ${table}`;
    case "update":
      return `would update ${plural(n, "row")} in ${table}`;
    case "merge":
      return `would change ${plural(n, "row")} in ${table} (MERGE)`;
    default:
      return `would affect ${plural(n, "row")} in ${table} (${command.toUpperCase()})`;
  }
}

/** Time left until a deadline, in words ("12 min left", "expired"). */
export function timeLeft(until: Date | string, now = Date.now()): string {
  const ms = new Date(until).getTime() - now;
  if (ms <= 0) return "expired";
  const min = Math.ceil(ms / 60_000);
  if (min < 60) return `${min} min left`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ${min % 60} min left`;
  return `${Math.floor(h / 24)} d left`;
}

/**
 * Tables other than the statement's own target that the dry run changed (through rules, triggers or
 * the code it runs), in words: "public.invoice_line: 21 deleted". The approver must see them: the
 * headline only speaks of the target.
 */
export function otherTablesWords(preview: Pick<WritePreview, "table" | "tablesChanged">): string[] {
  return (preview.tablesChanged ?? [])
    .filter((t) => t.table !== preview.table && t.inserted + t.updated + t.deleted > 0)
    .map((t) => {
      const parts = [t.inserted && `${plural(t.inserted, "row")} inserted`, t.updated && `${plural(t.updated, "row")} updated`, t.deleted && `${plural(t.deleted, "row")} deleted`].filter(Boolean);
      return `${t.table}: ${parts.join(", ")}`;
    });
}
