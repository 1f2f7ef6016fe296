import type { PgNode, RawStatement } from "../parse/parse.js";
import { RewritePlan } from "../rewrite/types.js";
import type { AccessView } from "../scope/access.js";
import { analyzeStatement, tooComplex } from "./dispatch.js";
import type { PendingEffect } from "./effects.js";
import { Refusal } from "./refusal.js";
import { MAX_DEPTH, permissiveFrame, type Cte, type Frame } from "./tree.js";

export type StatementClass = "read" | "write" | "ddl" | "utility" | "transaction";

export { Refusal };

/**
 * One statement's analysis state: the rule families (dispatch, names, select, expressions,
 * functions, dml, ddl, code, catalog) are functions over it. It walks the parse tree, resolving names
 * the way PostgreSQL does under the scope's search_path, and throws a Refusal on the first thing the
 * scope does not allow.
 *
 * Unknown node kinds are walked generically, so a construct we did not anticipate still has its
 * relations, columns and function calls checked (against a permissive frame) rather than skipped.
 */
export class StatementAnalyzer {
  readonly tables = new Set<string>();
  cls: StatementClass = "read";
  /** What the statement writes (analyze/effects.ts), for approvals; empty for reads. */
  readonly writes: PendingEffect[] = [];
  /** Places the rewrite stage may change, recorded while names resolve (decide/checker.ts hands it on). */
  readonly plan = new RewritePlan();
  readonly cteStack: Map<string, Cte>[] = [];
  depth = 0;
  /** A FOR UPDATE/SHARE clause was allowed (it needs UPDATE privilege even under a plain EXPLAIN). */
  rowLocks = false;
  /** References to system relations met so far (row locks must not reach them). */
  systemRefs = 0;
  /** Inside a DML statement's RETURNING list: target columns there are recorded as "returning". */
  returning = false;
  /** Outermost name scope: permissive inside function bodies, where names may be variables or parameters. */
  readonly root: Frame | null;
  // The statement's source, for bodies the PL/pgSQL compiler must see as written (set by analyzeRaw).
  sql = "";
  location = 0;
  length = 0;

  constructor(
    readonly view: AccessView,
    /** Set when analysing SQL embedded in a function body or DO block: how many bodies deep. */
    readonly nesting = 0,
  ) {
    this.root = nesting > 0 ? permissiveFrame(null) : null;
  }

  /** Analyses one statement of `sql` as the parser split it (its text is needed for procedural bodies). */
  analyzeRaw(s: RawStatement, sql: string): StatementClass {
    this.sql = sql;
    this.location = s.stmt_location ?? 0;
    this.length = s.stmt_len ?? 0;
    return analyzeStatement(this, s.stmt);
  }

  analyze(stmt: PgNode): StatementClass {
    return analyzeStatement(this, stmt);
  }

  /** An analyzer for SQL embedded one body deeper (function bodies, DO blocks). */
  child(): StatementAnalyzer {
    return new StatementAnalyzer(this.view, this.nesting + 1);
  }

  enter(): void {
    if (++this.depth > MAX_DEPTH) throw tooComplex(`the statement is nested more than ${MAX_DEPTH} levels deep`);
  }
}
