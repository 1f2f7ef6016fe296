import { z } from "zod";

/**
 * The shape of a curated tool (issue 17, docs/design/reach.md "Curated tools"), shared by the
 * dashboard, the CLI (which save them) and the gateway (which builds each tool's input from it).
 */

/** The built-in tools' names (TOOLS of apps/gateway/src/mcp/tools/index.ts; a gateway test compares them). */
export const BUILT_IN_TOOL_NAMES = [
  "get_schema",
  "list_tables",
  "describe_table",
  "execute_sql",
  "explain_query",
  "get_permissions",
  "search_objects",
  "get_write_request",
  "request_access",
] as const;
export type BuiltInToolName = (typeof BUILT_IN_TOOL_NAMES)[number];

export const SAVED_TOOL_NAME = /^[a-z][a-z0-9_]{0,63}$/;
export const SAVED_TOOL_PARAMETER_TYPES = ["string", "integer", "number", "boolean", "date", "timestamp", "uuid"] as const;
export type SavedToolParameterType = (typeof SAVED_TOOL_PARAMETER_TYPES)[number];
export const MAX_SAVED_TOOL_PARAMETERS = 20;
/**
 * Argument names a parameter may not take: `database` selects one of a link's databases for every tool
 * (run-call reads it before the tool runs), so a parameter of that name would be taken as a database.
 */
export const RESERVED_PARAMETER_NAMES: readonly string[] = ["database"];

/**
 * A parameter value of each type, as a caller sends it (JSON) and as it is bound. Dates and timestamps
 * stay the ISO text the server parses; integers are safe integers (z.int), never numeric strings, so a
 * value is never anything but one typed value.
 */
export function savedToolValueSchema(type: SavedToolParameterType): z.ZodType<string | number | boolean> {
  switch (type) {
    case "string":
      return z.string().max(10_000);
    case "integer":
      return z.int();
    case "number":
      return z.number();
    case "boolean":
      return z.boolean();
    case "date":
      return z.iso.date();
    case "timestamp":
      // RFC 3339 with its offset (JSON Schema's date-time): never read in whatever zone the session has.
      return z.iso.datetime({ offset: true });
    case "uuid":
      // Any 8-4-4-4-12 hex, as PostgreSQL's uuid input accepts (z.uuid() also checks the RFC variant bits).
      return z.guid();
  }
}

export const savedToolParameterSchema = z
  .strictObject({
    name: z
      .string()
      .regex(SAVED_TOOL_NAME, "a parameter name is lower case letters, digits and _ (starting with a letter, at most 64)")
      .refine((n) => !RESERVED_PARAMETER_NAMES.includes(n), { message: "`database` is reserved (it selects one of the link's databases)" })
      // An argument object inherits these (constructor, valueOf…): a missing argument would read as one.
      .refine((n) => !(n in Object.prototype), { message: "that name is reserved (a property every JavaScript object has); choose another" }),
    type: z.enum(SAVED_TOOL_PARAMETER_TYPES),
    description: z.string().trim().max(1_000).default(""),
    required: z.boolean().default(true),
    default: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
  })
  .superRefine((p, ctx) => {
    if (p.default === undefined || p.default === null) return;
    if (p.required) ctx.addIssue({ code: "custom", path: ["default"], message: "a required parameter has no default (make it optional to give one)" });
    else if (!savedToolValueSchema(p.type).safeParse(p.default).success)
      ctx.addIssue({ code: "custom", path: ["default"], message: `the default is not a valid ${p.type}` });
  });
export type SavedToolParameterInput = z.input<typeof savedToolParameterSchema>;
export type SavedToolParameterValue = z.output<typeof savedToolParameterSchema>;

/** What an admin saves: the dashboard's form and the CLI's flags both end here. */
export const savedToolSchema = z.strictObject({
  name: z
    .string()
    .trim()
    .regex(SAVED_TOOL_NAME, "a tool name is lower case letters, digits and _ (starting with a letter, at most 64)")
    .refine((n) => !(BUILT_IN_TOOL_NAMES as readonly string[]).includes(n), { message: "that is the name of a built-in tool; choose another" }),
  title: z
    .string()
    .trim()
    .max(200)
    .nullish()
    .transform((t) => t || null),
  description: z.string().trim().min(1, "a tool needs a description (the model reads it to choose the tool)").max(2_000, "a description is at most 2,000 characters"),
  sql: z.string().trim().min(1, "a tool needs its SQL").max(100_000),
  parameters: z
    .array(savedToolParameterSchema)
    .max(MAX_SAVED_TOOL_PARAMETERS, `at most ${MAX_SAVED_TOOL_PARAMETERS} parameters`)
    .default([])
    .superRefine((ps, ctx) => {
      const seen = new Set<string>();
      for (const [i, p] of ps.entries()) {
        if (seen.has(p.name)) ctx.addIssue({ code: "custom", path: [i, "name"], message: `two parameters are named ${p.name}` });
        seen.add(p.name);
      }
    }),
  /** Which of the link's databases it runs on; null or absent: the link's first. */
  databaseName: z
    .string()
    .trim()
    .max(63)
    .nullish()
    .transform((d) => d || null),
});
export type SavedToolInput = z.input<typeof savedToolSchema>;
export type SavedTool = z.output<typeof savedToolSchema>;

export const disabledToolsSchema = z
  .array(z.enum(BUILT_IN_TOOL_NAMES, { message: `a built-in tool is one of ${BUILT_IN_TOOL_NAMES.join(", ")}` }))
  .max(BUILT_IN_TOOL_NAMES.length)
  .transform((names) => [...new Set(names)].sort());
