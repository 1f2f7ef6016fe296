import { hiddenNames, MASK_KINDS, visibleObjects } from "@portcullis/policy";
import { z } from "zod";
import type { TypedTool } from "../../calls/call-outcome.js";
import { escapeUnsafe, formatRelation, parseQualifiedName, SCHEMA_LEGEND, tableDescription } from "./schema-format.js";

const input = z.object({
  // Up to 63 characters per part written as U&"\+XXXXXX" escapes: ~1,000 characters.
  table: z.string().min(1).max(1000).describe('Table or view name: "table" (first schema of the search path) or "schema.table", as get_schema writes it'),
});

const output = z.object({
  table: z.object({
    name: z.string().describe("schema.table"),
    kind: z.string(),
    access: z.enum(["read", "write", "admin"]),
    rowFiltered: z.boolean().optional().describe("true: this link sees only the rows its row filter allows"),
    description: z.string().optional(),
    columns: z.array(
      z.object({
        name: z.string(),
        type: z.string(),
        nullable: z.boolean(),
        primaryKey: z.boolean(),
        references: z.string().optional().describe("schema.table.column of a single-column foreign key"),
        mask: z.enum(MASK_KINDS).optional().describe("values come back masked this way, as text; comparisons, joins and grouping see the masked value"),
        description: z.string().optional(),
      }),
    ),
    foreignKeys: z.array(z.object({ columns: z.array(z.string()), references: z.string(), referencedColumns: z.array(z.string()) })),
  }),
});

export const describeTableTool: TypedTool<typeof input> = {
  name: "describe_table",
  title: () => "Describe a table",
  description: () => "Columns (types, nullability, keys, foreign keys, masks) and descriptions of one table or view; says when the link sees only some of its rows.",
  input,
  output,
  annotations: () => ({ readOnlyHint: true, idempotentHint: true, openWorldHint: false }),
  async run(args, ctx, services) {
    const catalog = await services.catalogFor(ctx.link);
    const visible = visibleObjects(ctx.link.scope, catalog);
    // A name spelled as the schema text shows it (U&"…" for names with unusual characters) is read
    // like SQL reads it; anything else as before: quotes dropped, schema before the first dot.
    const parsed = /[uU]&"/.test(args.table) ? parseQualifiedName(args.table) : null;
    const wanted = parsed && parsed.length <= 2 ? parsed.join(".") : args.table.replace(/"/g, "");
    const qualified = parsed && parsed.length <= 2 ? parsed.length === 2 : wanted.includes(".");
    const candidates = qualified ? [wanted] : visible.searchPath.map((s) => `${s}.${wanted}`);
    // Exact name first, then case-insensitively (models often write names unquoted in lower case).
    const relation =
      candidates.map((key) => visible.relations.find((r) => r.key === key)).find(Boolean) ??
      candidates.map((key) => visible.relations.find((r) => r.key.toLowerCase() === key.toLowerCase())).find(Boolean);
    if (!relation) {
      // Same answer for absent and hidden: a hidden table does not exist for this link.
      const message = `Table "${escapeUnsafe(args.table)}" does not exist (or is not visible through this link). Use list_tables to see what is.`;
      return { kind: "failed", failure: { code: "not_found", message, retryable: false }, audit: { verdict: "error", error: message } };
    }
    const descriptions = await services.descriptions.forLink(ctx.link.connection.id, hiddenNames(ctx.link.scope, catalog));
    const notes = descriptions.get(relation.key)?.columns;
    const description = tableDescription(relation, descriptions);
    const table = {
      name: relation.key,
      kind: relation.kind as string,
      access: relation.access,
      ...(relation.rowFiltered ? { rowFiltered: true } : {}),
      ...(description ? { description } : {}),
      columns: relation.columns.map((c) => {
        const note = notes?.get(c.name);
        return {
          name: c.name,
          type: c.type,
          nullable: c.nullable,
          primaryKey: c.primaryKey,
          ...(c.references ? { references: c.references } : {}),
          ...(c.mask ? { mask: c.mask } : {}),
          ...(note ? { description: note } : {}),
        };
      }),
      foreignKeys: relation.foreignKeys.map((fk) => ({ columns: fk.columns, references: fk.references, referencedColumns: fk.referencedColumns })),
    };
    const text = `${formatRelation(relation, descriptions, visible.searchPath[0])}\n\n${SCHEMA_LEGEND}`;
    return { kind: "ok", data: { table }, text, audit: { verdict: "allowed", tables: [relation.key], rows: relation.columns.length, bytes: Buffer.byteLength(text) } };
  },
};
