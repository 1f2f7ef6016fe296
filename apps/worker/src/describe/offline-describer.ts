import type { ColumnSnapshot, TableSnapshot } from "../schema/snapshot.js";
import type { Describer, TableContext, TableDescription } from "./types.js";

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

function entity(table: string): string {
  const w = words(table);
  if (w.length) w[w.length - 1] = singular(w[w.length - 1]!);
  return w.join(" ");
}

const KIND_TEXT: Record<TableSnapshot["kind"], string> = {
  table: "Table",
  partitioned_table: "Partitioned table",
  view: "View",
  materialized_view: "Materialized view",
  foreign_table: "Foreign table",
};

// Name patterns → what such a column usually holds. Checked in order; the first match wins.
const PATTERNS: [RegExp, (subject: string, col: ColumnSnapshot) => string][] = [
  [/(^|_)e?mail(_address)?$/i, (s) => `Email address of the ${s}.`],
  [/(^|_)(phone|mobile|fax)(_number)?$/i, (_s, c) => `${capitalise(human(c.name))} number.`],
  [/(^|_)(first|last|middle|full|display|user)?_?name$/i, (s, c) => (c.name.toLowerCase() === "name" ? `Name of the ${s}.` : `${capitalise(human(c.name))} of the ${s}.`)],
  [/(^|_)(title)$/i, (s) => `Title of the ${s}.`],
  [/(^|_)(address|street|city|state|country|postal_code|zip|zip_code|region)$/i, (s, c) => `${capitalise(human(c.name))} of the ${s}'s address.`],
  [/_at$|(^|_)(timestamp)$/i, (s, c) => `When the ${s} was ${human(c.name.replace(/_at$/i, ""))}.`],
  [/(_date|_on)$|^date$/i, (s, c) => `${capitalise(human(c.name))} of the ${s}.`],
  [/(^|_)(price|amount|total|cost|fee|balance|subtotal)$/i, (s, c) => `${capitalise(human(c.name))} of the ${s} (monetary amount).`],
  [/(^|_)(quantity|qty|count)$/i, (s, c) => `${capitalise(human(c.name))} for the ${s}.`],
  [/^(is|has|can)_/i, (s, c) => `Whether the ${s} ${human(c.name)}.`],
  [/(^|_)(status|state)$/i, (s) => `Current status of the ${s}.`],
  [/(^|_)(description|notes?|comment)$/i, (s) => `Free-text ${"description"} of the ${s}.`],
  [/(^|_)(url|uri|link|website)$/i, (s) => `Web address associated with the ${s}.`],
  [/(^|_)(password|secret|token)(_hash)?$/i, (s, c) => `${capitalise(human(c.name))} of the ${s} (sensitive).`],
];

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function typeNote(col: ColumnSnapshot): string {
  return `${col.type}${col.nullable ? ", optional" : ""}`;
}

function describeColumn(table: TableSnapshot, col: ColumnSnapshot): string {
  if (col.comment) return col.comment;
  const subject = entity(table.name);
  const fk = table.foreignKeys.find((f) => f.columns.length === 1 && f.columns[0] === col.name);
  if (fk) {
    return `Reference to the ${entity(fk.references.table)} (${fk.references.schema}.${fk.references.table}.${fk.references.columns.join(", ")}) this ${subject} belongs to (${typeNote(col)}).`;
  }
  if (table.primaryKey?.length === 1 && table.primaryKey[0] === col.name) {
    return `Unique identifier of the ${subject} (primary key, ${col.type}).`;
  }
  // Patterns are written for snake_case; camelCase names are matched in their snake spelling.
  const snake = { ...col, name: words(col.name).join("_") };
  for (const [pattern, text] of PATTERNS) {
    if (pattern.test(snake.name)) return `${text(subject, snake).replace(/\.$/, "")} (${typeNote(col)}).`;
  }
  if (/_id$/i.test(col.name)) return `Identifier of the related ${human(col.name.replace(/_id$/i, ""))} (${typeNote(col)}).`;
  return `${capitalise(human(col.name))} of the ${subject} (${typeNote(col)}).`;
}

/**
 * Describes tables from names, types, keys and foreign keys alone: deterministic, offline, free.
 * Used when AI_PROVIDER=none so the demo shows useful descriptions without any model.
 */
export function describeOffline(context: TableContext): TableDescription {
  const { table } = context;
  const subject = entity(table.name);
  const parts: string[] = [];
  parts.push(table.comment ?? `${KIND_TEXT[table.kind]} of ${human(table.name)}: one row per ${subject}.`);
  if (table.primaryKey?.length) parts.push(`Identified by ${table.primaryKey.join(", ")}.`);
  const links = table.foreignKeys.map((f) => `${f.references.table} (via ${f.columns.join(", ")})`);
  if (links.length) parts.push(`Links to ${links.join(", ")}.`);
  if (context.referencedBy.length) parts.push(`Referenced by ${context.referencedBy.join(", ")}.`);
  if (table.rowEstimate != null && table.rowEstimate > 0) parts.push(`About ${Math.round(table.rowEstimate).toLocaleString("en-US")} rows.`);
  return {
    table: parts.join(" "),
    columns: table.columns.map((c) => ({ name: c.name, description: describeColumn(table, c) })),
  };
}

export const offlineDescriber: Describer = {
  source: "heuristic",
  model: null,
  describe: async (context) => describeOffline(context),
};
