import type { PgNode } from "../parse/parse.js";
import type { AccessView, RelationAccess } from "../scope/access.js";
import type { ParamSource } from "./types.js";

/**
 * What every part of the rewrite stage shares while it rewrites one statement. Built by the rewrite
 * driver (rewrite/apply.ts) once per statement; the parts (sources, writes, catalog) only call it.
 */
export interface RewriteContext {
  readonly view: AccessView;
  /** The target's server_version_num (MERGE … RETURNING needs 170000). */
  readonly serverVersion: number;
  /**
   * The statement being rewritten as the driver received it: the RawStmt's `stmt` wrapper object
   * (`{ InsertStmt: … }`, `{ ExplainStmt: … }`). The write check (rewrite/dml-check.ts) replaces this
   * wrapper's single key in place to turn a top-level INSERT/UPDATE into a data-modifying CTE, and uses
   * it to tell a top-level DML from one nested in a WITH query. Absent: writes needing a check are refused.
   */
  readonly statement?: PgNode;
  /**
   * A parameter reference (`$n`, as a ParamRef node, wrapped in a TypeCast to `castType` when given)
   * for a value bound at call time. The same source (and cast) gets the same `$n` within a statement.
   */
  param(source: ParamSource, castType?: string): PgNode;
  /**
   * The table's row filter as a fresh expression tree, its column references qualified with
   * `qualifier` (the alias or name the statement uses for the table), placeholders as parameters;
   * undefined when the table has no filter.
   */
  rowFilter(rel: RelationAccess, qualifier: string): PgNode | undefined;
  /**
   * The masked value of `value` (an expression reading `column` of `rel`) as a fresh expression
   * tree; undefined when the column is not masked.
   */
  mask(rel: RelationAccess, column: string, value: PgNode): PgNode | undefined;
  /** Plain-words notes for the audit detail and the Playground ("customer: row filter applied"). */
  note(text: string): void;
}
