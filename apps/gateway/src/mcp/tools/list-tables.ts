import { hiddenNames, visibleObjects } from "@portcullis/policy";
import { z } from "zod";
import { displayName, tableDescription } from "./schema-format.js";
import { textResult, type ToolDefinition } from "./types.js";

const input = z.object({
  schema: z.string().max(63).optional().describe("Only this schema (default: every schema the link can see)"),
});

export const listTablesTool: ToolDefinition<typeof input> = {
  name: "list_tables",
  title: "List tables",
  description: () => "Tables and views this link can see, one per line, with their kind, access and description.",
  input,
  readOnlyHint: true,
  async run(args, ctx, services) {
    const catalog = await services.catalogFor(ctx.link);
    const visible = visibleObjects(ctx.link.scope, catalog);
    const descriptions = await services.descriptions.forLink(ctx.link.connection.id, hiddenNames(ctx.link.scope, catalog));
    const defaultSchema = visible.searchPath[0];
    const lines = visible.relations
      .filter((r) => !args.schema || r.schema === args.schema)
      .map((r) => {
        const flags = [r.kind === "table" ? null : r.kind.replace("_", " "), r.access === "read" ? null : r.access].filter(Boolean);
        const description = tableDescription(r, descriptions);
        return `${displayName(r, defaultSchema)}${flags.length ? ` (${flags.join(", ")})` : ""}${description ? ` — ${description.replace(/\s+/g, " ").trim()}` : ""}`;
      });
    const text = lines.length ? lines.join("\n") : "No tables are visible through this link.";
    return { result: textResult(text), audit: { verdict: "allowed", rows: lines.length, bytes: Buffer.byteLength(text) } };
  },
};
