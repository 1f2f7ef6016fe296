import type pg from "pg";
import { redactHiddenMentions, withoutValues, type HiddenNames } from "@portcullis/policy";
import { TtlCache } from "../links/ttl-cache.js";

/** "schema.table" -> { table description, column -> description } */
export type Descriptions = Map<string, { table?: string; columns: Map<string, string> }>;

/**
 * Stored (AI-written or human-edited) descriptions per connection, from schema_descriptions. They
 * change rarely (the worker or a human edit), so a minute of staleness is fine.
 */
export class DescriptionStore {
  private readonly cache = new TtlCache<Descriptions>(1_000);
  private readonly pending = new Map<string, Promise<Descriptions>>();

  constructor(
    private readonly metadata: pg.Pool,
    private readonly ttlMs = 60_000,
  ) {}

  get(connectionId: string): Promise<Descriptions> {
    const cached = this.cache.get(connectionId);
    if (cached) return Promise.resolve(cached);
    let pending = this.pending.get(connectionId);
    if (!pending) {
      pending = this.load(connectionId).finally(() => this.pending.delete(connectionId));
      this.pending.set(connectionId, pending);
    }
    return pending;
  }

  private async load(connectionId: string): Promise<Descriptions> {
    const { rows } = await this.metadata.query<{ schema_name: string; table_name: string; column_name: string; description: string }>(
      "SELECT schema_name, table_name, column_name, description FROM schema_descriptions WHERE connection_id = $1",
      [connectionId],
    );
    const out: Descriptions = new Map();
    for (const row of rows) {
      const key = `${row.schema_name}.${row.table_name}`;
      let entry = out.get(key);
      if (!entry) out.set(key, (entry = { columns: new Map() }));
      if (row.column_name === "") entry.table = row.description;
      else entry.columns.set(row.column_name, row.description);
    }
    this.cache.set(connectionId, out, this.ttlMs);
    return out;
  }

  /** The connection's descriptions as one link may see them (see descriptionsForLink). */
  async forLink(connectionId: string, hidden: HiddenNames): Promise<Descriptions> {
    return descriptionsForLink(await this.get(connectionId), hidden);
  }

  invalidate(connectionId: string): void {
    this.cache.delete(connectionId);
  }
}

const redacted = new WeakMap<Descriptions, WeakMap<HiddenNames, Descriptions>>();

/**
 * The descriptions as one link may see them: stored text is written about the whole database and
 * can name hidden tables or columns, so sentences that do are dropped (policy's
 * redactHiddenMentions). Cached per stored map and per link view, so list/describe calls pay once.
 */
export function descriptionsForLink(descriptions: Descriptions, hidden: HiddenNames): Descriptions {
  let perStore = redacted.get(descriptions);
  if (!perStore) redacted.set(descriptions, (perStore = new WeakMap()));
  const cached = perStore.get(hidden);
  if (cached) return cached;
  const out: Descriptions = new Map();
  const redact = (text: string | undefined, key: string) => withoutHiddenColumnsElsewhere(redactHiddenMentions(text, hidden, key), hidden);
  for (const [key, entry] of descriptions) {
    // Row filters and masks: counts and values in texts written about the whole table stay out.
    const governed = hidden.governed.get(key);
    const table = governed?.partialRows ? withoutValues(redact(entry.table, key)) : redact(entry.table, key);
    const columns = new Map<string, string>();
    for (const [column, text] of entry.columns) {
      const kept = governed && (governed.partialRows || governed.masked.has(column)) ? withoutValues(redact(text, key)) : redact(text, key);
      if (kept) columns.set(column, kept);
    }
    out.set(key, table ? { table, columns } : { columns });
  }
  perStore.set(hidden, out);
  return out;
}

const QUALIFIED = /[\p{L}\p{N}_$]+(?:\.[\p{L}\p{N}_$]+)+/gu;

/**
 * Drops sentences naming a column another relation hides, written qualified ("Referenced by
 * invoice.customer_id", "joins employee.employee_id"): redactHiddenMentions looks for hidden columns
 * only in their own relation's texts, and descriptions name the other end of each foreign key.
 */
export function withoutHiddenColumnsElsewhere(text: string | undefined, hidden: HiddenNames): string | undefined {
  if (!text || hidden.columns.size === 0) return text;
  const byTable = new Map<string, ReadonlySet<string>[]>();
  for (const [key, columns] of hidden.columns) {
    const table = key.slice(key.indexOf(".") + 1).toLowerCase();
    byTable.set(table, [...(byTable.get(table) ?? []), columns]);
    byTable.set(key.toLowerCase(), [columns]);
  }
  const names = (sentence: string) =>
    [...sentence.matchAll(QUALIFIED)].some((match) => {
      const parts = match[0].toLowerCase().split(".");
      const column = parts[parts.length - 1]!;
      return (byTable.get(parts.slice(0, -1).join(".")) ?? []).some((set) => set.has(column));
    });
  const sentences = text.split(/(?<=[.!?;:])\s+|\n+/);
  const kept = sentences.filter((sentence) => !names(sentence));
  if (kept.length === sentences.length) return text;
  return kept.join(" ").trim() || undefined;
}
