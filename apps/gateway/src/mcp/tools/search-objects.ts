import { z } from "zod";
import type { CallOutcome, TypedTool } from "../../calls/call-outcome.js";
import { catalogIndexFor, oneLine, type CatalogIndex, type IndexedObject } from "../catalog-index.js";
import { cursorBinding, decodeCursor, encodeCursor } from "../page-cursor.js";
import { searchCatalog, type SearchHit } from "../search-catalog.js";
import { displayName, formatRelation, shortType } from "./schema-format.js";

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

function columnsOf(object: IndexedObject, index: CatalogIndex, only?: string): Column[] {
  return (object.relation?.columns ?? [])
    .filter((c) => only === undefined || c.name === only)
    .map((c) => {
      let fk: string | undefined;
      if (c.references) {
        const last = c.references.lastIndexOf(".");
        const table = c.references.slice(0, last);
        const dot = table.indexOf(".");
        fk = `${displayName({ schema: table.slice(0, dot), name: table.slice(dot + 1) }, index.defaultSchema)}.${c.references.slice(last + 1)}`;
      }
      return { name: c.name, type: shortType(c.type), nullable: c.nullable, pk: c.primaryKey, ...(fk ? { fk } : {}) };
    });
}

function toResult(hit: SearchHit, detail: "names" | "columns" | "definition", index: CatalogIndex): Result {
  const { object } = hit;
  const columnName = hit.columnEntry ? hit.column?.name : undefined;
  const description = columnName !== undefined ? index.descriptions.get(object.key)?.columns.get(columnName) : object.description;
  const entry: Result = {
    name: columnName !== undefined ? `${object.display}.${columnName}` : object.display,
    kind: columnName !== undefined ? "column" : object.kind,
    access: object.access,
    matched: hit.matched,
  };
  const shown = short(description);
  if (shown) entry.description = shown;
  if (hit.matched === "column" && hit.column) entry.matchedColumn = hit.column.name;
  if (detail !== "names" && object.relation) entry.columns = columnsOf(object, index, columnName);
  if (detail === "definition") {
    entry.definition = object.relation
      ? formatRelation(object.relation, index.descriptions, index.defaultSchema)
      : `${object.display}: ${object.access === "read" ? "stable or immutable" : "volatile"} function`;
  }
  return entry;
}

function renderText(query: string, results: Result[], offset: number, total: number, nextCursor: string | undefined): string {
  if (total === 0) return `No visible object matches "${query}". Try a shorter word, a column name, or list_tables.`;
  const lines = [`${total} match${total === 1 ? "" : "es"} for "${query}"; ${results.length === total ? "all shown" : `shown ${offset + 1}–${offset + results.length}`}:`];
  for (const r of results) {
    const flags = [r.kind.replace("_", " "), r.access === "read" ? null : r.access].filter(Boolean).join(", ");
    const via = r.matchedColumn ? ` [column ${r.matchedColumn}]` : r.matched === "description" ? " [description]" : "";
    if (r.definition) {
      lines.push(`${r.definition}${via}`);
      continue;
    }
    lines.push(`${r.name} (${flags})${r.description ? ` — ${r.description}` : ""}${via}`);
    if (r.columns) lines.push(`  ${r.columns.map((c) => `${c.name} ${c.type}${c.pk ? " PK" : ""}${c.nullable && !c.pk ? " null" : ""}${c.fk ? ` -> ${c.fk}` : ""}`).join(", ")}`);
  }
  if (nextCursor) lines.push(`More: call search_objects again with cursor "${nextCursor}".`);
  else if (results.length && !results[0]!.columns) lines.push("Next: search_objects with detail 'columns', or describe_table, for the one you need.");
  return lines.join("\n");
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
    const index = await catalogIndexFor(services, ctx.link);
    const binding = cursorBinding("search_objects", index.binding, args.query.trim().toLowerCase(), [...(args.kinds ?? [])].sort(), args.schema);
    let offset = 0;
    if (args.cursor !== undefined) {
      const decoded = decodeCursor(args.cursor, binding);
      if (decoded === null) return invalidCursor();
      offset = decoded;
    }
    const hits = searchCatalog(index, { query: args.query, kinds: args.kinds, schema: args.schema });
    const results: Result[] = [];
    let bytes = 2;
    let cutByBytes = false;
    for (let i = offset; i < hits.length && results.length < args.limit; i++) {
      const entry = toResult(hits[i]!, args.detail, index);
      const size = Buffer.byteLength(JSON.stringify(entry)) + 1;
      // At least one result per page, or a single huge definition would stall paging.
      if (results.length > 0 && bytes + size > SEARCH_PAGE_BYTES) {
        cutByBytes = true;
        break;
      }
      results.push(entry);
      bytes += size;
    }
    const next = offset + results.length;
    const nextCursor = next < hits.length ? encodeCursor(binding, next) : undefined;
    const data: z.infer<typeof output> = {
      results,
      total: hits.length,
      ...(nextCursor ? { nextCursor, truncated: { by: cutByBytes ? ("bytes" as const) : ("limit" as const) } } : {}),
    };
    const text = renderText(args.query, results, offset, hits.length, nextCursor);
    return { kind: "ok", data, text, audit: { verdict: "allowed", rows: results.length, bytes: Buffer.byteLength(text) } };
  },
};
