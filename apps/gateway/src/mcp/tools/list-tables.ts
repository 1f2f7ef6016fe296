import { hiddenNames, visibleObjects } from "@portcullis/policy";
import { z } from "zod";
import type { TypedTool } from "../../calls/call-outcome.js";
import { displayName, tableDescription } from "./schema-format.js";

const input = z.object({
  schema: z.string().max(63).optional().describe("Only this schema (default: every schema the link can see)"),
});

const output = z.object({
  tables: z.array(
    z.object({
      name: z.string().describe("As SQL on this link writes it: bare on the first schema of the search path, else schema.table"),
      schema: z.string(),
      kind: z.string(),
      access: z.enum(["read", "write", "admin"]),
      description: z.string().optional(),
    }),
  ),
});

export const listTablesTool: TypedTool<typeof input> = {
  name: "list_tables",
  title: () => "List tables",
  description: () => "Tables and views this link can see, one per line, with their kind, access and description.",
  input,
  output,
  annotations: () => ({ readOnlyHint: true, idempotentHint: true, openWorldHint: false }),
  async run(args, ctx, services) {
    const catalog = await services.catalogFor(ctx.link);
    const visible = visibleObjects(ctx.link.scope, catalog);
    const descriptions = await services.descriptions.forLink(ctx.link.connection.id, hiddenNames(ctx.link.scope, catalog));
    const defaultSchema = visible.searchPath[0];
    const tables = visible.relations
      .filter((r) => !args.schema || r.schema === args.schema)
      .map((r) => {
        const description = tableDescription(r, descriptions)?.replace(/\s+/g, " ").trim();
        return { name: displayName(r, defaultSchema), schema: r.schema, kind: r.kind as string, access: r.access, ...(description ? { description } : {}) };
      });
    const lines = tables.map((t) => {
      const flags = [t.kind === "table" ? null : t.kind.replace("_", " "), t.access === "read" ? null : t.access].filter(Boolean);
      return `${t.name}${flags.length ? ` (${flags.join(", ")})` : ""}${t.description ? ` — ${t.description}` : ""}`;
    });
    const text = lines.length ? lines.join("\n") : "No tables are visible through this link.";
    return { kind: "ok", data: { tables }, text, audit: { verdict: "allowed", rows: lines.length, bytes: Buffer.byteLength(text) } };
  },
};
