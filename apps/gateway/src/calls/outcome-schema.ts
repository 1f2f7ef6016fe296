import { ACCESS_LEVELS } from "@portcullis/policy/scope";
import { z } from "zod";
import type { CallOutcome } from "./call-outcome.js";
import { copyWithLazyRows } from "./lazy-rows.js";
import { pendingWriteSchema } from "./pending-write.js";

const access = z.enum(ACCESS_LEVELS);

export const linkAllowanceSchema = z.object({
  access,
  tables: z.record(z.string(), access).describe('Tables whose access differs from the link default, "schema.table" → access'),
  maxRows: z.number().int(),
  statementTimeoutMs: z.number().int(),
});

export const refusalSchema = z.object({
  ruleId: z.string(),
  reason: z.string(),
  statementIndex: z.number().int().optional(),
  object: z.string().optional(),
  needs: z.enum(["read", "write", "admin"]).optional(),
  allows: linkAllowanceSchema.optional(),
  stepUpScopes: z.array(z.string()).optional(),
});

export const failureSchema = z.object({
  code: z.enum(["invalid_arguments", "not_found", "target_unavailable", "statement_error", "internal"]),
  message: z.string(),
  retryable: z.boolean(),
});

/**
 * The structuredContent of a tool: `{status:"ok", …data}`, `{status:"refused", refusal}` or
 * `{status:"failed", failure}`. Every arm is in the one schema because 1.x clients validate
 * structuredContent against outputSchema even on isError results (and throw when it does not match).
 */
export function structuredSchema(output: z.ZodObject, options: { pending?: boolean } = {}) {
  const ok = z.object({ status: z.literal("ok") }).extend(output.shape);
  const refused = z.object({ status: z.literal("refused"), refusal: refusalSchema });
  const failed = z.object({ status: z.literal("failed"), failure: failureSchema });
  // Tools that can answer with a pending write request (execute_sql) list that arm too.
  return options.pending ? z.discriminatedUnion("status", [ok, pendingWriteSchema, refused, failed]) : z.discriminatedUnion("status", [ok, refused, failed]);
}

/** JSON Schema 2020-12 of a tool's structuredContent; root `type: "object"` as 2025-11-25 requires. */
export function outputJsonSchema(output: z.ZodObject, options: { pending?: boolean } = {}): Record<string, unknown> {
  const schema = z.toJSONSchema(structuredSchema(output, options), { target: "draft-2020-12" }) as Record<string, unknown>;
  return { ...schema, type: "object" };
}

export function inputJsonSchema(input: z.ZodType): Record<string, unknown> {
  const schema = z.toJSONSchema(input, { target: "draft-2020-12", io: "input" }) as Record<string, unknown>;
  return schema.type === "object" ? schema : { ...schema, type: "object" };
}

/**
 * Pre-serialized rows carried next to `data.rows` (execute_sql reads every row as JSON text once, to
 * enforce the byte cap exactly): renderers splice it instead of serializing the rows again.
 */
export const ROWS_JSON = Symbol("rowsJson");

export function structuredContentOf(outcome: CallOutcome): Record<string, unknown> {
  switch (outcome.kind) {
    case "ok":
      return copyWithLazyRows({ status: "ok" }, outcome.data);
    case "pending":
      return { ...outcome.data };
    case "refused":
      return { status: "refused", refusal: outcome.refusal };
    case "failed":
      return { status: "failed", failure: outcome.failure };
  }
}
