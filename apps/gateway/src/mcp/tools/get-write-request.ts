import type { WriteRequestRow } from "@portcullis/db/operations";
import { z } from "zod";
import { isMultiDatabase } from "../../access/link-database.js";
import type { TypedTool } from "../../calls/call-outcome.js";
import { writePreviewSchema } from "../../calls/pending-write.js";
import { onRequestDatabase, ownRequest, throughCurrentScope } from "../../calls/write-requests.js";

const input = z.object({ requestId: z.string().uuid().describe("The requestId execute_sql answered with") });

const STATUSES = ["pending", "approved", "rejected", "expired", "executing", "executed", "failed"] as const;

/**
 * The envelope's own `status` is "ok" (every tool's structuredContent carries it), so the request's
 * state is `requestStatus` here.
 */
const output = z.object({
  requestId: z.string(),
  requestStatus: z.enum(STATUSES),
  kind: z.enum(["approval", "confirm"]),
  mode: z.string().describe("The rule that applied: writes, destructive or confirm"),
  tables: z.array(z.string()),
  reason: z.string(),
  sql: z.string(),
  params: z.array(z.unknown()),
  preview: writePreviewSchema.nullable(),
  createdAt: z.string(),
  expiresAt: z.string(),
  executeBefore: z.string().optional().describe("An approved request must run before this time"),
  decision: z.object({ by: z.string().nullable(), at: z.string(), comment: z.string().optional() }).optional(),
  database: z.string().optional().describe("Multi-database links: the database the request runs on"),
  result: z.unknown().optional().describe("What execute_sql returned when it ran (rows bounded; withheld, counts kept, when the link's scope changed since)"),
  error: z.string().optional(),
  next: z.string().describe("What to do now"),
});

function nextWords(r: WriteRequestRow, database: string | undefined): string {
  const on = database ? ` and "database": ${JSON.stringify(database)}` : "";
  const run = `run execute_sql with exactly the same sql and params plus "requestId": "${r.id}"${on}`;
  switch (r.status) {
    case "pending":
      return r.kind === "approval"
        ? `Waiting for a lead's decision (until ${r.expiresAt.toISOString()}). Do not run it yet; ask again later. Once approved, ${run}.`
        : `Waiting for your confirmation (until ${r.expiresAt.toISOString()}): confirm it in the Portcullis dashboard (Approvals), then ${run}.`;
    case "approved":
      return `Approved: ${run}${r.executeBefore ? ` before ${r.executeBefore.toISOString()}` : ""}. It runs once.`;
    case "rejected":
      return "Rejected: do not run it. Read the comment, change the statement if the reason allows, and ask again with execute_sql (without requestId).";
    case "expired":
      return "Expired: nothing ran. Ask again with execute_sql without requestId.";
    case "executing":
      return "It is being executed now; ask again in a moment for its result.";
    case "executed":
      return "Executed: result holds what it returned. It cannot run again.";
    case "failed":
      return "Failed: error says why; nothing more will run for this request. Ask again with execute_sql (without requestId) if it still makes sense.";
  }
}

async function deciderEmail(db: { query(text: string, values: unknown[]): Promise<{ rows: { email?: string }[] }> }, id: string | null): Promise<string | null> {
  if (!id) return null;
  return (await db.query("SELECT email FROM users WHERE id = $1::uuid", [id])).rows[0]?.email ?? null;
}

export const getWriteRequestTool: TypedTool<typeof input> = {
  name: "get_write_request",
  title: () => "Check a write request",
  description: () =>
    "Shows a write request execute_sql made for a write that needs a decision: its status (pending, approved, rejected, expired, executing, executed, failed), the preview, the decision and, once it ran, the result. " +
    "`next` says what to do. Only requests you made on this link are visible.",
  input,
  output,
  annotations: () => ({ readOnlyHint: true, idempotentHint: true, openWorldHint: false }),
  async run(args, ctx, services) {
    const r = await ownRequest(services, ctx, args.requestId, false);
    // Another member's, link's or team's request reads exactly like one that does not exist.
    if (!r) {
      const message = `No write request ${args.requestId} of yours on this link.`;
      return { kind: "failed", failure: { code: "not_found", message, retryable: false }, audit: { verdict: "error", error: message } };
    }
    // Rows read under another scope than the link's current one are withheld (counts stay).
    // Judged by the scope of the database the request was made on (issue 17), not the call's default.
    const on = onRequestDatabase(ctx, r);
    const current = throughCurrentScope(r, on);
    const database = isMultiDatabase(ctx.link) ? (r.databaseName ?? on?.link.databaseName) : undefined;
    const by = r.decidedAt ? await deciderEmail(services.metadata as never, r.decidedBy) : null;
    const data = {
      requestId: r.id,
      requestStatus: r.status,
      kind: r.kind,
      mode: r.mode,
      tables: r.tables,
      reason: r.reason,
      sql: r.sql,
      params: r.params,
      preview: current.preview,
      createdAt: r.createdAt.toISOString(),
      expiresAt: r.expiresAt.toISOString(),
      ...(r.executeBefore ? { executeBefore: r.executeBefore.toISOString() } : {}),
      ...(r.decidedAt ? { decision: { by, at: r.decidedAt.toISOString(), ...(r.decisionComment ? { comment: r.decisionComment } : {}) } } : {}),
      ...(current.result !== null && current.result !== undefined ? { result: current.result } : {}),
      ...(current.error ? { error: current.error } : {}),
      next: nextWords(r, database),
      ...(database ? { database } : {}),
    };
    // Audited on the request's database, which the call followed.
    return { kind: "ok", data, audit: { verdict: "allowed", writeRequestId: r.id, ...(on && on !== ctx ? { databaseName: on.link.databaseName ?? null } : {}) } };
  },
};
