import type { VisibleRelation } from "@portcullis/policy";
import type { Descriptions } from "../../execution/descriptions.js";

// Shorter spellings of PostgreSQL's type names: the schema text goes into a model's context, and
// these are the names models know best anyway.
const TYPE_ABBREVIATIONS: [RegExp, string][] = [
  [/^character varying/, "varchar"],
  [/^character\b/, "char"],
  [/^timestamp\((\d)\) without time zone$/, "timestamp($1)"],
  [/^timestamp without time zone$/, "timestamp"],
  [/^timestamp\((\d)\) with time zone$/, "timestamptz($1)"],
  [/^timestamp with time zone$/, "timestamptz"],
  [/^time without time zone$/, "time"],
  [/^time with time zone$/, "timetz"],
  [/^double precision$/, "float8"],
  [/^integer$/, "int"],
  [/^boolean$/, "bool"],
];

export function shortType(type: string): string {
  for (const [pattern, replacement] of TYPE_ABBREVIATIONS) if (pattern.test(type)) return type.replace(pattern, replacement);
  return type;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** Relation name as the link's SQL would write it: bare for schemas on the search path's first entry. */
export function displayName(relation: { schema: string; name: string }, defaultSchema: string | undefined): string {
  return relation.schema === defaultSchema ? relation.name : `${relation.schema}.${relation.name}`;
}

export function tableDescription(relation: VisibleRelation, descriptions: Descriptions): string | undefined {
  return descriptions.get(relation.key)?.table ?? relation.comment;
}

/**
 * One table as compact text:
 *   ## album (write) — Albums released by artists
 *   album_id int PK
 *   title varchar(160)
 *   artist_id int -> artist.artist_id — who made it
 * Columns are NOT NULL unless marked `null`; `->` is a foreign key to a visible table.
 */
export function formatRelation(relation: VisibleRelation, descriptions: Descriptions, defaultSchema: string | undefined): string {
  const described = descriptions.get(relation.key);
  const flags: string[] = [];
  if (relation.kind !== "table") flags.push(relation.kind.replace("_", " "));
  if (relation.access !== "read") flags.push(relation.access);
  const head = `## ${displayName(relation, defaultSchema)}${flags.length ? ` (${flags.join(", ")})` : ""}`;
  const description = tableDescription(relation, descriptions);
  const lines = [description ? `${head} — ${oneLine(description)}` : head];
  for (const column of relation.columns) {
    let line = `${column.name} ${shortType(column.type)}`;
    if (column.primaryKey) line += " PK";
    if (column.nullable && !column.primaryKey) line += " null";
    if (column.references) {
      const [schema, table, col] = splitReference(column.references);
      line += ` -> ${schema === defaultSchema ? table : `${schema}.${table}`}.${col}`;
    }
    const note = described?.columns.get(column.name);
    if (note) line += ` — ${oneLine(note)}`;
    lines.push(line);
  }
  for (const fk of relation.foreignKeys) {
    if (fk.columns.length < 2) continue; // single-column keys are shown inline
    lines.push(`FK (${fk.columns.join(", ")}) -> ${fk.references}(${fk.referencedColumns.join(", ")})`);
  }
  return lines.join("\n");
}

function splitReference(reference: string): [string, string, string] {
  const last = reference.lastIndexOf(".");
  const column = reference.slice(last + 1);
  const rest = reference.slice(0, last);
  const dot = rest.indexOf(".");
  return [rest.slice(0, dot), rest.slice(dot + 1), column];
}

export const SCHEMA_LEGEND = "Columns are NOT NULL unless marked null; PK = primary key; -> = foreign key.";
