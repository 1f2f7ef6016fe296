import { StatementAnalyzer } from "../analyze/analyzer.js";
import { Refusal } from "../analyze/refusal.js";
import type { Catalog } from "../catalog/types.js";
import { parseSql, type PgNode } from "../parse/parse.js";
import { clone, list, nodeType, replaceNode, str, strNode } from "./ast.js";
import type { RewriteContext } from "./context.js";
import type { RewriteAnchor, RewritePlan } from "./types.js";

const MAX_VIEW_DEPTH = 16;
// Views joining a view to itself expand exponentially (vvN = vv(N-1) ⋈ vv(N-1): 2^N copies), and
// the expansion is synchronous CPU in the gateway. Counted per statement while it happens.
export const MAX_VIEW_EXPANSIONS = 200;
// …and a few large definitions expanded many times would print megabytes before the deparse bound
// (deparse.ts) could see them: the definitions' text is counted as they are expanded.
export const MAX_EXPANDED_CHARS = 256 * 1024;
const expansions = new WeakMap<RewriteContext, { count: number; chars: number }>();

// Parsed once per catalog (a new catalog version is a new object); a fresh copy per expansion,
// because the rewrite changes the tree it is given.
const definitions = new WeakMap<Catalog, Map<string, PgNode | string>>();

function definitionTree(catalog: Catalog, key: string, text: string | undefined): PgNode | string {
  let perCatalog = definitions.get(catalog);
  if (!perCatalog) definitions.set(catalog, (perCatalog = new Map()));
  let tree = perCatalog.get(key);
  if (tree === undefined) {
    const parsed = text === undefined ? undefined : parseSql(text);
    if (!parsed) tree = "its definition is not known";
    else if (!parsed.ok) tree = `its definition does not parse (${parsed.message})`;
    else if (parsed.statements.length !== 1 || nodeType(parsed.statements[0]!.stmt)?.[0] !== "SelectStmt") tree = "its definition is not a single SELECT";
    else tree = parsed.statements[0]!.stmt;
    perCatalog.set(key, tree);
  }
  return typeof tree === "string" ? tree : clone(tree);
}

/** How the driver applies a plan to a tree (passed in to keep the view and driver modules acyclic). */
export type ApplyPlan = (plan: RewritePlan, ctx: RewriteContext, depth: number, tree: PgNode) => void;

/**
 * A plain view that reads a filtered or masked table is replaced by its own definition, analysed
 * under the same scope and rewritten the same way: `(SELECT … FROM (<source subquery>) …) AS v(cols)`.
 * The view's rows were never computed under the filter, so reading it as is would leak; a
 * materialized view's rows are stored that way, so it is refused.
 */
export function expandView(anchor: Extract<RewriteAnchor, { kind: "source" }>, ctx: RewriteContext, apply: ApplyPlan, depth: number): void {
  const { rel, rangeVar: rv } = anchor;
  const refuse = (why: string): Refusal =>
    new Refusal("row_filter_view", `${rel.relation.kind === "materialized_view" ? "materialized view" : "view"} ${rel.key} reads ${ctx.view.governed.get(rel.key)?.readsGoverned.join(", ")}, which this link reads only through a row filter or masks, and ${why}`, undefined, rel.key);
  if (rel.relation.kind === "materialized_view") throw refuse("its stored rows were computed without them; read the tables instead");
  if (rel.relation.kind !== "view") throw refuse("it cannot be expanded");
  if (depth >= MAX_VIEW_DEPTH) throw refuse("views nest too deeply to expand");
  let spent = expansions.get(ctx);
  if (!spent) expansions.set(ctx, (spent = { count: 0, chars: 0 }));
  spent.count += 1;
  spent.chars += rel.relation.definition?.length ?? 0;
  if (spent.count > MAX_VIEW_EXPANSIONS || spent.chars > MAX_EXPANDED_CHARS)
    throw new Refusal(
      "rewrite_failed",
      `the statement is too complex to rewrite: it expands too many views over tables with row filters or masks (more than ${MAX_VIEW_EXPANSIONS}, or more than ${MAX_EXPANDED_CHARS / 1024} KB of their definitions); read the tables, or fewer views`,
      undefined,
      rel.key,
    );
  const governance = ctx.view.governed.get(rel.key)!;
  if (governance.rowFilter !== undefined || governance.masks.size > 0) throw refuse("it has a row filter or masks of its own, which cannot be combined with expanding it");
  const tree = definitionTree(ctx.view.catalog, rel.key, rel.relation.definition);
  if (typeof tree === "string") throw refuse(tree);
  const analyzer = new StatementAnalyzer(ctx.view);
  try {
    analyzer.analyze(tree);
  } catch (error) {
    if (error instanceof Refusal) throw refuse(`its definition is not allowed on this link (${error.message})`);
    throw error;
  }
  const plan = (analyzer as unknown as { plan?: RewritePlan }).plan;
  if (!plan) throw refuse("it cannot be expanded yet");
  apply(plan, ctx, depth + 1, tree);
  const alias = rv.alias as PgNode | undefined;
  const renamed = list(alias?.colnames).map((c) => str(c)!);
  const colnames = rel.relation.columns.map((c, i) => strNode(renamed[i] ?? c.name));
  replaceNode(anchor.node, {
    RangeSubselect: { subquery: tree, alias: { aliasname: (alias?.aliasname as string | undefined) ?? rel.relation.name, colnames } },
  });
  ctx.note(`${rel.key}: view expanded to apply the row filters and masks of ${governance.readsGoverned.join(", ")}`);
}
