import type { Verdict } from "@portcullis/policy";
import { z } from "zod";
import type { CheckedExecution } from "../execution/execute-checked.js";
import type { RunOutcome } from "../execution/run-statement.js";
import { columnTypeNames } from "../mcp/tools/column-types.js";
import type { CallContext } from "../context.js";
import type { Services } from "../services.js";
import { defineLazyRows } from "./lazy-rows.js";
import { ROWS_JSON } from "./outcome-schema.js";

/**
 * execute_sql's answer to a statement that ran, shared by a direct call and the execution of an approved
 * write request (issue 15), so both answer alike and the stored result is what the caller would have seen.
 */
export const STATEMENT_CLASSES = ["select", "insert", "update", "delete", "merge", "ddl", "explain", "other"] as const;
type StatementClassName = (typeof STATEMENT_CLASSES)[number];

export const truncationSchema = z.object({
  value: z.boolean(),
  by: z.enum(["rows", "bytes"]).optional(),
  limit: z.number().int().optional().describe("The row limit or byte limit that cut the result"),
  note: z.string().optional(),
});

export const sqlResultSchema = z.object({
  columns: z.array(z.object({ name: z.string(), type: z.string().describe("PostgreSQL type, as format_type names it") })),
  rows: z.array(z.array(z.unknown())).describe("One array per row, values in column order; numeric, int8 and dates as strings"),
  rowCount: z.number().int().describe("Rows returned"),
  truncated: truncationSchema,
  statementClass: z.enum(STATEMENT_CLASSES),
  command: z.string().optional().describe("PostgreSQL's command tag (SELECT, INSERT, CREATE, …)"),
  affected: z.number().int().optional().describe("Rows inserted, updated, deleted or merged"),
});
export type SqlResultData = z.infer<typeof sqlResultSchema>;

function formatSize(bytes: number): string {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

/** Why and where a result was cut, in words a model can act on. */
export function truncationOf(outcome: RunOutcome, maxRows: number, maxBytes: number): z.infer<typeof truncationSchema> {
  if (!outcome.truncated) return { value: false };
  const by = outcome.oversizedRowBytes !== null || outcome.truncatedBy === "bytes" ? "bytes" : "rows";
  const why =
    outcome.oversizedRowBytes !== null
      ? `the next row alone is ${formatSize(outcome.oversizedRowBytes)}, more than the ${Math.round(maxBytes / 1024)} KiB size limit allows, so it was not read and the query was cancelled`
      : by === "bytes"
        ? `the result reached the ${Math.round(maxBytes / 1024)} KiB size limit`
        : `the link returns at most ${maxRows} rows per call`;
  return {
    value: true,
    by,
    limit: by === "bytes" ? maxBytes : maxRows,
    note: `Result cut after ${outcome.rowCount} rows: ${why}. Narrow the query (WHERE, LIMIT, aggregates) to see the rest.`,
  };
}

const DML: Record<string, StatementClassName> = { INSERT: "insert", UPDATE: "update", DELETE: "delete", MERGE: "merge" };
const DML_CLASSES = { insert: 1, update: 1, delete: 1, merge: 1 } as Record<string, 1>;

export function statementClassOf(verdict: Verdict, command: string | null): StatementClassName {
  if (verdict.classes.includes("ddl")) return "ddl";
  if (command === "SELECT") return "select";
  if (command === "EXPLAIN") return "explain";
  if (command === null && verdict.classes.every((c) => c === "read")) return "select";
  return (command && DML[command]) || "other";
}

/**
 * The statement's own command tag. A result cut at the row limit never completes, and the execution
 * layer then reports the wrapper's ROLLBACK/COMMIT tag instead: that one is not the statement's.
 */
function commandOf(outcome: RunOutcome): string | null {
  if (outcome.truncated && (outcome.command === "ROLLBACK" || outcome.command === "COMMIT")) return null;
  return outcome.command;
}

/**
 * A write checked against a row filter runs as `WITH … INSERT/UPDATE … RETURNING … SELECT …`: the tag is
 * SELECT, and without a caller RETURNING each written row comes back as a row of no columns. The
 * caller asked for an INSERT or UPDATE, and gets that answer: its verb, rows affected, no rows.
 */
function checkedWrite(verdict: Verdict, outcome: RunOutcome): RunOutcome {
  if (!verdict.rewrite?.writeCheck || outcome.command !== "SELECT") return outcome;
  const verb = verdict.rewrite.notes.map((n) => /: (INSERT|UPDATE) checked against the row filter/.exec(n)?.[1]).find(Boolean) ?? null;
  const affected = outcome.commandRowCount;
  if (outcome.columns.length > 0) return { ...outcome, command: verb ?? outcome.command };
  return { ...outcome, command: verb, commandRowCount: affected, rowsJson: [], rowCount: 0, truncated: false, truncatedBy: null };
}

/** Rows as parsed values for structuredContent; the pre-serialized text travels along (not enumerable) for the text block. */
export function rowsData(outcome: RunOutcome): unknown[][] {
  const json = `[${outcome.rowsJson.join(",")}]`;
  const rows = JSON.parse(json) as unknown[][];
  Object.defineProperty(rows, ROWS_JSON, { value: json, enumerable: false });
  return rows;
}

/**
 * Below this many bytes of rows, parsing them back costs less than keeping them lazy (two property
 * definitions and a copy): measured crossover ~1.5 KB (10 rows: 14 vs 16 µs; 100: 56 vs 31; 1,000: 430 vs 215).
 */
const LAZY_ROWS_MIN_BYTES = 1024;

/** The data of a statement that ran, and the numbers its audit event carries. */
export async function sqlResultOf(
  services: Services,
  ctx: CallContext,
  execution: CheckedExecution,
): Promise<{ data: SqlResultData; rows: number; bytes: number }> {
  const { verdict } = execution;
  const outcome = checkedWrite(verdict, execution.outcome!);
  const types = await columnTypeNames(() => services.poolFor(ctx.link), outcome.columns.map((c) => c.typeOid));
  const command = commandOf(outcome);
  const statementClass = statementClassOf(verdict, command);
  const affected = statementClass in DML_CLASSES && command !== null ? { affected: outcome.commandRowCount ?? 0 } : {};
  const data: SqlResultData = {
    columns: outcome.columns.map((c, i) => ({ name: c.name, type: types[i]! })),
    // Small results are parsed now; bigger ones stay text until read (below).
    rows: outcome.bytes < LAZY_ROWS_MIN_BYTES ? rowsData(outcome) : (undefined as unknown as unknown[][]),
    rowCount: outcome.rowCount,
    truncated: truncationOf(outcome, ctx.link.scope.limits.maxRows, services.maxResultBytes),
    statementClass,
    ...(command ? { command } : {}),
    ...affected,
  };
  if (outcome.bytes >= LAZY_ROWS_MIN_BYTES) defineLazyRows(data, `[${outcome.rowsJson.join(",")}]`);
  return { data, rows: outcome.columns.length ? outcome.rowCount : (outcome.commandRowCount ?? 0), bytes: outcome.bytes };
}
