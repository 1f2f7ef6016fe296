import { z } from "zod";
import { executeChecked } from "../../execution/execute-checked.js";
import { sqlParams, sqlText } from "./sql-input.js";
import { textResult, type ToolDefinition } from "./types.js";

const input = z.object({
  sql: sqlText,
  params: sqlParams,
  analyze: z.boolean().optional().describe("Run the statement to report actual times (reads only; always rolled back)"),
});

export const explainQueryTool: ToolDefinition<typeof input> = {
  name: "explain_query",
  title: "Explain a query",
  description: () =>
    "Shows PostgreSQL's plan for one statement (EXPLAIN), optionally with actual run times (analyze). Checked against the link's permissions like execute_sql; never changes data.",
  input,
  readOnlyHint: true,
  async run(args, ctx, services) {
    const prefix = args.analyze ? "EXPLAIN (ANALYZE, BUFFERS) " : "EXPLAIN ";
    const sql = prefix + args.sql;
    // The policy judges the EXPLAIN as a whole (EXPLAIN ANALYZE of a write is a write), and the
    // transaction is rolled back whatever it was.
    const execution = await executeChecked(services, ctx.link, {
      sql,
      params: args.params,
      forceRollback: true,
      positionShift: prefix.length,
      // A plan is not a result set: the link's row limit does not apply to its lines.
      maxRows: 10_000,
    });
    const { verdict } = execution;
    const base = { sql, fingerprint: verdict.fingerprint || undefined, tables: verdict.tables };
    if (!verdict.allowed || execution.refusal) {
      const ruleId = execution.refusal?.ruleId ?? verdict.ruleId;
      const reason = execution.refusal?.reason ?? verdict.reason ?? "refused";
      return { result: textResult(`Refused: ${reason}`, true), audit: { ...base, verdict: "blocked", ruleId, reason } };
    }
    if (execution.error) return { result: textResult(execution.error, true), audit: { ...base, verdict: "error", error: execution.error } };
    const outcome = execution.outcome!;
    const lines = outcome.rowsJson.map((row) => (JSON.parse(row) as unknown[])[0]).join("\n");
    const text = outcome.truncated ? `${lines}\n(plan cut at the size limit)` : lines;
    return { result: textResult(text), audit: { ...base, verdict: "allowed", rows: outcome.rowCount, bytes: Buffer.byteLength(text) } };
  },
};
