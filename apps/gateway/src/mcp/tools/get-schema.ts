import { hiddenNames, visibleObjects } from "@portcullis/policy";
import { z } from "zod";
import { formatRelation, SCHEMA_LEGEND } from "./schema-format.js";
import { textResult, type ToolDefinition } from "./types.js";

const input = z.object({
  schema: z.string().max(63).optional().describe("Only this schema (default: every schema the link can see)"),
});

export const getSchemaTool: ToolDefinition<typeof input> = {
  name: "get_schema",
  title: "Database schema",
  description: () =>
    "The whole schema this link can see, compactly: every table and view with its columns, types, keys, foreign keys and descriptions. Call it first to write correct SQL.",
  input,
  readOnlyHint: true,
  async run(args, ctx, services) {
    const catalog = await services.catalogFor(ctx.link);
    const [visible, descriptions] = [visibleObjects(ctx.link.scope, catalog), await services.descriptions.forLink(ctx.link.connection.id, hiddenNames(ctx.link.scope, catalog))];
    const defaultSchema = visible.searchPath[0];
    const relations = visible.relations.filter((r) => !args.schema || r.schema === args.schema);
    const header = `Database ${catalog.database}; unqualified names resolve in: ${visible.searchPath.join(", ")}. ${SCHEMA_LEGEND}`;
    // Large databases: stop at the result cap on a table boundary and say how to see the rest.
    const blocks: string[] = [header];
    let size = header.length;
    let shown = 0;
    for (const relation of relations) {
      const block = formatRelation(relation, descriptions, defaultSchema);
      if (size + block.length + 2 > services.maxResultBytes) break;
      blocks.push(block);
      size += block.length + 2;
      shown++;
    }
    if (shown < relations.length) {
      blocks.push(`(Schema cut after ${shown} of ${relations.length} tables at the size limit: use list_tables, then describe_table, or pass schema.)`);
    }
    const text = relations.length ? blocks.join("\n\n") : `${header}\n\nNo tables are visible${args.schema ? ` in schema ${args.schema}` : ""}.`;
    return { result: textResult(text), audit: { verdict: "allowed", rows: relations.length, bytes: Buffer.byteLength(text) } };
  },
};
