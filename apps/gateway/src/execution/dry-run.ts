import { accessView, isGoverned, previewReturning, scopeHidesObjects, searchPathFor, type Catalog, type RelationAccess, type Verdict } from "@portcullis/policy";
import type pg from "pg";
import { OPAQUE_COMMAND, type WritePreview } from "../calls/pending-write.js";
import type { CallContext } from "../context.js";
import type { Services } from "../services.js";
import { CODE_DIGEST_SQL, codeDigestValues, codeReach, reachesCode } from "./code-digest.js";
import { costGate } from "./cost-gate.js";
import { describeConnectionFailure, describeDatabaseError, executeChecked, type GateRefusal } from "./execute-checked.js";
import { bindRewrite, describeAttributeError, rowFilterViolation } from "./rewrite-binding.js";
import { runStatement, type RunOutcome } from "./run-statement.js";
import { changeWords, hiddenEffects, readCounters, tablesChanged, THROUGH_NOTE } from "./tables-changed.js";
import { encodeParam } from "./values.js";

export type DryRunResult =
  | { ok: true; preview: WritePreview }
  | { ok: false; code: "statement_error" | "target_unavailable" | "invalid_arguments"; error: string; refusal?: GateRefusal };

const SAMPLE_ROWS = 5;

type Step = { kind: "ok"; outcome: RunOutcome; writeCheck: boolean } | { kind: "refused"; reason: string } | { kind: "failed"; error: string; refusal?: GateRefusal; fatal?: boolean };

interface Run {
  services: Services;
  ctx: CallContext;
  catalog: Catalog;
  pool: pg.Pool;
  client: pg.PoolClient;
  callerValues: (string | Buffer | null)[];
  hides: boolean;
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
const rowsOf = (outcome: RunOutcome) => outcome.rowsJson.map((row) => JSON.parse(row) as unknown[]);

/**
 * One statement of the dry run, checked by the policy exactly like a caller's (masks, row filters,
 * hidden columns: a text it refuses does not run), bound like one, and run inside the dry run's
 * transaction between a savepoint and its rollback. Rows beyond the sample are read and dropped, so the
 * command's own count is the number of rows the statement changes.
 */
async function checkedStep(run: Run, sql: string, values: (string | Buffer | null)[], ours: boolean, gated = false): Promise<Step> {
  const { services, ctx, catalog } = run;
  const verdict: Verdict = services.checker.check(sql, ctx.link.scope, catalog);
  if (!verdict.allowed) return { kind: "refused", reason: verdict.reason ?? verdict.ruleId ?? "refused" };
  if (verdict.statementCount !== 1) return { kind: "refused", reason: "not exactly one statement" };
  let bound = values;
  if (verdict.rewrite) {
    const binding = await bindRewrite(services, ctx.link, ctx.principal, verdict.rewrite, values);
    if (!binding.ok) return { kind: "failed", error: binding.error };
    bound = binding.values;
  }
  if (gated) {
    const refused = await costRefusal(run, verdict, verdict.rewrite?.sql ?? sql, bound);
    if (refused) return refused;
  }
  const outcome = await runStatement(run.pool, {
    sql: verdict.rewrite?.sql ?? sql,
    values: bound,
    readOnly: false,
    readAll: true,
    statementTimeoutMs: ctx.link.scope.limits.statementTimeoutMs,
    searchPath: searchPathFor(ctx.link.scope),
    maxRows: SAMPLE_ROWS,
    maxBytes: services.maxResultBytes,
    signal: ctx.signal,
    client: run.client,
  });
  if (outcome.abandoned || outcome.error?.fatal) return { kind: "failed", error: outcome.error ? describeConnectionFailure(outcome.error) : "A preview row was larger than the result size limit.", fatal: true };
  if (verdict.rewrite?.writeCheck) {
    const violation = rowFilterViolation(outcome, verdict, ctx.link);
    if (violation) return { kind: "failed", error: violation.reason, refusal: violation };
  }
  if (outcome.error) {
    const attribute = verdict.rewrite && describeAttributeError(outcome.error, verdict.rewrite, ctx.principal);
    // Positions point into our preview text, not the caller's: left out for our statements.
    return { kind: "failed", error: attribute || describeDatabaseError(outcome.error, sql, 0, run.hides, ctx.signal?.aborted === true, ours || verdict.rewrite !== undefined) };
  }
  return { kind: "ok", outcome, writeCheck: verdict.rewrite?.writeCheck === true };
}

/**
 * The cost gate (limits.maxEstimatedCost / maxEstimatedRows) before the dry run runs the caller's
 * statement: the dry run executes it (rolled back), so a heavy write would otherwise run to the
 * statement timeout before anyone is asked. Planned in the dry run's transaction, with its values; a
 * plain EXPLAIN executes nothing. Figures withheld where explain_query redacts estimates.
 */
async function costRefusal(run: Run, verdict: Verdict, runSql: string, values: (string | Buffer | null)[]): Promise<Step | null> {
  const gate = costGate(run.ctx.link.scope, verdict, runSql, { showEstimate: !verdict.rewrite && !run.hides });
  if (!gate) return null;
  if (gate.upfront) return { kind: "failed", error: gate.upfront.reason, refusal: gate.upfront };
  const preflight = gate.preflight();
  const planned = await runStatement(run.pool, {
    sql: preflight.sql,
    values,
    readOnly: false,
    statementTimeoutMs: run.ctx.link.scope.limits.statementTimeoutMs,
    searchPath: searchPathFor(run.ctx.link.scope),
    maxRows: 10,
    maxBytes: 4 * 1024 * 1024,
    signal: run.ctx.signal,
    client: run.client,
  });
  if (planned.abandoned || planned.error?.fatal) return { kind: "failed", error: planned.error ? describeConnectionFailure(planned.error) : "The plan was larger than the result size limit.", fatal: true };
  // A plan that fails fails as the statement would (its own error follows when it runs).
  if (planned.error) return null;
  if (preflight.proceed(planned)) return null;
  const refusal = gate.refusal ?? gate.unreadable();
  return { kind: "failed", error: refusal.reason, refusal };
}

/** The rows an UPDATE would change, as they are now: their keys re-read through a checked SELECT. */
async function beforeImage(run: Run, rel: RelationAccess, columns: string[], keyColumns: string[], after: unknown[][]): Promise<unknown[][] | string> {
  const keyIndex = keyColumns.map((k) => columns.indexOf(k));
  if (keyIndex.some((i) => i < 0)) return "the rows before are not shown: the key columns are not in the preview";
  const values: (string | null)[] = [];
  const tuples = after.map((row) => {
    const slots = keyIndex.map((i) => {
      values.push(encodeParam(row[i]));
      return `$${values.length}`;
    });
    return `(${slots.join(", ")})`;
  });
  const keys = `(${keyColumns.map(quote).join(", ")})`;
  const sql = `SELECT ${columns.map(quote).join(", ")} FROM ${quote(rel.relation.schema)}.${quote(rel.relation.name)} WHERE ${keys} IN (${tuples.join(", ")}) ORDER BY ${keyColumns.map(quote).join(", ")}`;
  const step = await checkedStep(run, sql, values, true);
  if (step.kind === "ok") return rowsOf(step.outcome);
  return `the rows before are not shown: ${step.kind === "refused" ? "the policy refused re-reading them" : "re-reading them failed"}`;
}

/** EXPLAIN (FORMAT JSON) of the statement, checked and redacted exactly as explain_query's plans are. */
async function planOf(services: Services, ctx: CallContext, sql: string, params: unknown[] | undefined): Promise<unknown> {
  const prefix = "EXPLAIN (FORMAT JSON) ";
  const explained = await executeChecked(services, ctx.link, { sql: prefix + sql, params, principal: ctx.principal, forceRollback: true, positionShift: prefix.length, maxRows: 10_000, signal: ctx.signal });
  const row = explained.outcome?.rowsJson[0];
  if (explained.refusal || explained.error || !explained.verdict.allowed || row === undefined) return null;
  const cell = (JSON.parse(row) as unknown[])[0];
  try {
    return typeof cell === "string" ? (JSON.parse(cell) as unknown) : cell;
  } catch {
    return cell;
  }
}

/** The user functions or procedures an opaque effect runs (possibly none named), or null when nothing opaque runs. */
function opaqueCode(verdict: Verdict): string[] | null {
  const opaque = verdict.writes.filter((w) => w.opaque);
  return opaque.length ? [...new Set(opaque.flatMap((w) => w.code ?? []))] : null;
}

/**
 * A statement that runs code writes whatever the code writes: labelled so (the pending message, the
 * dashboard and notifications read the label), with the functions it calls when the policy names them.
 * A target write beside it (INSERT … VALUES (f())) keeps its rows, described in a note.
 */
function labelOpaque(preview: WritePreview, verdict: Verdict): void {
  const code = opaqueCode(verdict);
  if (!code) return;
  if (code.length) preview.functions = code;
  const names = code.map((c) => `${c}()`).join(", ");
  // Creating, replacing or dropping code (class ddl) runs none now: it keeps its DDL label.
  if (verdict.classes.includes("ddl")) {
    if (code.length) preview.notes.push(`It creates, changes or drops code that runs later: ${names}.`);
    return;
  }
  if (preview.table && /^(INSERT|UPDATE|DELETE|MERGE)$/.test(preview.command)) {
    const where = `${preview.command === "INSERT" ? "into" : preview.command === "DELETE" ? "from" : "in"} ${preview.table}`;
    const count = preview.affected === null ? "" : ` (${preview.affected} row${preview.affected === 1 ? "" : "s"})`;
    preview.notes.push(`The rows shown are the statement's ${preview.command} ${where}${count}; the code it runs can write other rows and tables, which cannot be listed.`);
  }
  if (code.length) preview.notes.push(`It calls ${names}.`);
  preview.command = OPAQUE_COMMAND;
}

function writtenTables(verdict: Verdict): string[] {
  return verdict.writes.map((w) => w.table).filter((t): t is string => t !== null);
}

/** The table a single-target statement writes (policy's write effects), for commands without RETURNING. */
function writtenTable(verdict: Verdict): { table: string | null; command: string | null } {
  const writes = verdict.writes;
  const tables = [...new Set(writes.map((w) => w.table))];
  return { table: tables.length === 1 ? tables[0]! : null, command: writes.length ? writes[0]!.command : null };
}

/**
 * The dry run of a write that needs a decision (issue 15): one transaction on the link's pool, always
 * rolled back, under the link's statement timeout and search path. A single INSERT/UPDATE/DELETE runs
 * as itself with its RETURNING replaced by the target's visible columns (built on the parse tree and
 * checked by the policy), which gives the rows after (INSERT, UPDATE) or before (DELETE) and the count;
 * an UPDATE's rows before are re-read by key after rolling back to a savepoint. Other writes run as
 * they are, for their count where the command tag has one. A statement that fails here fails the call.
 */
export async function dryRunWrite(services: Services, ctx: CallContext, input: { sql: string; params?: unknown[]; verdict: Verdict }): Promise<DryRunResult> {
  const started = performance.now();
  const scope = ctx.link.scope;
  let callerValues: (string | Buffer | null)[];
  try {
    callerValues = (input.params ?? []).map(encodeParam);
  } catch {
    return { ok: false, code: "invalid_arguments", error: "params must be JSON values (strings, numbers, booleans, null, arrays or objects)" };
  }
  const catalog = await services.catalogFor(ctx.link);
  const view = accessView(scope, catalog);
  let target: RelationAccess | undefined;
  const shaped = previewReturning(input.sql, (t) => {
    const key = t.schema !== null ? `${t.schema}.${t.name}` : view.searchPath.map((s) => `${s}.${t.name}`).find((k) => view.relations.has(k));
    target = key ? view.relations.get(key) : undefined;
    return target ? target.columns : null;
  });
  const pool = await services.poolFor(ctx.link);
  const client = await pool.connect();
  const run: Run = { services, ctx, catalog, pool, client, callerValues, hides: scopeHidesObjects(scope, catalog) || Object.values(scope.tables).some(isGoverned) };
  const deadline = started + scope.limits.statementTimeoutMs;
  const notes: string[] = [];
  let broken: Error | undefined;
  try {
    await client.query(`BEGIN; SET LOCAL statement_timeout = ${Math.floor(scope.limits.statementTimeoutMs)}; SET LOCAL search_path = ${searchPathFor(scope)}`);
    const counters = await readCounters(client);
    const preview: WritePreview = { command: "", affected: null, table: null, columns: [], keyColumns: [], before: [], after: [], plan: null, notes, durationMs: 0 };
    // What the code the write reaches is while the preview is taken: execution compares it again inside
    // its own transaction, so a body swapped after the approval is refused, not run.
    const reach = codeReach(input.verdict);
    if (reachesCode(reach)) {
      const digest = await client.query<{ digest: string }>(CODE_DIGEST_SQL, codeDigestValues(reach));
      preview.codeDigest = digest.rows[0]!.digest;
    }
    let main: Step | undefined;
    if (shaped.ok && target) {
      const rel = target;
      preview.command = shaped.command.toUpperCase();
      preview.table = rel.key;
      const masks = view.governed.get(rel.key)?.masks;
      const keyColumns = rel.relation.primaryKey.length && rel.relation.primaryKey.every((k) => rel.columns.includes(k) && !masks?.has(k)) ? [...rel.relation.primaryKey] : [];
      main = await checkedStep(run, shaped.sql, callerValues, true, true);
      if (main.kind === "refused") {
        notes.push("Rows are not shown: the policy refused the preview statement that returns them (a column of the table cannot be returned on this link).");
        main = await checkedStep(run, input.sql, callerValues, false, true);
      } else if (main.kind === "ok") {
        const rows = rowsOf(main.outcome);
        preview.columns = main.outcome.columns.map((c) => c.name);
        preview.keyColumns = keyColumns;
        if (shaped.command === "delete") preview.before = rows;
        else preview.after = rows;
        if (shaped.command === "update" && rows.length) {
          if (!keyColumns.length) notes.push("The rows before the UPDATE are not shown: the table's primary key is not visible (or is masked) on this link.");
          else if (shaped.setColumns.some((c) => keyColumns.includes(c))) notes.push("The rows before the UPDATE are not shown: it changes the key they would be matched by.");
          else if (performance.now() > deadline) notes.push("The rows before the UPDATE are not shown: the dry run reached the link's statement timeout.");
          else {
            const before = await beforeImage(run, rel, preview.columns, keyColumns, rows);
            if (typeof before === "string") notes.push(`${before[0]!.toUpperCase()}${before.slice(1)}.`);
            else preview.before = before;
          }
        }
        if (main.outcome.commandRowCount !== null && main.outcome.commandRowCount > SAMPLE_ROWS) notes.push(`Only the first ${SAMPLE_ROWS} rows are shown.`);
      }
    } else {
      const written = writtenTable(input.verdict);
      preview.table = written.table;
      preview.command = (written.command ?? input.verdict.classes.find((c) => c !== "read") ?? "write").toUpperCase();
      if (written.command === "truncate" && written.table && view.relations.has(written.table)) {
        const rel = view.relations.get(written.table)!;
        const counted = await checkedStep(run, `SELECT count(*) FROM ${quote(rel.relation.schema)}.${quote(rel.relation.name)}`, [], true);
        if (counted.kind === "ok") preview.affected = Number((rowsOf(counted.outcome)[0] ?? [])[0] ?? 0);
        notes.push("TRUNCATE removes every row of the table (the rows the link can see were counted before it); rows are not shown.");
      } else if (opaqueCode(input.verdict) && !input.verdict.classes.includes("ddl")) notes.push("Rows are not shown: the statement runs code whose writes cannot be listed; the dry run ran it and rolled it back.");
      else notes.push(`Rows are not shown: ${shaped.ok ? "the statement's target is not a table this link can see" : shaped.reason}.`);
      main = await checkedStep(run, input.sql, callerValues, false, true);
    }
    if (main.kind === "failed") {
      if (main.fatal) broken = new Error(main.error);
      return { ok: false, code: main.fatal ? "target_unavailable" : "statement_error", error: main.error, ...(main.refusal ? { refusal: main.refusal } : {}) };
    }
    if (main.kind === "refused") return { ok: false, code: "statement_error", error: main.reason };
    // A checked write answers as SELECT, one row per written row; a caller's own SELECT (a writing CTE
    // under it) counts its result rows, not the writes: no count then.
    const counted = /^(INSERT|UPDATE|DELETE|MERGE)$/.test(main.outcome.command ?? "") || (main.writeCheck && main.outcome.command === "SELECT");
    if (preview.affected === null && counted) preview.affected = main.outcome.commandRowCount;
    const others = [...new Set(writtenTables(input.verdict))].filter((t) => t !== preview.table);
    if (others.length) notes.push(`The statement also writes ${others.join(", ")}; the count and rows shown are ${preview.table ?? "the statement's own"} only.`);
    // Read before the ROLLBACK below: what rules and triggers wrote, which no RETURNING shows.
    preview.tablesChanged = await tablesChanged(client, counters, (t) => view.relations.has(t));
    const hiddenWrites = hiddenEffects(preview, others);
    if (hiddenWrites.length) notes.push(`${THROUGH_NOTE}${hiddenWrites.map(changeWords).join("; ")}.`);
    if (/^(INSERT|UPDATE|DELETE|MERGE)$/.test(preview.command)) {
      if (performance.now() > deadline) notes.push("The plan is not shown: the dry run reached the link's statement timeout.");
      else preview.plan = await planOf(services, ctx, input.sql, input.params);
    }
    labelOpaque(preview, input.verdict);
    preview.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    return { ok: true, preview };
  } catch (error) {
    broken = error as Error;
    return { ok: false, code: "target_unavailable", error: describeConnectionFailure(error) };
  } finally {
    // Always rolled back: a dry run never leaves a change, whatever happened in it.
    if (!broken) await client.query("ROLLBACK").catch((error: Error) => (broken = error));
    client.release(broken);
  }
}
