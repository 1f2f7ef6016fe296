import { z } from "zod";
import type { CallOutcome, TypedTool } from "../../calls/call-outcome.js";
import { callIndexes, compareKeys, oneLine, type CatalogIndex, type IndexedObject } from "../catalog-index.js";
import { cursorBinding, decodeCursor, encodeCursor } from "../page-cursor.js";
import { hitKey, searchCatalog, type SearchHit } from "../search-catalog.js";
import { displayName, displayText, escapeUnsafe, formatRelation, ident, shortType } from "./schema-format.js";

const KINDS = ["table", "view", "materialized_view", "column", "function"] as const;

const input = z.object({
  query: z.string().min(1).max(200).describe("Words to look for in table, view, column and function names and in their descriptions"),
  kinds: z.array(z.enum(KINDS)).min(1).max(KINDS.length).optional().describe("Only these kinds (default: tables, views, materialized views, functions; add 'column' to list matching columns themselves)"),
  schema: z.string().max(63).optional().describe("Only this schema"),
  detail: z.enum(["names", "columns", "definition"]).default("names").describe("names (default) → columns → definition (the describe_table text)"),
  limit: z.number().int().min(1).max(50).default(20).describe("Results per page (1–50, default 20)"),
  cursor: z.string().max(200).optional().describe("nextCursor of the previous page, with the same query and filters"),
});

const column = z.object({
  name: z.string(),
  type: z.string(),
  nullable: z.boolean(),
  pk: z.boolean(),
  fk: z.string().optional().describe("table.column this column references"),
});

const result = z.object({
  name: z.string().describe("As SQL would write it: bare on the first schema of the search path, else schema.name; columns as table.column"),
  kind: z.enum(KINDS),
  access: z.enum(["read", "write", "admin"]),
  description: z.string().optional(),
  matched: z.enum(["name", "column", "description"]),
  matchedColumn: z.string().optional(),
  columns: z.array(column).optional(),
  definition: z.string().optional(),
  database: z.string().optional().describe("Multi-database links: the `database` argument naming the database it is in"),
});

const output = z.object({
  results: z.array(result),
  total: z.number().int().min(0).describe("Matches in all pages"),
  nextCursor: z.string().optional(),
  truncated: z.object({ by: z.enum(["limit", "bytes"]) }).optional().describe("This page stopped before the last match: at `limit` results or at the page's byte budget"),
});

type Result = z.infer<typeof result>;
type Column = z.infer<typeof column>;

/** Page size in bytes of serialized results: a page must stay a small part of a model's context. */
export const SEARCH_PAGE_BYTES = 16 * 1024;
const DESCRIPTION_CHARS = 200;

function short(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const line = oneLine(text);
  return line.length > DESCRIPTION_CHARS ? `${line.slice(0, DESCRIPTION_CHARS - 1)}…` : line;
}

/** The columns as entries (names as they are) and as one line of text (names escaped). */
function columnsOf(object: IndexedObject, index: CatalogIndex, only?: string): { columns: Column[]; text: string } {
  const columns: Column[] = [];
  const texts: string[] = [];
  for (const c of object.relation?.columns ?? []) {
    if (only !== undefined && c.name !== only) continue;
    let fk: string | undefined;
    let fkText = "";
    if (c.references) {
      const last = c.references.lastIndexOf(".");
      const table = c.references.slice(0, last);
      const dot = table.indexOf(".");
      const target = { schema: table.slice(0, dot), name: table.slice(dot + 1) };
      const column = c.references.slice(last + 1);
      fk = `${displayName(target, index.defaultSchema)}.${column}`;
      fkText = ` -> ${displayText(target, index.defaultSchema)}.${ident(column)}`;
    }
    const type = shortType(c.type);
    columns.push({ name: c.name, type, nullable: c.nullable, pk: c.primaryKey, ...(fk ? { fk } : {}) });
    texts.push(`${ident(c.name)} ${escapeUnsafe(type)}${c.primaryKey ? " PK" : ""}${c.nullable && !c.primaryKey ? " null" : ""}${fkText}`);
  }
  return { columns, text: texts.join(", ") };
}

/** One result as an entry (names as they are) and as its lines of text (names escaped, see schema-format.ts). */
function toResult(hit: SearchHit, detail: "names" | "columns" | "definition", index: CatalogIndex, database: string | undefined): { entry: Result; lines: string[] } {
  const { object } = hit;
  const columnName = hit.columnEntry ? hit.column?.name : undefined;
  const description = columnName !== undefined ? index.descriptions.get(object.key)?.columns.get(columnName) : object.description;
  const entry: Result = {
    name: columnName !== undefined ? `${object.display}.${columnName}` : object.display,
    kind: columnName !== undefined ? "column" : object.kind,
    access: object.access,
    matched: hit.matched,
    ...(database !== undefined ? { database } : {}),
  };
  const shown = short(description);
  if (shown) entry.description = shown;
  if (hit.matched === "column" && hit.column) entry.matchedColumn = hit.column.name;
  const objectText = displayText(object, index.defaultSchema);
  let columnsText: string | undefined;
  if (detail !== "names" && object.relation) ({ columns: entry.columns, text: columnsText } = columnsOf(object, index, columnName));
  const functionText = `${objectText}: ${object.access === "read" ? "stable or immutable" : "volatile"} function`;
  if (detail === "definition") {
    entry.definition = object.relation ? formatRelation(object.relation, index.descriptions, index.defaultSchema) : functionText;
  }
  const where = database === undefined ? "" : `[${database}] `;
  const via = entry.matchedColumn !== undefined ? ` [column ${ident(entry.matchedColumn)}]` : entry.matched === "description" ? " [description]" : "";
  if (entry.definition !== undefined) return { entry, lines: [`${where}${entry.definition}${via}`] };
  const flags = [entry.kind.replace("_", " "), entry.access === "read" ? null : entry.access].filter(Boolean).join(", ");
  const name = columnName !== undefined ? `${objectText}.${ident(columnName)}` : objectText;
  const lines = [`${where}${name} (${flags})${entry.description ? ` — ${entry.description}` : ""}${via}`];
  if (columnsText !== undefined) lines.push(`  ${columnsText}`);
  return { entry, lines };
}

function renderText(query: string, results: Result[], lines: string[], offset: number, total: number, nextCursor: string | undefined): string {
  // The query is the caller's own words, but it is echoed: kept on one line like everything else.
  const asked = escapeUnsafe(query);
  if (total === 0) return `No visible object matches "${asked}". Try a shorter word, a column name, or list_tables.`;
  const out = [`${total} match${total === 1 ? "" : "es"} for "${asked}"; ${results.length === total ? "all shown" : `shown ${offset + 1}–${offset + results.length}`}:`, ...lines];
  if (nextCursor) out.push(`More: call search_objects again with cursor "${nextCursor}".`);
  else if (results.length && !results[0]!.columns) out.push("Next: search_objects with detail 'columns', or describe_table, for the one you need.");
  return out.join("\n");
}

function invalidCursor(): CallOutcome {
  const message = "Invalid cursor: it belongs to another query or other filters, was altered, or the schema changed since. Search again without a cursor.";
  return { kind: "failed", failure: { code: "invalid_arguments", message, retryable: false }, audit: { verdict: "error", error: message } };
}

export const searchObjectsTool: TypedTool<typeof input> = {
  name: "search_objects",
  title: () => "Search the schema",
  description: () =>
    "Find tables, views, columns and functions this link can see by name, column name or description, best match first, paged. On large databases start here instead of get_schema: detail 'names' (default) → 'columns' → 'definition'.",
  input,
  output,
  annotations: () => ({ readOnlyHint: true, idempotentHint: true, openWorldHint: false }),
  async run(args, ctx, services) {
    // Every database of a multi-database link without `database` (issue 17): each searched in its own
    // index (its own scope), the hits merged by rank, then the link's database order, then name.
    const indexes = await callIndexes(services, ctx);
    const single = indexes.length === 1 && indexes[0]!.database === undefined;
    const bindingOf = single ? indexes[0]!.index.binding : indexes.map((i) => `${i.database}\u0000${i.index.binding}`);
    const binding = cursorBinding("search_objects", bindingOf, args.query.trim().toLowerCase(), [...(args.kinds ?? [])].sort(), args.schema);
    let offset = 0;
    if (args.cursor !== undefined) {
      const decoded = decodeCursor(args.cursor, binding);
      if (decoded === null) return invalidCursor();
      offset = decoded;
    }
    const hits = indexes
      .flatMap(({ database, index }, order) => searchCatalog(index, { query: args.query, kinds: args.kinds, schema: args.schema }).map((hit) => ({ hit, database, index, order })))
      .sort((a, b) => a.hit.rank - b.hit.rank || a.order - b.order || compareKeys(hitKey(a.hit), hitKey(b.hit)));
    const results: Result[] = [];
    const lines: string[] = [];
    let bytes = 2;
    let cutByBytes = false;
    for (let i = offset; i < hits.length && results.length < args.limit; i++) {
      const { hit, index, database } = hits[i]!;
      const { entry, lines: entryLines } = toResult(hit, args.detail, index, database);
      const size = Buffer.byteLength(JSON.stringify(entry)) + 1;
      // At least one result per page, or a single huge definition would stall paging.
      if (results.length > 0 && bytes + size > SEARCH_PAGE_BYTES) {
        cutByBytes = true;
        break;
      }
      results.push(entry);
      lines.push(...entryLines);
      bytes += size;
    }
    const next = offset + results.length;
    const nextCursor = next < hits.length ? encodeCursor(binding, next) : undefined;
    const data: z.infer<typeof output> = {
      results,
      total: hits.length,
      ...(nextCursor ? { nextCursor, truncated: { by: cutByBytes ? ("bytes" as const) : ("limit" as const) } } : {}),
    };
    const text = renderText(args.query, results, lines, offset, hits.length, nextCursor);
    return { kind: "ok", data, text, audit: { verdict: "allowed", rows: results.length, bytes: Buffer.byteLength(text) } };
  },
};
