import { hiddenNames, visibleObjects } from "@portcullis/policy";
import { z } from "zod";
import { formatRelation, SCHEMA_LEGEND } from "./schema-format.js";
import { textResult, type ToolDefinition } from "./types.js";

const input = z.object({
  table: z.string().min(1).max(200).describe('Table or view name: "table" (first schema of the search path) or "schema.table"'),
});

export const describeTableTool: ToolDefinition<typeof input> = {
  name: "describe_table",
  title: "Describe a table",
  description: () => "Columns (types, nullability, keys, foreign keys) and descriptions of one table or view.",
  input,
  readOnlyHint: true,
  async run(args, ctx, services) {
    const catalog = await services.catalogFor(ctx.link);
    const visible = visibleObjects(ctx.link.scope, catalog);
    const wanted = args.table.replace(/"/g, "");
    const dot = wanted.indexOf(".");
    const candidates = dot >= 0 ? [wanted] : visible.searchPath.map((s) => `${s}.${wanted}`);
    // Exact name first, then case-insensitively (models often write names unquoted in lower case).
    const relation =
      candidates.map((key) => visible.relations.find((r) => r.key === key)).find(Boolean) ??
      candidates.map((key) => visible.relations.find((r) => r.key.toLowerCase() === key.toLowerCase())).find(Boolean);
    if (!relation) {
      // Same answer for absent and hidden: a hidden table does not exist for this link.
      const text = `Table "${args.table}" does not exist (or is not visible through this link). Use list_tables to see what is.`;
      return { result: textResult(text, true), audit: { verdict: "error", error: text } };
    }
    const descriptions = await services.descriptions.forLink(ctx.link.connection.id, hiddenNames(ctx.link.scope, catalog));
    const text = `${formatRelation(relation, descriptions, visible.searchPath[0])}\n\n${SCHEMA_LEGEND}`;
    return { result: textResult(text), audit: { verdict: "allowed", tables: [relation.key], rows: relation.columns.length, bytes: Buffer.byteLength(text) } };
  },
};
