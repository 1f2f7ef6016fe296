import { z } from "zod";
import type { CallOutcome, TypedTool } from "../../calls/call-outcome.js";
import { callIndexes } from "../catalog-index.js";
import { cursorBinding, decodeCursor, encodeCursor } from "../page-cursor.js";
import { DEFAULT_SCHEMA_BUDGET_BYTES } from "./get-schema.js";
import { displayName, displayText, oneLine, tableDescription } from "./schema-format.js";

const input = z.object({
  schema: z.string().max(63).optional().describe("Only this schema (default: every schema the link can see)"),
  cursor: z.string().max(200).optional().describe("nextCursor of the previous page, with the same schema"),
});

const output = z.object({
  tables: z.array(
    z.object({
      name: z.string().describe("As SQL on this link writes it: bare on the first schema of the search path, else schema.table"),
      schema: z.string(),
      kind: z.string(),
      access: z.enum(["read", "write", "admin"]),
      description: z.string().optional(),
      database: z.string().optional().describe("Multi-database links: the `database` argument naming the database it is in"),
    }),
  ),
  /** Every visible table and view (of `schema` when given), on all pages. */
  total: z.number().int(),
  /** Present when more pages follow: pass it back as `cursor`. */
  nextCursor: z.string().optional(),
});

type Table = z.infer<typeof output>["tables"][number];

/** One table's line; `name` is the escaped spelling (displayText), the entry keeps the name as it is. */
function line(t: Table, name: string): string {
  const where = t.database === undefined ? "" : `[${t.database}] `;
  const flags = [t.kind === "table" ? null : t.kind.replace("_", " "), t.access === "read" ? null : t.access].filter(Boolean);
  return `${where}${name}${flags.length ? ` (${flags.join(", ")})` : ""}${t.description ? ` — ${t.description}` : ""}`;
}

function invalidCursor(): CallOutcome {
  const message = "Invalid cursor: it belongs to another schema filter, was altered, or the schema changed since. Call list_tables again without a cursor.";
  return { kind: "failed", failure: { code: "invalid_arguments", message, retryable: false }, audit: { verdict: "error", error: message } };
}

/**
 * Pages by the schema budget (GATEWAY_SCHEMA_BUDGET_BYTES): on a 3,000-table database the whole list
 * was 1.25 MB on the wire (text and structuredContent each carry it), more than a model's context can
 * spend on one call. Each page counts both copies; the text says how to get the rest or to search.
 */
export const listTablesTool: TypedTool<typeof input> = {
  name: "list_tables",
  title: () => "List tables",
  description: () =>
    "Tables and views this link can see, one per line, with their kind, access and description; paged on large databases (use search_objects to find one by name, column or description).",
  input,
  output,
  annotations: () => ({ readOnlyHint: true, idempotentHint: true, openWorldHint: false }),
  async run(args, ctx, services) {
    // Every database of a multi-database link without `database` (issue 17), one after the other.
    const indexes = await callIndexes(services, ctx);
    const relations = indexes.flatMap(({ database, index }) =>
      index.visible.relations.filter((r) => !args.schema || r.schema === args.schema).map((r) => ({ r, database, index })),
    );
    const binding =
      indexes.length === 1 && indexes[0]!.database === undefined
        ? cursorBinding("list_tables", indexes[0]!.index.binding, args.schema)
        : cursorBinding("list_tables", indexes.map((i) => `${i.database}\u0000${i.index.binding}`), args.schema);
    let offset = 0;
    if (args.cursor !== undefined) {
      const decoded = decodeCursor(args.cursor, binding);
      if (decoded === null || decoded > relations.length) return invalidCursor();
      offset = decoded;
    }
    const budget = Math.min(services.schemaBudgetBytes ?? DEFAULT_SCHEMA_BUDGET_BYTES, services.maxResultBytes);
    const tables: Table[] = [];
    const lines: string[] = [];
    let bytes = 0;
    let next = offset;
    for (; next < relations.length; next++) {
      const { r, database, index } = relations[next]!;
      const { descriptions, defaultSchema } = index;
      const raw = tableDescription(r, descriptions);
      const description = raw === undefined ? undefined : oneLine(raw);
      const table: Table = {
        name: displayName(r, defaultSchema),
        schema: r.schema,
        kind: r.kind as string,
        access: r.access,
        ...(description ? { description } : {}),
        ...(database !== undefined ? { database } : {}),
      };
      const text = line(table, displayText(r, defaultSchema));
      // The line in the text plus the same entry in structuredContent; always at least one per page.
      const cost = Buffer.byteLength(text) + 1 + Buffer.byteLength(JSON.stringify(table)) + 1;
      if (tables.length > 0 && bytes + cost > budget) break;
      bytes += cost;
      tables.push(table);
      lines.push(text);
    }
    const nextCursor = next < relations.length ? encodeCursor(binding, next) : undefined;
    if (relations.length === 0) lines.push("No tables are visible through this link.");
    else if (nextCursor)
      lines.push(
        `(${offset + 1}–${next} of ${relations.length} shown. More: call list_tables again with cursor "${nextCursor}"${args.schema ? "" : ", or pass schema"}; to find one table, use search_objects.)`,
      );
    const text = lines.join("\n");
    return {
      kind: "ok",
      data: { tables, total: relations.length, ...(nextCursor ? { nextCursor } : {}) },
      text,
      audit: { verdict: "allowed", rows: tables.length, bytes: Buffer.byteLength(text) },
    };
  },
};
