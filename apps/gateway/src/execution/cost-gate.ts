import type { Scope, Verdict } from "@portcullis/policy";
import type { StatementResult } from "./pipelined-statement.js";
import type { RunOptions } from "./run-statement.js";

/** The planner's estimate of the top plan node (EXPLAIN's Total Cost and Plan Rows). */
export interface CostEstimate {
  totalCost: number;
  planRows: number;
}

export interface CostRefusal {
  ruleId: "estimated_cost_exceeded" | "estimated_rows_exceeded";
  reason: string;
}

const EXPLAIN_PREFIX = "EXPLAIN (FORMAT JSON) ";

/**
 * Texts EXPLAIN accepts as a statement to plan: a query (SELECT — FOR UPDATE included —, WITH — writing
 * CTEs included —, VALUES, TABLE, a parenthesised one) and INSERT, UPDATE, DELETE, MERGE. A plain
 * EXPLAIN (no ANALYZE) executes nothing, a write's included, so a write is planned in its own read-write
 * transaction before it runs. Utility statements EXPLAIN refuses (DDL, CALL, DO, VACUUM, SHOW, …) are
 * not gated: the statement timeout bounds them. CREATE TABLE … AS is not recognised here (it would
 * need the parse tree to tell from a plain CREATE TABLE) and is bounded by the timeout alone.
 *
 * Estimates can be wrong: a recursive CTE, a function the planner cannot see into, stale statistics.
 * The gate stops statements the planner already knows to be expensive; the link's statement timeout
 * remains the backstop for the rest.
 */
const EXPLAINABLE = /^(select|with|values|table|insert|update|delete|merge)\b|^\(/i;

/** Skips whitespace and comments (nested block comments included) from `i`, as the server's lexer does. */
export function firstWordAt(sql: string, from = 0): number {
  let i = from;
  while (i < sql.length) {
    if (/\s/.test(sql[i]!)) i++;
    else if (sql.startsWith("--", i)) {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? sql.length : end + 1;
    } else if (sql.startsWith("/*", i)) {
      let depth = 0;
      do {
        if (sql.startsWith("/*", i)) {
          depth++;
          i += 2;
        } else if (sql.startsWith("*/", i)) {
          depth--;
          i += 2;
        } else i++;
      } while (depth > 0 && i < sql.length);
    } else break;
  }
  return i;
}

/**
 * The cost gate of one call (issue 15), or undefined when none applies: a statement on a link whose
 * scope sets `limits.maxEstimatedCost` or `limits.maxEstimatedRows`, whose text (the one that will run:
 * the rewritten one when the policy rewrote it) EXPLAIN can plan — reads and writes alike (a write's
 * heavy subquery, a writing CTE's heavy read, SELECT … FOR UPDATE cost as much as a read's). A plain
 * EXPLAIN is not gated: it does not run the statement.
 *
 * The returned preflight plans exactly the statement that would run, with the same bound values, in
 * its own transaction (READ ONLY for reads), before it; `refusal()` afterwards says whether (and why) it
 * was stopped.
 */
export function costGate(scope: Scope, verdict: Verdict, runSql: string, options: { showEstimate: boolean } = { showEstimate: true }): CostGate | undefined {
  const { maxEstimatedCost, maxEstimatedRows } = scope.limits;
  if (maxEstimatedCost === undefined && maxEstimatedRows === undefined) return undefined;
  if (!verdict.allowed) return undefined;
  const limits = { maxEstimatedCost, maxEstimatedRows };
  let start = firstWordAt(runSql);
  if (/^explain\b/i.test(runSql.slice(start, start + 8))) {
    // EXPLAIN plans without running; EXPLAIN ANALYZE runs the statement: that one is weighed by its
    // inner statement's plan (same values: options cannot hold parameters).
    const explained = explainedStatement(runSql, start);
    if (!explained) return new CostGate("", limits, options.showEstimate, true);
    if (!explained.analyze) return undefined;
    start = explained.innerStart;
  }
  if (!EXPLAINABLE.test(runSql.slice(start, start + 7))) return undefined;
  return new CostGate(runSql.slice(start), limits, options.showEstimate, false, start);
}

/**
 * The statement an EXPLAIN explains and whether it runs it (ANALYZE), read from the text the policy
 * has already parsed: `EXPLAIN [ANALYZE] [VERBOSE] stmt` or `EXPLAIN (option [value], …) stmt`. Null
 * when the prefix cannot be read (the gate then refuses: it cannot tell what would run).
 */
export function explainedStatement(sql: string, from = 0): { analyze: boolean; innerStart: number } | null {
  let i = firstWordAt(sql, from);
  if (!/^explain\b/i.test(sql.slice(i, i + 8))) return null;
  i = firstWordAt(sql, i + 7);
  let analyze = false;
  if (sql[i] === "(") {
    const options: string[] = [];
    let current = "";
    let j = i + 1;
    for (;;) {
      if (j >= sql.length) return null;
      const c = sql[j]!;
      if (c === "'" || c === '"') {
        const end = sql.indexOf(c, j + 1);
        if (end < 0) return null;
        current += sql.slice(j, end + 1);
        j = end + 1;
      } else if (c === "(") return null;
      else if (c === ")") {
        options.push(current);
        j++;
        break;
      } else if (c === ",") {
        options.push(current);
        current = "";
        j++;
      } else {
        current += c;
        j++;
      }
    }
    for (const option of options) {
      const [name = "", ...value] = option.trim().split(/\s+/);
      const v = value.join(" ").toLowerCase().replaceAll("'", "");
      if (/^analy[sz]e$/i.test(name) && !["false", "off", "0", "no"].includes(v)) analyze = true;
    }
    i = firstWordAt(sql, j);
  } else {
    for (;;) {
      const word = /^[a-z]+/i.exec(sql.slice(i, i + 9))?.[0]?.toLowerCase();
      if (word === "analyze" || word === "analyse") analyze = true;
      else if (word !== "verbose") break;
      i = firstWordAt(sql, i + word.length);
    }
  }
  return { analyze, innerStart: i };
}

export class CostGate {
  private decided: { estimate: CostEstimate | null; refusal: CostRefusal | null } | undefined;
  /** Characters the preflight's text has before the statement's own (a server error's position counts them). */
  readonly positionShift: number;

  constructor(
    private readonly sql: string,
    private readonly limits: { maxEstimatedCost?: number; maxEstimatedRows?: number },
    /**
     * false where explain_query redacts estimates (row-filtered or masked statements): the planner's
     * figures come from the whole table's statistics, rows outside the filter included, so the words
     * then say only that the estimate is over the limit.
     */
    private readonly showEstimate = true,
    /** The text could not be read (an EXPLAIN's options): refused without planning anything. */
    private readonly unreadableText = false,
    /** Where `sql` starts in the statement that runs (after an EXPLAIN ANALYZE's prefix). */
    innerStart = 0,
  ) {
    this.positionShift = EXPLAIN_PREFIX.length - innerStart;
  }

  preflight(): NonNullable<RunOptions["preflight"]> {
    return {
      sql: EXPLAIN_PREFIX + this.sql,
      proceed: (result) => {
        this.decided = this.judge(result);
        return this.decided.refusal === null;
      },
    };
  }

  /** A refusal before anything is planned: the text could not be read (callers check this first). */
  get upfront(): CostRefusal | null {
    return this.unreadableText ? this.unreadable() : null;
  }

  /** The planner's estimate, once the preflight ran and could be read. */
  get estimate(): CostEstimate | null {
    return this.decided?.estimate ?? null;
  }

  /** Why the statement was stopped; null when it may run (or the preflight has not been judged). */
  get refusal(): CostRefusal | null {
    return this.decided?.refusal ?? null;
  }

  /** Fails closed: a limit the gateway cannot check is not a limit it may skip. */
  unreadable(): CostRefusal {
    const ruleId = this.limits.maxEstimatedCost !== undefined ? "estimated_cost_exceeded" : "estimated_rows_exceeded";
    return {
      ruleId,
      reason: `This link limits how expensive a statement may be, and PostgreSQL's plan for this statement could not be read, so its estimate could not be checked; nothing was run. Try a simpler statement. [rule ${ruleId}]`,
    };
  }

  private judge(result: StatementResult): { estimate: CostEstimate | null; refusal: CostRefusal | null } {
    const estimate = readEstimate(result);
    const { maxEstimatedCost, maxEstimatedRows } = this.limits;
    if (!estimate) return { estimate, refusal: this.unreadable() };
    const narrow =
      "Narrow the query before running it: add WHERE conditions (on indexed columns where you can), join on keys instead of forming a cross product, aggregate in the query, or add a LIMIT. explain_query shows the plan without running it.";
    const withheld = " (the figure is not shown: on this link rows are filtered or masked, and the planner's estimates count the whole table)";
    if (maxEstimatedCost !== undefined && estimate.totalCost > maxEstimatedCost) {
      const figure = this.showEstimate ? `is ${words(estimate.totalCost)}` : `is above the limit${withheld}`;
      return {
        estimate,
        refusal: {
          ruleId: "estimated_cost_exceeded",
          reason:
            `PostgreSQL's estimate of this statement's cost (the Total Cost of the plan's top node) ${figure}; this link's limit is ${words(maxEstimatedCost)} (limits.maxEstimatedCost), so nothing was run. ` +
            `${narrow} [rule estimated_cost_exceeded]`,
        },
      };
    }
    if (maxEstimatedRows !== undefined && estimate.planRows > maxEstimatedRows) {
      const figure = this.showEstimate ? `is ${words(estimate.planRows)} rows` : `is above the limit${withheld}`;
      return {
        estimate,
        refusal: {
          ruleId: "estimated_rows_exceeded",
          reason:
            `PostgreSQL's estimate of the rows this statement returns or writes (the Plan Rows of the plan's top node) ${figure}; this link's limit is ${words(maxEstimatedRows)} rows (limits.maxEstimatedRows), so nothing was run. ` +
            `${narrow} [rule estimated_rows_exceeded]`,
        },
      };
    }
    return { estimate, refusal: null };
  }
}

/** Total Cost and Plan Rows of the top node of `EXPLAIN (FORMAT JSON)`'s one row; null if unreadable. */
export function readEstimate(result: StatementResult): CostEstimate | null {
  if (result.error || result.truncated || result.rowsJson.length !== 1) return null;
  try {
    const [cell] = JSON.parse(result.rowsJson[0]!) as unknown[];
    const document = typeof cell === "string" ? (JSON.parse(cell) as unknown) : cell;
    const plan = (document as { Plan?: { "Total Cost"?: unknown; "Plan Rows"?: unknown } }[])[0]?.Plan;
    const totalCost = plan?.["Total Cost"];
    const planRows = plan?.["Plan Rows"];
    if (typeof totalCost !== "number" || typeof planRows !== "number" || !Number.isFinite(totalCost) || !Number.isFinite(planRows)) return null;
    return { totalCost, planRows };
  } catch {
    return null;
  }
}

function words(n: number): string {
  return n >= 1e6 ? n.toExponential(2).replace("e+", "e") : Math.round(n * 100) / 100 === Math.round(n) ? Math.round(n).toLocaleString("en-US") : n.toFixed(2);
}
