import type { ColumnSnapshot, TableSnapshot } from "../schema/snapshot.js";
import type { ColumnStats, Describer, Referrer, TableContext, TableDescription } from "./types.js";

/**
 * The offline describer: deterministic, free, and honest. It says only what the catalog shows —
 * comments, keys, the foreign-key graph, CHECK constraints, naming conventions, row estimates, and
 * (for opted-in connections, visible columns only) pg_stats — never the column's type again (the
 * schema output already carries it). Sentences are short and each names few objects: the gateway
 * drops any sentence (or ";"/":" clause) that mentions what a link hides, so one hidden table costs
 * one clause — which is why what a column is and what it joins are separate sentences.
 */

/** Length budgets: a 3,000-table schema must still fit a model's context. */
export const TABLE_MAX_CHARS = 200;
export const COLUMN_MAX_CHARS = 100;
/** Referrers named in a sentence before "and N more". */
const MAX_NAMED = 3;
/** A column with at most this many distinct values lists them (when statistics may be used). */
const LOW_CARDINALITY = 12;

/** Splits snake_case / camelCase / PascalCase names into lower-case words. */
export function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .split(/[_\s\-.]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

const human = (name: string) => words(name).join(" ");

function singular(word: string): string {
  if (/ies$/.test(word)) return word.replace(/ies$/, "y");
  if (/(ss|us|is)$/.test(word)) return word;
  if (/(x|ch|sh|ses)$/.test(word) && word.endsWith("es")) return word.slice(0, -2);
  return word.endsWith("s") ? word.slice(0, -1) : word;
}

function plural(word: string): string {
  if (/[^aeiou]y$/.test(word)) return `${word.slice(0, -1)}ies`;
  if (/(s|x|ch|sh)$/.test(word)) return `${word}es`;
  return `${word}s`;
}

/** "invoice_lines" → "invoice line": what one row is called. */
export function entity(table: string): string {
  const w = words(table);
  if (w.length) w[w.length - 1] = singular(w[w.length - 1]!);
  return w.join(" ");
}

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
const article = (noun: string) => (/^[aeiou]/i.test(noun) ? `an ${noun}` : `a ${noun}`);
const possessive = (noun: string) => (noun.endsWith("s") ? `${noun}'` : `${noun}'s`);
const count = (n: number) => Math.round(n).toLocaleString("en-US");

/** Keeps sentences in priority order while they fit; the first one always stays (cut if it must). */
export function fit(sentences: (string | null | undefined)[], max: number): string {
  const kept: string[] = [];
  let length = 0;
  for (const sentence of sentences) {
    if (!sentence) continue;
    const extra = (kept.length ? 1 : 0) + sentence.length;
    if (kept.length === 0 && sentence.length > max) return `${sentence.slice(0, max - 1).trimEnd()}…`;
    if (length + extra > max) continue;
    kept.push(sentence);
    length += extra;
  }
  return kept.join(" ");
}

/** A comment is a person's words: kept as written, only cut to its first sentence if too long. */
function fromComment(comment: string, max: number): string {
  const text = comment.trim().replace(/\s+/g, " ");
  if (text.length <= max) return text;
  const first = text.match(/^.+?[.!?](?=\s|$)/)?.[0];
  return first && first.length <= max ? first : `${text.slice(0, max - 1).trimEnd()}…`;
}

const sentence = (text: string) => (/[.!?…]$/.test(text) ? text : `${text}.`);

/** "track.album_id", schema-qualified only when it differs from the described table's. */
function refName(schema: string, table: string, column: string | string[], home: string): string {
  const cols = Array.isArray(column) ? (column.length === 1 ? column[0]! : `(${column.join(", ")})`) : column;
  return `${schema === home ? "" : `${schema}.`}${table}.${cols}`;
}

function tableName(schema: string, table: string, home: string): string {
  return schema === home ? table : `${schema}.${table}`;
}

/** "a, b; c; and 4 more": each item its own clause (see the module comment on redaction). */
function listed(items: string[]): string {
  if (items.length <= MAX_NAMED) return items.join("; ");
  return `${items.slice(0, MAX_NAMED).join("; ")}; and ${items.length - MAX_NAMED} more`;
}

type ForeignKey = TableSnapshot["foreignKeys"][number];

const TIMESTAMP_TYPE = /^(timestamp|date|time)/i;
const BOOKKEEPING = /^(created|updated|modified|deleted|inserted)(_at|_on|_date)?$|^(created_by|updated_by|modified_by)(_id)?$/i;

/**
 * A junction table holds only its two foreign keys (plus perhaps its own id and bookkeeping
 * timestamps): its rows pair the two referenced tables, many-to-many.
 */
export function junctionOf(table: TableSnapshot): [ForeignKey, ForeignKey] | null {
  if (table.kind !== "table" && table.kind !== "partitioned_table") return null;
  if (table.foreignKeys.length !== 2) return null;
  const fkColumns = new Set(table.foreignKeys.flatMap((f) => f.columns));
  const ownId = table.primaryKey?.length === 1 && !fkColumns.has(table.primaryKey[0]!) ? table.primaryKey[0] : null;
  for (const column of table.columns) {
    if (fkColumns.has(column.name) || column.name === ownId || BOOKKEEPING.test(column.name)) continue;
    return null;
  }
  return [table.foreignKeys[0]!, table.foreignKeys[1]!];
}

const LABEL = /(^|_)(name|title|label|code|description|value|type|kind)$/i;

/**
 * A lookup table: small (by the planner's estimate), pointed at by others, pointing nowhere, and
 * little more than a key and a label.
 */
export function isLookup(table: TableSnapshot, referrers: Referrer[]): boolean {
  return (
    table.kind === "table" &&
    table.foreignKeys.length === 0 &&
    referrers.length > 0 &&
    table.rowEstimate != null &&
    table.rowEstimate > 0 &&
    table.rowEstimate <= 100 &&
    table.columns.length <= 4 &&
    table.columns.some((c) => LABEL.test(c.name))
  );
}

/** Referrers from the context (structured, or parsed from "schema.table(columns)"). */
function referrersOf(context: TableContext): Referrer[] {
  if (context.referrers) return context.referrers;
  const out: Referrer[] = [];
  for (const text of context.referencedBy) {
    const m = text.match(/^(.+?)\.([^.(]+)\((.*)\)$/);
    if (m) out.push({ schema: m[1]!, table: m[2]!, columns: m[3]!.split(/,\s*/) });
  }
  return out;
}

const KIND_TEXT: Record<Exclude<TableSnapshot["kind"], "table" | "partitioned_table">, string> = {
  view: "View",
  materialized_view: "Materialized view",
  foreign_table: "Foreign table",
};

function describeTable(table: TableSnapshot, referrers: Referrer[]): string {
  const home = table.schema;
  const subject = entity(table.name);
  const rows = table.rowEstimate != null && table.rowEstimate > 0 ? table.rowEstimate : null;
  const sentences: string[] = [];

  const junction = junctionOf(table);
  if (table.comment) sentences.push(fromComment(table.comment, TABLE_MAX_CHARS));
  else if (table.kind !== "table" && table.kind !== "partitioned_table") sentences.push(`${KIND_TEXT[table.kind]} ${human(table.name)}.`);
  else if (junction) {
    const [a, b] = junction.map((f) => tableName(f.references.schema, f.references.table, home));
    sentences.push(a === b ? `Links ${plural(entity(a!))} to other ${plural(entity(a!))}, many-to-many.` : `Links ${a} and ${b}, many-to-many (one row per pair).`);
  } else if (isLookup(table, referrers)) sentences.push(`Lookup list of ${plural(subject)} (${count(rows!)} rows).`);
  else {
    const key = table.primaryKey && table.primaryKey.length > 1 ? ` per (${table.primaryKey.join(", ")})` : "";
    sentences.push(`One row per ${subject}${key}${rows ? `, about ${count(rows)} rows` : ""}.`);
  }

  const outgoing: string[] = [];
  for (const fk of table.foreignKeys) {
    const self = fk.references.schema === table.schema && fk.references.table === table.name;
    if (self) {
      sentences.push(`${fk.columns.join(", ")} points to another ${subject} (self-reference).`);
      continue;
    }
    if (junction) continue;
    const via = fk.columns.length === 1 ? fk.columns[0] : `(${fk.columns.join(", ")})`;
    outgoing.push(`${outgoing.length ? "" : "Joins "}${tableName(fk.references.schema, fk.references.table, home)} via ${via}`);
  }
  if (junction) {
    sentences.push(`Joins ${junction.map((f) => `${tableName(f.references.schema, f.references.table, home)} via ${f.columns.join(", ")}`).join("; ")}.`);
  }
  if (outgoing.length) sentences.push(sentence(listed(outgoing)));

  // Without a key, rows may repeat: worth knowing before counting or joining.
  const keyless = !table.primaryKey && (table.kind === "table" || table.kind === "partitioned_table") && !table.uniqueConstraints.length;
  const incoming = referrers
    .filter((r) => !(r.schema === table.schema && r.table === table.name))
    .map((r) => refName(r.schema, r.table, r.columns, home));
  if (incoming.length) sentences.push(sentence(`Referenced by ${listed(incoming)}`));
  if (keyless) sentences.push("No primary key.");
  return fit(sentences, TABLE_MAX_CHARS);
}

/** The column's own words, without a leading repeat of the table's name ("invoice_date" → "date"). */
function ownWords(table: TableSnapshot, column: string): string[] {
  const col = words(column);
  const tab = words(table.name);
  const single = [...tab.slice(0, -1), singular(tab[tab.length - 1] ?? "")];
  for (const prefix of [tab, single]) {
    if (prefix.length < col.length && prefix.every((w, i) => col[i] === w)) return col.slice(prefix.length);
  }
  return col;
}

// A unit as the last word of a name: what the number counts (whether a duration, a size or an epoch
// time, the name does not say).
const UNITS: [RegExp, string][] = [
  [/^(ms|millis|milliseconds)$/, "milliseconds"],
  [/^(secs|seconds)$/, "seconds"],
  [/^(minutes|mins)$/, "minutes"],
  [/^bytes$/, "bytes"],
  [/^(pct|percent|percentage)$/, "percent"],
];

/** What the column holds, from its name alone (no foreign key, not the primary key). */
function byName(table: TableSnapshot, col: ColumnSnapshot): string {
  const subject = entity(table.name);
  const own = ownWords(table, col.name);
  const name = own.join(" ");
  const last = own[own.length - 1] ?? "";
  const unit = UNITS.find(([pattern]) => pattern.test(last));
  if (unit) {
    const rest = own.slice(0, -1).join(" ");
    return rest ? `The ${possessive(subject)} ${rest}, in ${unit[1]}.` : `A number of ${unit[1]}.`;
  }
  if (/^(is|has|can|should|was)$/.test(own[0] ?? "") && own.length > 1 && /bool/i.test(col.type)) {
    return `Whether the ${subject} ${name}.`;
  }
  if (last === "at" && own.length > 1 && TIMESTAMP_TYPE.test(col.type)) return `When the ${subject} was ${own.slice(0, -1).join(" ")}.`;
  if (/^e?mail$/.test(last) || (last === "address" && own.includes("email"))) return `The ${possessive(subject)} ${name.replace(/\bemail\b/, "e-mail")}${last === "address" ? "" : " address"}.`;
  if (/^(phone|fax|mobile|telephone)$/.test(last)) return `The ${possessive(subject)} ${name} number.`;
  if (/^(price|amount|total|cost|fee|balance|subtotal|tax|discount)$/.test(last) && /^(numeric|decimal|money|real|double|integer|bigint)/i.test(col.type)) {
    return `The ${possessive(subject)} ${name}, a money amount.`;
  }
  if (last === "id" && own.length > 1) return `Refers to ${article(own.slice(0, -1).join(" "))} by id (no foreign key declared).`;
  return `The ${possessive(subject)} ${name || human(col.name)}.`;
}

function describeForeignKey(table: TableSnapshot, col: ColumnSnapshot, fk: ForeignKey): string {
  const subject = entity(table.name);
  const target = entity(fk.references.table);
  const self = fk.references.schema === table.schema && fk.references.table === table.name;
  const index = fk.columns.indexOf(col.name);
  const ref = refName(fk.references.schema, fk.references.table, fk.references.columns[index] ?? fk.references.columns.join(", "), table.schema);
  if (self) {
    const role = words(col.name.replace(/_?id$/i, "")).join(" ");
    return `${capitalise(role)} (another ${subject}, a self-reference). Joins ${ref}.`;
  }
  if (fk.columns.length > 1) return `Part of a foreign key to ${fk.references.table}. Joins ${ref}.`;
  const role = words(col.name.replace(/_?id$/i, "")).join(" ");
  if (!role || role === target || role === human(fk.references.table)) return `The ${possessive(subject)} ${target}. Joins ${ref}.`;
  return `${capitalise(role)} (${article(target)}). Joins ${ref}.`;
}

function valueStats(table: TableSnapshot, col: ColumnSnapshot, stats: ColumnStats | undefined, unique: boolean, room: number): string | null {
  if (!stats || stats.nDistinct == null) return null;
  // n_distinct < 0 is a fraction of the rows (-1: every row distinct).
  const distinct = stats.nDistinct > 0 ? stats.nDistinct : table.rowEstimate ? Math.round(-stats.nDistinct * table.rowEstimate) : null;
  const listable = distinct != null && distinct <= LOW_CARDINALITY && stats.commonValues.length > 0;
  if (!listable) return !unique && stats.nDistinct === -1 ? "Every value distinct." : null;
  const quote = /^(integer|bigint|smallint|numeric|real|double|boolean)/i.test(col.type) ? (v: string) => v : (v: string) => `'${v}'`;
  // As many values as the room left in the column's budget allows, most common first.
  const values: string[] = [];
  const text = (shown: string[]) => `Values: ${shown.join(", ")}${distinct > shown.length ? ` (${count(distinct)} distinct)` : ""}.`;
  for (const value of stats.commonValues.map(quote)) {
    if (text([...values, value]).length > room) break;
    values.push(value);
  }
  return values.length ? text(values) : null;
}

function describeColumn(table: TableSnapshot, col: ColumnSnapshot, referrers: Referrer[], stats: ColumnStats | undefined): string {
  if (col.comment) return fromComment(col.comment, COLUMN_MAX_CHARS);
  const home = table.schema;
  const sentences: string[] = [];
  const pk = table.primaryKey ?? [];
  const fk = table.foreignKeys.find((f) => f.columns.includes(col.name));
  const unique = table.uniqueConstraints.some((u) => u.columns.length === 1 && u.columns[0] === col.name) || (pk.length === 1 && pk[0] === col.name);

  if (pk.length === 1 && pk[0] === col.name) {
    const pointing = referrers.filter((r) => r.columns.length === 1 && (r.references?.[0] ?? col.name) === col.name).map((r) => refName(r.schema, r.table, r.columns, home));
    sentences.push(`Primary key of ${table.name}.`);
    if (pointing.length) sentences.push(sentence(`Referenced by ${listed(pointing)}`));
  } else if (pk.includes(col.name)) {
    const index = fk?.columns.indexOf(col.name) ?? -1;
    if (fk && index >= 0) {
      const ref = refName(fk.references.schema, fk.references.table, fk.references.columns[index] ?? "", home);
      sentences.push(`Part of the primary key. Joins ${ref}.`);
    } else sentences.push(`Part of the primary key (${pk.join(", ")}).`);
  } else if (fk) {
    sentences.push(describeForeignKey(table, col, fk));
  } else {
    sentences.push(byName(table, col));
  }
  if (!pk.includes(col.name)) {
    const uniq = table.uniqueConstraints.find((u) => u.columns.includes(col.name));
    if (uniq) sentences.push(uniq.columns.length === 1 ? "Unique." : `Unique together with ${uniq.columns.filter((c) => c !== col.name).join(", ")}.`);
  }
  for (const check of table.checks ?? []) {
    if (check.columns.includes(col.name) && check.definition.length <= 60) sentences.push(`Check: ${check.definition}.`);
  }
  sentences.push(valueStats(table, col, stats, unique, COLUMN_MAX_CHARS - fit(sentences, COLUMN_MAX_CHARS).length - 1) ?? "");
  if (col.default && /^(now\(\)|CURRENT_TIMESTAMP|statement_timestamp\(\)|clock_timestamp\(\))/i.test(col.default)) sentences.push("Defaults to the time of insert.");
  return fit(sentences, COLUMN_MAX_CHARS);
}

/** Describes one table and its columns from what the catalog shows (see the module comment). */
export function describeOffline(context: TableContext): TableDescription {
  const { table } = context;
  const referrers = referrersOf(context);
  return {
    table: describeTable(table, referrers),
    columns: table.columns.map((c) => ({ name: c.name, description: describeColumn(table, c, referrers, context.stats?.[c.name]) })),
  };
}

/**
 * Stored as the model of offline descriptions: the demo seed re-queues tables described by an
 * earlier offline describer (OFFLINE_DESCRIBER_VERSION in packages/db/src/seed/queue-demo.ts).
 */
export const OFFLINE_DESCRIBER_VERSION = "offline-2";

export const offlineDescriber: Describer = {
  source: "heuristic",
  model: OFFLINE_DESCRIBER_VERSION,
  describe: async (context) => describeOffline(context),
};
