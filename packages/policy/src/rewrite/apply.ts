import { Refusal } from "../analyze/refusal.js";
import type { PgNode, RawStatement } from "../parse/parse.js";
import type { AccessView, RelationAccess } from "../scope/access.js";
import { catalogRewriteNeeded as virtualCatalogRewriteNeeded, virtualCatalogSource } from "./catalog.js";
import type { RewriteContext } from "./context.js";
import { deparseVerified } from "./deparse.js";
import { refuseExplainNamingFilterSecrets } from "./explain-guard.js";
import { rewriteDmlTarget } from "./dml-check.js";
import { rowFilterExpression } from "./filter.js";
import { str, templateExpression, walk } from "./ast.js";
import { maskExpression } from "./masks.js";
import { ParamAllocator } from "./params.js";
import { sourceLevels } from "./pushdown.js";
import { requalifyColumn, substituteSource } from "./sources.js";
import type { ParamSource, RewriteAnchor, RewritePlan, StatementRewrite } from "./types.js";
import { expandView } from "./views.js";

// ---------------------------------------------------------------- hooks of the other slices

/**
 * Slice V (virtual catalog): whether this view's catalog anchors are rewritten at all, and the
 * rewrite of one (true when it changed the tree). Wired by V in rewrite/catalog.ts.
 */
function catalogRewriteNeeded(view: AccessView): boolean {
  return virtualCatalogRewriteNeeded(view);
}
function rewriteCatalogAnchor(anchor: Extract<RewriteAnchor, { kind: "catalog" }>, ctx: RewriteContext): boolean {
  return virtualCatalogSource(anchor, ctx);
}

// ---------------------------------------------------------------- context

class Context implements RewriteContext {
  readonly notes: string[] = [];
  changed = false;
  writeCheck = false;

  /** The statement binds the hash mask's key (its HMAC pads). */
  usesMaskKey = false;
  /** The plan being applied and the tree it belongs to (a view's definition has its own). */
  plan: RewritePlan | undefined;
  tree: PgNode | undefined;
  private readonly read = new Map<RewritePlan, Map<string, ReadonlySet<string> | null>>();
  private readonly levels = new Map<PgNode, Map<PgNode, { select: PgNode; alone: boolean }>>();
  private readonly explain: boolean;

  constructor(
    readonly view: AccessView,
    readonly serverVersion: number,
    readonly params: ParamAllocator,
    readonly statement: PgNode,
  ) {
    this.explain = "ExplainStmt" in statement;
  }

  param(source: ParamSource, castType?: string): PgNode {
    if (source.kind === "mask_key_inner" || source.kind === "mask_key_outer") this.usesMaskKey = true;
    return this.params.node(source, castType);
  }

  rowFilter(rel: RelationAccess, qualifier: string): PgNode | undefined {
    return rowFilterExpression(this.view, rel, qualifier, this);
  }

  mask(rel: RelationAccess, column: string, value: PgNode): PgNode | undefined {
    const kind = this.view.governed.get(rel.key)?.masks.get(column);
    if (!kind) return undefined;
    const type = rel.relation.columns.find((c) => c.name === column)?.type ?? "text";
    if (kind === "hash" && this.explain) {
      // PostgreSQL folds bound values into the plan, and EXPLAIN prints a grouping or join key over
      // the column as the whole mask expression, the key's pads with it. A column the statement
      // never reads is never printed: NULL stands in for it.
      if (this.reads(rel, column))
        throw new Refusal("rewrite_failed", `EXPLAIN of a statement that reads ${column} of ${rel.key} (a hash-masked column) is not available: the plan would print the mask's key; run the statement itself`);
      return templateExpression("SELECT NULL::text");
    }
    return maskExpression(kind, value, type, this);
  }

  /**
   * The columns of `rel` the current tree reads through a source (null: all of them — `*`, a
   * whole-row reference, or a NATURAL join). A source projects only these: the masks and columns
   * nobody reads would only lengthen the text every rewritten miss prints and parses back.
   */
  columnsRead(rel: RelationAccess): ReadonlySet<string> | null {
    const plan = this.plan;
    if (!plan || !this.tree) return null;
    let perPlan = this.read.get(plan);
    if (!perPlan) this.read.set(plan, (perPlan = new Map()));
    let cols = perPlan.get(rel.key);
    if (cols !== undefined) return cols;
    const joins = joinColumns(this.tree);
    let set: Set<string> | null = joins === null ? null : new Set(joins);
    for (const a of plan.anchors) {
      if (set === null) break;
      if (a.kind !== "column" || a.rel.key !== rel.key || a.where !== "source") continue;
      if (a.column === "*") set = null;
      else set.add(a.column);
    }
    perPlan.set(rel.key, (cols = set));
    return cols;
  }

  sourceLevel(node: PgNode): { select: PgNode; alone: boolean } | undefined {
    if (!this.tree) return undefined;
    let levels = this.levels.get(this.tree);
    if (!levels) this.levels.set(this.tree, (levels = sourceLevels(this.tree)));
    return levels.get(node);
  }

  private reads(rel: RelationAccess, column: string): boolean {
    if (!this.plan) return true;
    for (const a of this.plan.anchors) if (a.kind === "column" && a.rel.key === rel.key && (a.column === column || a.column === "*")) return true;
    return false;
  }

  note(text: string): void {
    if (!this.notes.includes(text)) this.notes.push(text);
  }
}

// ---------------------------------------------------------------- driver

/**
 * Whether a checked statement needs the rewrite stage: one loop over its anchors, no allocation,
 * and nothing at all when the scope governs nothing and the catalog needs no filtering.
 */
export function needsRewrite(plan: RewritePlan | undefined, view: AccessView): boolean {
  if (!plan) return false;
  const catalog = catalogRewriteNeeded(view);
  if (view.governed.size === 0 && !catalog) return false;
  for (const a of plan.anchors) {
    if (a.kind === "catalog") {
      if (catalog) return true;
    } else if (a.kind !== "column" && view.governed.has(a.rel.key)) return true;
  }
  return false;
}

function applyPlan(plan: RewritePlan, ctx: RewriteContext, depth: number, tree: PgNode): void {
  const c = ctx as Context;
  const [outerPlan, outerTree] = [c.plan, c.tree];
  c.plan = plan;
  c.tree = tree;
  try {
    applyAnchors(plan, c, depth);
  } finally {
    c.plan = outerPlan;
    c.tree = outerTree;
  }
}

/** Column names USING joins compare (implicitly, without a column reference); null for a NATURAL join. */
function joinColumns(tree: PgNode): string[] | null {
  const names: string[] = [];
  let natural = false;
  walk(tree, (n) => {
    const j = n.JoinExpr as PgNode | undefined;
    if (!j) return;
    if (j.isNatural) natural = true;
    for (const u of (j.usingClause as PgNode[] | undefined) ?? []) names.push(str(u) ?? "");
  });
  return natural ? null : names;
}

function applyAnchors(plan: RewritePlan, c: Context, depth: number): void {
  const ctx: RewriteContext = c;
  const substituted = new Set<string>();
  for (const anchor of plan.anchors) {
    switch (anchor.kind) {
      case "source": {
        const governance = ctx.view.governed.get(anchor.rel.key);
        // A node already replaced (an anchor recorded twice) is no longer a RangeVar.
        if (!governance || !("RangeVar" in anchor.node)) break;
        if (governance.readsGoverned.length > 0) expandView(anchor, ctx, applyPlan, depth);
        else substituteSource(anchor, ctx);
        c.changed = c.changed || !("RangeVar" in anchor.node);
        if (!("RangeVar" in anchor.node)) substituted.add(anchor.rel.key);
        break;
      }
      case "dml_target": {
        const governance = ctx.view.governed.get(anchor.rel.key);
        if (!governance) break;
        if (governance.readsGoverned.length > 0)
          throw new Refusal("row_filter_view", `writing through view ${anchor.rel.key} over ${governance.readsGoverned.join(", ")}, which this link reads only through a row filter or masks, is not available; write to the table itself`, undefined, anchor.rel.key);
        // Slice D's write rewrite (rewrite/dml-check.ts); for a parent only, it refuses a write that
        // would reach a governed child (without ONLY) and changes nothing otherwise.
        const { writeCheck } = rewriteDmlTarget(anchor, ctx, plan);
        if (governance.rowFilter === undefined && governance.masks.size === 0) break; // a parent only
        c.writeCheck = c.writeCheck || writeCheck;
        c.changed = true;
        break;
      }
      case "catalog":
        if (rewriteCatalogAnchor(anchor, ctx)) c.changed = true;
        break;
      case "column":
        break;
    }
  }
  if (substituted.size === 0) return;
  for (const anchor of plan.anchors)
    if (anchor.kind === "column" && anchor.where === "source" && anchor.qualifiedBySchema && substituted.has(anchor.rel.key)) requalifyColumn(anchor);
}

/** One statement of a text with the plan its analysis recorded. */
export interface PlannedStatement {
  raw: RawStatement;
  plan: RewritePlan | undefined;
}

/**
 * Rewrites one checked statement for the scope's row filters, masks and virtual catalog: the plan's
 * anchors are replaced in place (the tree is the checker's own, parsed for this check), and the tree
 * is printed and verified. Undefined when nothing changes: the caller's text then runs byte for byte.
 * Throws a Refusal (rewrite_failed, row_filter_view, …) when the statement cannot be rewritten safely.
 */
export function rewriteStatement(
  stmt: RawStatement,
  plan: RewritePlan | undefined,
  view: AccessView,
  callerSql: string,
  serverVersion: number,
): StatementRewrite | undefined {
  try {
    return rewriteStatements([{ raw: stmt, plan }], view, callerSql, serverVersion);
  } catch (error) {
    if (error instanceof StatementRefusal) throw error.refusal;
    throw error;
  }
}

/**
 * The same for every statement of one text: one parameter numbering for the whole text (numbered
 * after the highest `$n` of any statement), changed statements printed, unchanged ones kept as the
 * caller wrote them, joined with `;\n`.
 */
export function rewriteStatements(statements: readonly PlannedStatement[], view: AccessView, callerSql: string, serverVersion: number): StatementRewrite | undefined {
  let any = false;
  for (const s of statements) if (needsRewrite(s.plan, view)) any = true;
  if (!any) return undefined;
  const params = new ParamAllocator(statements.map((s) => s.raw.stmt));
  const texts: string[] = [];
  const notes: string[] = [];
  let writeCheck = false;
  let changed = false;
  for (const [i, s] of statements.entries()) {
    if (!needsRewrite(s.plan, view)) {
      texts.push(originalText(callerSql, s.raw));
      continue;
    }
    const ctx = new Context(view, serverVersion, params, s.raw.stmt);
    let text: string | undefined;
    try {
      applyPlan(s.plan!, ctx, 0, s.raw.stmt);
      // Backstop for Context.mask: the hash key must never reach a plan EXPLAIN prints.
      if (ctx.usesMaskKey && "ExplainStmt" in s.raw.stmt)
        throw new Refusal("rewrite_failed", "EXPLAIN of a statement that reads a hash-masked column is not available: the plan would print the mask's key; run the statement itself");
      if (ctx.changed) {
        text = deparseVerified(s.raw.stmt);
        refuseExplainNamingFilterSecrets(s.raw.stmt, text, view);
      }
    } catch (error) {
      throw new StatementRefusal(i, asRefusal(error));
    }
    for (const n of ctx.notes) if (!notes.includes(n)) notes.push(n);
    writeCheck = writeCheck || ctx.writeCheck;
    if (text === undefined) texts.push(originalText(callerSql, s.raw));
    else {
      changed = true;
      texts.push(text);
    }
  }
  if (!changed) return undefined;
  // Frozen with the verdict that carries it: a cached verdict is shared by every later call.
  return Object.freeze({
    sql: texts.join(";\n"),
    params: Object.freeze(params.params.map((p) => Object.freeze(p))),
    firstParam: params.firstParam,
    writeCheck,
    attributes: Object.freeze(params.attributes()),
    notes: Object.freeze(notes),
  });
}

/** A refusal of the rewrite stage, with the 0-based index of the statement it is about. */
export class StatementRefusal {
  constructor(
    readonly index: number,
    readonly refusal: Refusal,
  ) {}
}

// Anything unexpected while rewriting refuses the statement: running it unrewritten could leak.
function asRefusal(error: unknown): Refusal {
  if (error instanceof Refusal) return error;
  if (error instanceof RangeError) return new Refusal("rewrite_failed", "the statement is nested too deeply to rewrite");
  return new Refusal("rewrite_failed", `the statement could not be rewritten (${(error as Error)?.message ?? String(error)})`);
}

/** A statement's own text (the parser's positions are UTF-8 byte offsets). */
function originalText(sql: string, raw: RawStatement): string {
  const bytes = Buffer.from(sql, "utf8");
  const start = raw.stmt_location ?? 0;
  const length = raw.stmt_len ?? 0;
  const text = bytes
    .subarray(start, length > 0 ? start + length : undefined)
    .toString("utf8")
    .trim();
  // A trailing `-- comment` would swallow the `;` that joins the next statement.
  return text.includes("--") ? `${text}\n` : text;
}

export { applyPlan };
