import { StatementAnalyzer, Refusal } from "../analyze/analyzer.js";
import type { Catalog, CatalogRelation } from "../catalog/types.js";
import { parseSql, type PgNode } from "../parse/parse.js";
import type { ParamSource } from "../rewrite/types.js";
import { castTypeFor } from "../rewrite/params.js";
import { list, nodeType, str, walk } from "../rewrite/ast.js";
import { accessView } from "./access.js";
import { parseScope, splitTableKey, type Scope, type ScopeError } from "./schema.js";

// Placeholders become `$N` parameters numbered from here before the filter is parsed; anything lower
// is a `$n` the admin typed, which would bind the caller's own values: refused.
export const FILTER_PARAM_BASE = 10_000;
const ANY_PLACEHOLDER = /\{\{([^{}]*)\}\}/g;
const KNOWN_PLACEHOLDER = /^\s*(member\.id|member\.email|key\.id|link\.id|team\.id|member\.attr\.([a-z][a-z0-9_]{0,62}))\s*$/;

/** Aggregates PostgreSQL refuses in WHERE; named here so the admin hears it at save time. */
const AGGREGATES = new Set([
  "count", "sum", "avg", "min", "max", "array_agg", "string_agg", "bool_and", "bool_or", "every", "bit_and", "bit_or", "bit_xor",
  "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "json_agg_strict", "jsonb_agg_strict", "xmlagg", "stddev",
  "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "corr", "covar_pop", "covar_samp", "mode", "percentile_cont",
  "percentile_disc", "rank", "dense_rank", "percent_rank", "cume_dist", "row_number", "ntile", "lag", "lead", "first_value",
  "last_value", "nth_value", "range_agg", "range_intersect_agg", "any_value",
]);

export interface FilterParamUse {
  source: ParamSource;
  /** The type the placeholder is cast to: the compared column's type, else text. */
  cast: string;
}

/** A row filter checked against one relation, ready to be instantiated at each reference. */
export type CompiledFilter =
  | {
      ok: true;
      /** The WHERE expression; column refs unqualified-to-be, placeholders as ParamRef ≥ FILTER_PARAM_BASE. */
      where: PgNode;
      /** What each placeholder ParamRef number stands for. */
      uses: ReadonlyMap<number, FilterParamUse>;
    }
  | { ok: false; message: string; position?: number };

function placeholderSource(name: string): ParamSource {
  const m = KNOWN_PLACEHOLDER.exec(name)!;
  if (m[2]) return { kind: "member.attr", name: m[2] };
  return { kind: m[1] as "member.id" | "member.email" | "key.id" | "link.id" | "team.id" };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function fail(message: string, position?: number): CompiledFilter {
  return position === undefined ? { ok: false, message } : { ok: false, message, position };
}

/**
 * Parses and checks a row filter for `relation`, the way the rewrite will use it: a boolean
 * expression over the relation's own columns (hidden and masked ones too: it is the admin's text and
 * runs below the masks), with placeholders, without subqueries, aggregates or window functions, and
 * with only the functions the checker allows on a link that sees nothing but this table.
 */
export function compileRowFilter(text: string, relation: CatalogRelation, catalog: Catalog): CompiledFilter {
  const sources: ParamSource[] = [];
  let unknown: { name: string; at: number } | undefined;
  const replaced = text.replace(ANY_PLACEHOLDER, (whole, name: string, at: number) => {
    if (!KNOWN_PLACEHOLDER.test(name)) {
      unknown ??= { name: whole, at };
      return whole;
    }
    sources.push(placeholderSource(name));
    // Same length as the placeholder, so parser positions still point into the admin's text.
    return `$${FILTER_PARAM_BASE + sources.length - 1}`.padEnd(whole.length, " ");
  });
  if (unknown)
    return fail(
      `unknown placeholder ${unknown.name} (at character ${unknown.at + 1}): use {{member.id}}, {{member.email}}, {{key.id}}, {{link.id}}, {{team.id}} or {{member.attr.NAME}} (NAME: lowercase letters, digits, _)`,
      unknown.at,
    );
  // ONLY: the filter is checked on the table itself, whatever partitions or children it has.
  const prefix = `SELECT 1 FROM ONLY ${quoteIdent(relation.schema)}.${quoteIdent(relation.name)} WHERE `;
  const parsed = parseSql(prefix + replaced);
  if (!parsed.ok) {
    const at = parsed.position !== undefined && parsed.position >= prefix.length ? parsed.position - prefix.length : undefined;
    return fail(`${parsed.message}${at !== undefined ? ` (at character ${at + 1})` : ""}`, at);
  }
  const select = parsed.statements.length === 1 ? (parsed.statements[0]!.stmt.SelectStmt as PgNode | undefined) : undefined;
  const extra = select ? Object.keys(select).filter((k) => !["targetList", "fromClause", "whereClause", "limitOption", "op"].includes(k)) : [];
  if (!select || extra.length > 0 || select.op !== "SETOP_NONE" || !select.whereClause)
    return fail("must be a single boolean expression (no ;, UNION, ORDER BY, LIMIT, GROUP BY …)");
  const where = select.whereClause as PgNode;
  const columns = new Map(relation.columns.map((c) => [c.name, c.type]));
  const seen = new Set<number>();
  let problem: string | undefined;
  walk(where, (n) => {
    if (problem) return;
    const t = nodeType(n);
    if (!t) return;
    const [kind, node] = t;
    if (kind === "SubLink") problem = "a row filter cannot contain a subquery";
    else if (kind === "ParamRef") {
      const num = node.number as number;
      if (num < FILTER_PARAM_BASE) problem = `$${num} is not allowed in a row filter; use a placeholder such as {{member.attr.NAME}}`;
      else seen.add(num);
    } else if (kind === "ColumnRef") {
      const names = list(node.fields).map(str);
      if (names.some((x) => x === undefined)) {
        problem = "a row filter cannot use * ";
        return;
      }
      const column = names[names.length - 1]!;
      const qualifier = names.slice(0, -1);
      const okQualifier =
        qualifier.length === 0 ||
        (qualifier.length === 1 && qualifier[0] === relation.name) ||
        (qualifier.length === 2 && qualifier[0] === relation.schema && qualifier[1] === relation.name);
      if (!okQualifier) problem = `${names.join(".")} is not a column of ${relation.schema}.${relation.name}; a row filter reads only its own table's columns`;
      else if (!columns.has(column)) problem = `column "${column}" does not exist in ${relation.schema}.${relation.name}`;
    } else if (kind === "FuncCall") {
      const names = list(node.funcname).map(str);
      const name = names.at(-1) ?? "";
      const schema = names.length > 1 ? names.at(-2) : undefined;
      const user = schema && schema !== "pg_catalog" ? catalog.functions[`${schema}.${name}`] : undefined;
      // A filter must give the same answer for a row every time it is asked (the write check asks
      // again after the write): nothing volatile, even what reads may use (random, clock_timestamp).
      if ((user ?? (schema === undefined || schema === "pg_catalog" ? { volatility: catalog.builtinFunctions[name] } : undefined))?.volatility === "volatile") {
        problem = `${name}() is VOLATILE; a row filter may use only IMMUTABLE or STABLE functions`;
        return;
      }
      const userFn = Object.values(catalog.functions).find((f) => f.name === name && (f.kind === "aggregate" || f.kind === "window"));
      if (node.over || node.agg_star || node.agg_distinct || node.agg_order || node.agg_filter || node.agg_within_group || AGGREGATES.has(name) || userFn)
        problem = `${name}() is an aggregate or window function; a row filter is evaluated on one row at a time`;
    }
  });
  if (problem) return fail(problem);
  if (seen.size !== sources.length) return fail("a placeholder is inside a string literal or comment; write it as a value, e.g. owner = {{member.id}}");
  // Functions, operators and casts: what the checker allows on a link that sees only this table.
  const scope = parseScope({ access: "none", schemas: [relation.schema], tables: { [`${relation.schema}.${relation.name}`]: { access: "read" } } });
  if (scope.ok) {
    try {
      new StatementAnalyzer(accessView(scope.scope, catalog)).analyze(parsed.statements[0]!.stmt);
    } catch (error) {
      if (error instanceof Refusal) return fail(error.message);
      if (error instanceof RangeError) return fail("the row filter is nested too deeply");
      throw error;
    }
  }
  const uses = new Map<number, FilterParamUse>();
  for (let i = 0; i < sources.length; i++) uses.set(FILTER_PARAM_BASE + i, { source: sources[i]!, cast: "text" });
  typePlaceholders(where, columns, uses);
  return { ok: true, where, uses };
}

/** A placeholder compared with a column (`col = {{…}}`, `col IN (…)`, BETWEEN) takes the column's type. */
function typePlaceholders(where: PgNode, columns: ReadonlyMap<string, string>, uses: Map<number, FilterParamUse>): void {
  const columnType = (n: unknown): string | undefined => {
    const ref = nodeType(n)?.[0] === "ColumnRef" ? (nodeType(n)![1].fields as PgNode[]) : undefined;
    return ref ? columns.get(str(ref.at(-1)) ?? "") : undefined;
  };
  const params = (n: unknown): number[] => {
    const t = nodeType(n);
    if (t?.[0] === "ParamRef") return [t[1].number as number];
    if (t?.[0] === "List") return list(t[1].items).flatMap(params);
    if (Array.isArray(n)) return n.flatMap(params);
    return [];
  };
  walk(where, (n) => {
    const e = n.A_Expr as PgNode | undefined;
    if (!e) return;
    for (const [col, other] of [
      [e.lexpr, e.rexpr],
      [e.rexpr, e.lexpr],
    ]) {
      const type = columnType(col);
      if (!type) continue;
      for (const num of params(other)) {
        const use = uses.get(num);
        if (use) use.cast = castTypeFor(type);
      }
    }
  });
}

function tablePath(key: string, ...rest: string[]): string {
  return `tables[${JSON.stringify(key)}]${rest.map((r, i) => (i === 0 ? `.${r}` : `[${JSON.stringify(r)}]`)).join("")}`;
}

/**
 * The scope's row filters and masks checked against a database's catalog: what the schema alone
 * cannot know (the web calls it on save, the gateway on load). Empty when everything holds.
 */
export function validateScopeAgainstCatalog(scope: Scope, catalog: Catalog): ScopeError[] {
  const errors: ScopeError[] = [];
  for (const [key, rule] of Object.entries(scope.tables)) {
    const masks = Object.entries(rule.maskedColumns ?? {});
    if (rule.rowFilter === undefined && masks.length === 0) continue;
    const { schema, name } = splitTableKey(key);
    const relation = catalog.relations[`${schema}.${name}`];
    if (!relation) {
      errors.push({ path: tablePath(key), message: `table "${schema}.${name}" does not exist in the database, so its row filter or masks cannot be checked` });
      continue;
    }
    for (const [column] of masks) {
      if (!relation.columns.some((c) => c.name === column))
        errors.push({ path: tablePath(key, "maskedColumns", column), message: `column "${column}" does not exist in ${schema}.${name}` });
    }
    if (rule.rowFilter !== undefined) {
      const compiled = compileRowFilter(rule.rowFilter, relation, catalog);
      if (!compiled.ok) errors.push({ path: tablePath(key, "rowFilter"), message: compiled.message });
    }
  }
  return errors;
}
