import { z } from "zod";

/**
 * The dry run of a write that needs a person's decision (issue 15, docs/design/approvals.md §3): what
 * the statement would do, read in a transaction that is always rolled back. Rows are the link's view of
 * them — visible columns only, masked values masked, filtered rows absent — because the preview reaches
 * the model, the approver and notifications alike.
 */
/**
 * The command label of a statement that runs code (a user function, DO, CALL): what it writes is what
 * the code writes, which nobody can list — never "DDL on <table>". The worker's notifications match it.
 */
export const OPAQUE_COMMAND = "runs code (function call / DO / CALL) whose writes cannot be listed";

export const writePreviewSchema = z.object({
  command: z.string().describe(`INSERT, UPDATE, DELETE, TRUNCATE, MERGE, the DDL's command, or "${OPAQUE_COMMAND}"`),
  affected: z.number().int().nullable().describe("Rows the statement would change (null when the dry run could not tell)"),
  table: z.string().nullable().describe('"schema.table" written, when there is one'),
  columns: z.array(z.string()).describe("Columns of before/after, visible ones only"),
  keyColumns: z.array(z.string()).describe("The table's primary key when visible and unmasked (rows of before/after match by it), else []"),
  before: z.array(z.array(z.unknown())).describe("Up to 5 rows as they are now (UPDATE, DELETE)"),
  after: z.array(z.array(z.unknown())).describe("Up to 5 rows as the statement would leave them (INSERT, UPDATE)"),
  plan: z.unknown().nullable().describe("EXPLAIN (FORMAT JSON) of the statement, redacted like explain_query"),
  notes: z.array(z.string()).describe("What the preview could not show, and why"),
  functions: z.array(z.string()).optional().describe("The user functions or procedures the statement runs (schema.name), when the policy names them"),
  durationMs: z.number(),
  tablesChanged: z
    .array(z.object({ table: z.string().describe('"schema.table", or "another table" for one the link does not show'), inserted: z.number().int(), updated: z.number().int(), deleted: z.number().int() }))
    .optional()
    .describe("Rows each table gained, changed or lost in the dry run, rules and triggers included"),
  codeDigest: z.string().optional().describe("md5 of the code the write reaches (functions, triggers, rules) when the preview was taken; execution refuses if it changed"),
});
export type WritePreview = z.infer<typeof writePreviewSchema>;

export const pendingWriteShape = {
  requestId: z.string().describe("Pass it to get_write_request, and to execute_sql (with the same sql and params) once approved"),
  kind: z.enum(["approval", "confirm"]).describe("approval: a lead decides; confirm: you (the caller) confirm"),
  preview: writePreviewSchema,
  expiresAt: z.string().describe("ISO time the request expires when nobody decides"),
  message: z.string().describe("What happens next, in words"),
};

/** structuredContent of a call answered with a pending request (not an error: nothing ran, by design). */
export const pendingWriteSchema = z.object({ status: z.literal("pending_approval"), ...pendingWriteShape });
export type PendingWrite = z.infer<typeof pendingWriteSchema>;
