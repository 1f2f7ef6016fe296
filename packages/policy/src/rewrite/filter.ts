import { Refusal } from "../analyze/refusal.js";
import type { PgNode } from "../parse/parse.js";
import type { AccessView, RelationAccess } from "../scope/access.js";
import { compileRowFilter, FILTER_PARAM_BASE, type CompiledFilter } from "../scope/row-filter.js";
import { andAll, clone, nodeType, strNode, templateExpression } from "./ast.js";
import type { ParamSource } from "./types.js";

interface ParamMaker {
  param(source: ParamSource, castType?: string): PgNode;
}

// Compiled once per (AccessView, relation): the view is rebuilt when the scope or catalog changes,
// so a cached filter can never be one checked against an older catalog.
const compiled = new WeakMap<AccessView, Map<string, CompiledFilter>>();

function compiledFor(view: AccessView, rel: RelationAccess, text: string): CompiledFilter {
  let perView = compiled.get(view);
  if (!perView) compiled.set(view, (perView = new Map()));
  let c = perView.get(rel.key);
  if (!c) perView.set(rel.key, (c = compileRowFilter(text, rel.relation, view.catalog)));
  return c;
}

/**
 * The relation's row filter as a fresh expression: every column qualified with `qualifier` (so no
 * name can resolve to an outer query), placeholders as parameters, and `$n IS NOT NULL` for every
 * placeholder, so a member without the attribute sees no rows even through `coalesce` or `IS NULL`.
 * Undefined when the relation has no filter; a Refusal when the filter no longer fits the catalog.
 */
export function rowFilterExpression(view: AccessView, rel: RelationAccess, qualifier: string, params: ParamMaker): PgNode | undefined {
  const text = view.governed.get(rel.key)?.rowFilter;
  if (text === undefined) return undefined;
  const c = compiledFor(view, rel, text);
  if (!c.ok) throw new Refusal("rewrite_failed", `the row filter on ${rel.key} cannot be applied: ${c.message}`, undefined, rel.key);
  const guards = new Map<string, PgNode>();
  const expr = instantiate(clone(c.where), qualifier, c.uses, params, guards) as PgNode;
  return andAll([...guards.values(), expr]);
}

function instantiate(
  node: unknown,
  qualifier: string,
  uses: Extract<CompiledFilter, { ok: true }>["uses"],
  params: ParamMaker,
  guards: Map<string, PgNode>,
): unknown {
  if (!node || typeof node !== "object") return node;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) node[i] = instantiate(node[i], qualifier, uses, params, guards);
    return node;
  }
  const t = nodeType(node);
  if (t?.[0] === "ColumnRef") {
    const fields = t[1].fields as PgNode[];
    t[1].fields = [strNode(qualifier), fields[fields.length - 1]!];
    return node;
  }
  if (t?.[0] === "ParamRef" && (t[1].number as number) >= FILTER_PARAM_BASE) {
    const use = uses.get(t[1].number as number);
    if (!use) throw new Refusal("rewrite_failed", "a row filter placeholder could not be bound");
    const key = `${JSON.stringify(use.source)}\u0000${use.cast}`;
    if (!guards.has(key)) {
      const guard = templateExpression("SELECT $1 IS NOT NULL");
      (guard.NullTest as PgNode).arg = params.param(use.source, use.cast);
      guards.set(key, guard);
    }
    return params.param(use.source, use.cast);
  }
  for (const key in node as PgNode) (node as PgNode)[key] = instantiate((node as PgNode)[key], qualifier, uses, params, guards);
  return node;
}
