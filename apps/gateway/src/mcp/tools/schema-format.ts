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

/**
 * Names, types and comments are database-controlled text: whoever can create a table or write COMMENT
 * ON can put words in front of the model. A line break in a name would start a new line of the schema
 * text (a forged heading, a forged closing tag of the data boundary), an ESC would drive a terminal.
 * Control, format, separator, private-use and unassigned code points are what no honest name needs.
 */
const UNSAFE_CHAR = /[\p{C}\p{Zl}\p{Zp}]/u;
const UNSAFE_CHARS = /[\p{C}\p{Zl}\p{Zp}]/gu;

function codePointEscape(ch: string): string {
  const cp = ch.codePointAt(0)!;
  return cp > 0xffff ? `\\+${cp.toString(16).padStart(6, "0")}` : `\\${cp.toString(16).padStart(4, "0")}`;
}

/**
 * An identifier for the schema text: as it is when every character is printable, else as PostgreSQL's
 * Unicode-escaped quoted identifier (U&"notes\000a…"), which names the same object in SQL and keeps the
 * name on one line.
 */
export function ident(name: string): string {
  if (!UNSAFE_CHAR.test(name)) return name;
  let out = "";
  for (const ch of name) {
    if (ch === '"') out += '""';
    else if (ch === "\\") out += "\\\\";
    else if (UNSAFE_CHAR.test(ch)) out += codePointEscape(ch);
    else out += ch;
  }
  return `U&"${out}"`;
}

/**
 * The parts of a dotted name as SQL would read it, undoing ident: bare parts as they are, "quoted"
 * parts with "" for ", U&"…" parts with \XXXX, \+XXXXXX and \\ escapes. Null when it is not such a
 * name (an unclosed quote, a bad escape). Used where a model passes back a name it read in the text.
 */
export function parseQualifiedName(input: string): string[] | null {
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    let part = "";
    const unicode = input.startsWith('U&"', i) || input.startsWith('u&"', i);
    if (unicode || input[i] === '"') {
      i += unicode ? 3 : 1;
      for (;;) {
        if (i >= input.length) return null;
        const ch = input[i]!;
        if (ch === '"') {
          if (input[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (unicode && ch === "\\") {
          if (input[i + 1] === "\\") {
            part += "\\";
            i += 2;
            continue;
          }
          const long = input[i + 1] === "+";
          const hex = long ? input.slice(i + 2, i + 8) : input.slice(i + 1, i + 5);
          if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== (long ? 6 : 4)) return null;
          const cp = parseInt(hex, 16);
          if (cp > 0x10ffff) return null;
          part += String.fromCodePoint(cp);
          i += long ? 8 : 5;
          continue;
        }
        part += ch;
        i++;
      }
    } else {
      const end = input.indexOf(".", i);
      part = end < 0 ? input.slice(i) : input.slice(i, end);
      i = end < 0 ? input.length : end;
    }
    parts.push(part);
    if (i >= input.length) return parts;
    if (input[i] !== ".") return null;
    i++;
  }
}

/** Text that is not an identifier (a type as format_type spells it): unsafe characters as \XXXX. */
export function escapeUnsafe(text: string): string {
  return text.replace(UNSAFE_CHARS, codePointEscape);
}

/** A description or comment on one line, without control characters (they carry no meaning for a model). */
export function oneLine(text: string): string {
  return text.replace(/[\s\p{Zl}\p{Zp}]+/gu, " ").replace(UNSAFE_CHARS, "").trim();
}

/** Relation name as the link's SQL would write it: bare for schemas on the search path's first entry. */
export function displayName(relation: { schema: string; name: string }, defaultSchema: string | undefined): string {
  return relation.schema === defaultSchema ? relation.name : `${relation.schema}.${relation.name}`;
}

/** displayName for text: each part through ident. */
export function displayText(relation: { schema: string; name: string }, defaultSchema: string | undefined): string {
  return relation.schema === defaultSchema ? ident(relation.name) : `${ident(relation.schema)}.${ident(relation.name)}`;
}

/** "schema.table" (a relation key, or a foreign key's target) for text; the schema part ends at the first dot. */
export function keyText(key: string, defaultSchema?: string): string {
  const dot = key.indexOf(".");
  if (dot < 0) return ident(key);
  return displayText({ schema: key.slice(0, dot), name: key.slice(dot + 1) }, defaultSchema);
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
  if (relation.rowFiltered) flags.push("row-filtered");
  const head = `## ${displayText(relation, defaultSchema)}${flags.length ? ` (${flags.join(", ")})` : ""}`;
  const description = tableDescription(relation, descriptions);
  const lines = [description ? `${head} — ${oneLine(description)}` : head];
  for (const column of relation.columns) {
    let line = `${ident(column.name)} ${escapeUnsafe(shortType(column.type))}`;
    if (column.primaryKey) line += " PK";
    if (column.nullable && !column.primaryKey) line += " null";
    if (column.mask) line += ` masked(${column.mask})`;
    if (column.references) {
      const [schema, table, col] = splitReference(column.references);
      line += ` -> ${displayText({ schema, name: table }, defaultSchema)}.${ident(col)}`;
    }
    const note = described?.columns.get(column.name);
    if (note) line += ` — ${oneLine(note)}`;
    lines.push(line);
  }
  for (const fk of relation.foreignKeys) {
    if (fk.columns.length < 2) continue; // single-column keys are shown inline
    lines.push(`FK (${fk.columns.map(ident).join(", ")}) -> ${keyText(fk.references)}(${fk.referencedColumns.map(ident).join(", ")})`);
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

export const SCHEMA_LEGEND =
  "Columns are NOT NULL unless marked null; PK = primary key; -> = foreign key; masked(kind) = values come back masked, as text " +
  "(comparisons, joins and grouping see the masked value); row-filtered = this link sees only some of the table's rows.";
