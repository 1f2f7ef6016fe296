import type { PgNode } from "../parse/parse.js";
import { clone, templateExpression, walk } from "./ast.js";
import type { ParamSource } from "./types.js";

const castTypes = new Map<string, PgNode>();
const MAX_CAST_TYPES = 1000;

/** The TypeName node of `castType` as the parser spells it (parsed once per type text). */
function typeName(castType: string): PgNode {
  let tn = castTypes.get(castType);
  if (!tn) {
    const expr = templateExpression(`SELECT $1::${castType}`);
    const cast = expr.TypeCast as PgNode | undefined;
    if (!cast) throw new Error(`not a type: ${castType}`);
    tn = cast.typeName as PgNode;
    if (castTypes.size < MAX_CAST_TYPES) castTypes.set(castType, tn);
  }
  return clone(tn);
}

/**
 * The highest `$n` the caller's statements use: the rewrite's own parameters are numbered after it,
 * so the caller's values bind exactly as they would have without the rewrite.
 */
export function highestParam(trees: readonly unknown[]): number {
  let highest = 0;
  for (const tree of trees)
    walk(tree, (n) => {
      const p = n.ParamRef as PgNode | undefined;
      if (p && typeof p.number === "number" && p.number > highest) highest = p.number;
    });
  return highest;
}

function sourceKey(source: ParamSource): string {
  switch (source.kind) {
    case "member.attr":
      return `member.attr:${source.name}`;
    case "constant":
      return `constant:${JSON.stringify(source.value)}`;
    default:
      return source.kind;
  }
}

/**
 * Hands out the rewrite's `$n`. The number depends only on the statement and the scope, never on who
 * calls, so the rewritten text stays cacheable; the same (source, cast) shares one number, and a
 * source used under two casts gets two numbers (each bound to the same value), so PostgreSQL never
 * has to infer one type for a parameter used as two.
 */
export class ParamAllocator {
  readonly params: ParamSource[] = [];
  private readonly numbers = new Map<string, number>();
  private first: number | undefined;

  /** `callerTrees` are read (lazily, on the first parameter) for the caller's highest `$n`. */
  constructor(private readonly callerTrees: readonly unknown[]) {}

  get firstParam(): number {
    this.first ??= highestParam(this.callerTrees) + 1;
    return this.first;
  }

  number(source: ParamSource, castType?: string): number {
    const key = `${sourceKey(source)}\u0000${castType ?? ""}`;
    let n = this.numbers.get(key);
    if (n === undefined) {
      n = this.firstParam + this.params.length;
      this.params.push(source);
      this.numbers.set(key, n);
    }
    return n;
  }

  node(source: ParamSource, castType?: string): PgNode {
    const ref: PgNode = { ParamRef: { number: this.number(source, castType) } };
    if (castType === undefined) return ref;
    return { TypeCast: { arg: ref, typeName: typeName(castType) } };
  }

  /** Member attribute names bound, for the audit (names only, never values). */
  attributes(): string[] {
    const names = new Set<string>();
    for (const p of this.params) if (p.kind === "member.attr") names.add(p.name);
    return [...names].sort();
  }
}

/**
 * The type a placeholder compared with a column of type `columnType` is cast to: the column's type
 * without its modifier. `$1::varchar(40)` would silently truncate a longer value and
 * `$1::numeric(10,2)` round it, so a value that is not the row's could still match it; `character`
 * without a length means char(1), so blank-padded types use `bpchar`.
 */
export function castTypeFor(columnType: string): string {
  if (columnType.includes('"')) return columnType; // a quoted user type: no modifier to strip
  const t = columnType.replace(/\(\s*\d+\s*(,\s*\d+\s*)?\)/g, "").replace(/\s+/g, " ").trim();
  return /^character(?! varying)/.test(t) ? t.replace(/^character/, "bpchar") : t;
}
