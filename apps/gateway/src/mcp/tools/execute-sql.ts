import { z } from "zod";
import { executeChecked } from "../../execution/execute-checked.js";
import type { RunOutcome } from "../../execution/run-statement.js";
import type { LinkRecord } from "../../context.js";
import { sqlParams, sqlText } from "./sql-input.js";
import { textResult, type ToolDefinition } from "./types.js";

const input = z.object({ sql: sqlText, params: sqlParams });

function accessWords(link: LinkRecord): string {
  const levels = new Set([link.scope.access, ...Object.values(link.scope.tables).map((t) => t.access ?? link.scope.access)]);
  if (levels.has("admin")) return "reads, writes and schema changes where the scope allows them";
  if (levels.has("write")) return "reads, and writes on the tables the scope allows";
  return "read-only";
}

function formatSize(bytes: number): string {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

/** The result as compact JSON: column names once, rows as arrays (already serialized while reading). */
export function formatRows(outcome: RunOutcome, maxRows: number, maxBytes: number): string {
  const columns = JSON.stringify(outcome.columns.map((c) => c.name));
  let text: string;
  if (outcome.columns.length === 0) {
    text = `{"command":${JSON.stringify(outcome.command)},"rowCount":${outcome.commandRowCount ?? 0}`;
  } else {
    text = `{"columns":${columns},"rows":[${outcome.rowsJson.join(",")}],"rowCount":${outcome.rowCount}`;
    if (outcome.command && outcome.command !== "SELECT") text += `,"command":${JSON.stringify(outcome.command)},"affected":${outcome.commandRowCount ?? 0}`;
  }
  text += `,"truncated":${outcome.truncated}`;
  if (outcome.truncated) {
    const why =
      outcome.oversizedRowBytes !== null
        ? `the next row alone is ${formatSize(outcome.oversizedRowBytes)}, more than the ${Math.round(maxBytes / 1024)} KiB size limit allows, so it was not read and the query was cancelled`
        : outcome.truncatedBy === "bytes"
          ? `the result reached the ${Math.round(maxBytes / 1024)} KiB size limit`
          : `the link returns at most ${maxRows} rows per call`;
    text += `,"note":${JSON.stringify(`Result cut after ${outcome.rowCount} rows: ${why}. Narrow the query (WHERE, LIMIT, aggregates) to see the rest.`)}`;
  }
  return `${text}}`;
}

export const executeSqlTool: ToolDefinition<typeof input> = {
  name: "execute_sql",
  title: "Run SQL",
  description: (link) =>
    `Runs one SQL statement against the database and returns {columns, rows, rowCount, truncated}. This link is ${accessWords(link)}; ` +
    `at most ${link.scope.limits.maxRows} rows per call, ${link.scope.limits.statementTimeoutMs / 1000} s timeout. ` +
    "Use $1, $2 placeholders with params for values. Refusals explain what the link allows.",
  input,
  readOnlyHint: false,
  async run(args, ctx, services) {
    const execution = await executeChecked(services, ctx.link, { sql: args.sql, params: args.params });
    const { verdict } = execution;
    const base = { sql: args.sql, fingerprint: verdict.fingerprint || undefined, tables: verdict.tables };
    if (!verdict.allowed || execution.refusal) {
      const ruleId = execution.refusal?.ruleId ?? verdict.ruleId;
      const reason = execution.refusal?.reason ?? verdict.reason ?? "refused";
      return { result: textResult(`Refused: ${reason}`, true), audit: { ...base, verdict: "blocked", ruleId, reason } };
    }
    if (execution.error) {
      return { result: textResult(execution.error, true), audit: { ...base, verdict: "error", error: execution.error } };
    }
    const outcome = execution.outcome!;
    const text = formatRows(outcome, ctx.link.scope.limits.maxRows, services.maxResultBytes);
    return {
      result: textResult(text),
      audit: { ...base, verdict: "allowed", wrote: !verdict.readOnly, rows: outcome.columns.length ? outcome.rowCount : (outcome.commandRowCount ?? 0), bytes: Buffer.byteLength(text) },
    };
  },
};
