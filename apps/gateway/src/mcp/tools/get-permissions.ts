import { describeScope } from "@portcullis/policy";
import { z } from "zod";
import type { TypedTool } from "../../calls/call-outcome.js";
import { linkAllowance } from "../../calls/link-allowance.js";
import { linkAllowanceSchema } from "../../calls/outcome-schema.js";

const input = z.object({});

const output = z.object({
  allows: linkAllowanceSchema,
  maxResultBytes: z.number().int().describe("Results are also cut at this many bytes per call"),
  summary: z.string().describe("The same in plain words, with hidden columns"),
});

export const getPermissionsTool: TypedTool<typeof input> = {
  name: "get_permissions",
  title: () => "What this link may do",
  description: () => "This link's permissions in plain words and as data: access per table, hidden columns, row limit and statement timeout.",
  input,
  output,
  annotations: () => ({ readOnlyHint: true, idempotentHint: true, openWorldHint: false }),
  async run(_args, ctx, services) {
    const catalog = await services.catalogFor(ctx.link);
    const summary = [
      describeScope(ctx.link.scope, catalog),
      `Results are also cut at ${Math.round(services.maxResultBytes / 1024)} KiB per call.`,
      "One statement per call. Reads run in a read-only transaction.",
    ].join("\n");
    return {
      kind: "ok",
      data: { allows: linkAllowance(ctx.link), maxResultBytes: services.maxResultBytes, summary },
      text: summary,
      audit: { verdict: "allowed", bytes: Buffer.byteLength(summary) },
    };
  },
};
