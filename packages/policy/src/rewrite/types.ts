import type { PgNode } from "../parse/parse.js";
import type { RelationAccess } from "../scope/access.js";

/**
 * Where one parameter of a rewritten statement gets its value at call time. The rewritten SQL text
 * depends only on (catalog version, scope, caller's SQL) — the verdict cache key — so everything
 * per member, key or link travels as a bound parameter, never as text.
 */
export type ParamSource =
  | { kind: "member.id" }
  | { kind: "member.email" }
  | { kind: "key.id" }
  | { kind: "link.id" }
  | { kind: "team.id" }
  | { kind: "member.attr"; name: string }
  /** The per-link key of the `hash` mask, as HMAC pads (K ⊕ ipad, K ⊕ opad), each a bytea. */
  | { kind: "mask_key_inner" }
  | { kind: "mask_key_outer" }
  /** A value fixed by the scope and catalog (the virtual catalog's hidden oids and names). */
  | { kind: "constant"; value: string | readonly string[] };

/** What the rewrite stage made of an allowed statement; absent on a verdict when nothing changed. */
export interface StatementRewrite {
  /** The statement that runs: the checked statement plus our predicates, masks and catalog filters. */
  sql: string;
  /** Parameters the rewrite added, bound after the caller's: params[i] is `$${firstParam + i}`. */
  params: readonly ParamSource[];
  /** 1-based number of params[0]: one more than the highest `$n` in the caller's text. */
  firstParam: number;
  /**
   * The statement carries a row-filter write check: a server error whose message starts with
   * ROW_FILTER_VIOLATION_MARKER means a written row fell outside the filter (refuse as
   * row_filter_violation, nothing was written).
   */
  writeCheck: boolean;
  /** Member attribute names the statement binds (audit records names, never values). */
  attributes: readonly string[];
  /** What was rewritten, in plain words, for the audit detail and the Playground. */
  notes: readonly string[];
}

export const ROW_FILTER_VIOLATION_MARKER = "portcullis_row_filter_violation";

/**
 * A place in a checked statement's tree the rewrite may change, recorded by the analyzer while it
 * resolves names (so the rewrite acts exactly on what was checked, with no second resolver).
 * `node` is the wrapper object (`{ RangeVar: … }`, `{ ColumnRef: … }`) whose content is replaced in place.
 */
export type RewriteAnchor =
  /** A reference to a user relation in FROM/JOIN/USING/subquery/CTE/EXPLAIN: may become a source subquery. */
  | { kind: "source"; node: PgNode; rangeVar: PgNode; rel: RelationAccess }
  /** The target of INSERT/UPDATE/DELETE/MERGE (`stmt` is the statement node, `kind` its node kind). */
  | { kind: "dml_target"; stmtKind: "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt"; stmt: PgNode; rangeVar: PgNode; rel: RelationAccess }
  /** A reference to a pg_catalog / information_schema relation: may become a virtual-catalog subquery. */
  | { kind: "catalog"; node: PgNode; rangeVar: PgNode; key: string }
  /**
   * A column reference resolved to a column of a user relation's range entry: `where` says whether it
   * reads the relation through a source (after substitution it sees the masked value) or through a DML
   * target (it sees the clear value), and `qualifiedBySchema` marks `schema.table.column` forms, which
   * must be requalified once the relation becomes an aliased subquery.
   */
  | { kind: "column"; node: PgNode; rel: RelationAccess; column: string; where: "source" | "dml_target" | "returning"; qualifiedBySchema: boolean };

/** The anchors of one statement, in the order the analyzer met them. */
export class RewritePlan {
  readonly anchors: RewriteAnchor[] = [];
  add(anchor: RewriteAnchor): void {
    this.anchors.push(anchor);
  }
}
