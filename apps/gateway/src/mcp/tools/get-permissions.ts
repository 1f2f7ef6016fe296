import { describeScope } from "@portcullis/policy";
import { z } from "zod";
import { textResult, type ToolDefinition } from "./types.js";

const input = z.object({});

export const getPermissionsTool: ToolDefinition<typeof input> = {
  name: "get_permissions",
  title: "What this link may do",
  description: () => "This link's permissions in plain words: access per table, hidden columns, row limit and statement timeout.",
  input,
  readOnlyHint: true,
  async run(_args, ctx, services) {
    const catalog = await services.catalogFor(ctx.link);
    const text = [
      describeScope(ctx.link.scope, catalog),
      `Results are also cut at ${Math.round(services.maxResultBytes / 1024)} KiB per call.`,
      "One statement per call. Reads run in a read-only transaction.",
    ].join("\n");
    return { result: textResult(text), audit: { verdict: "allowed", bytes: Buffer.byteLength(text) } };
  },
};
