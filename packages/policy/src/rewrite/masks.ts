import type { PgNode } from "../parse/parse.js";
import type { MaskKind } from "../scope/schema.js";
import { clone, nodeType, str, templateExpression } from "./ast.js";

/** What a mask needs from the rewrite: parameters for the hash key (RewriteContext satisfies it). */
export interface MaskParams {
  param(source: { kind: "mask_key_inner" } | { kind: "mask_key_outer" }, castType?: string): PgNode;
}

// Every mask is total: no input makes it raise, so a mask is never an error oracle. Functions and
// operators are pg_catalog-qualified: a user's `||` or `left()` on the search path must not be the
// one that runs over the clear value. `__pc_v` stands for the value, $1/$2 for the HMAC pads.
const V = "__pc_v";
// (`::text`, not `::pg_catalog.text`: the deparser prints both as `::text`; pg_catalog is searched first.)
const TEXT = `${V}::text`;
const TEMPLATES: Record<Exclude<MaskKind, "redact">, string> = {
  partial: `SELECT CASE WHEN ${V} IS NULL THEN NULL WHEN pg_catalog.length(${TEXT}) OPERATOR(pg_catalog.>) 4 THEN pg_catalog.textcat(pg_catalog.textcat(pg_catalog.left(${TEXT}, 1), '***'), pg_catalog.right(${TEXT}, 1)) ELSE '***' END`,
  email: `SELECT CASE WHEN ${V} IS NULL THEN NULL WHEN pg_catalog.strpos(${TEXT}, '@') OPERATOR(pg_catalog.>) 0 THEN pg_catalog.textcat('***@', pg_catalog.split_part(${TEXT}, '@', 2)) ELSE '***' END`,
  last4: `SELECT CASE WHEN ${V} IS NULL THEN NULL WHEN pg_catalog.length(${TEXT}) OPERATOR(pg_catalog.>) 4 THEN pg_catalog.textcat('***', pg_catalog.right(${TEXT}, 4)) ELSE '***' END`,
  // HMAC-SHA-256 with the link's key as two pads (K ⊕ ipad, K ⊕ opad): sha256(opad || sha256(ipad || m)).
  // Without a key the pads bind NULL and so does the hash: never the clear value.
  hash: `SELECT CASE WHEN ${V} IS NULL THEN NULL ELSE pg_catalog.textcat('h:', pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.byteacat($2, pg_catalog.sha256(pg_catalog.byteacat($1, pg_catalog.convert_to(${TEXT}, 'UTF8'))))), 'hex'), 16)) END`,
};
const REDACT_TEXT = `SELECT CASE WHEN ${V} IS NULL THEN NULL ELSE '***' END`;

/** Types whose values are text already: `redact` keeps them text; others become a typed NULL. */
export function isTextType(columnType: string): boolean {
  return /^(text|character varying|character|varchar|bpchar|char|name|citext)(\s*\(\s*\d+\s*\))?$/.test(columnType.trim());
}

/**
 * `value` (an expression over a masked column of type `columnType`) masked with `kind`, as a fresh
 * expression tree: text, except `redact` of a non-text column, which is NULL of the column's type
 * (so `sum(redacted)` is NULL, never an error). NULL stays NULL for every kind.
 */
export function maskExpression(kind: MaskKind, value: PgNode, columnType: string, params: MaskParams): PgNode {
  if (kind === "redact" && !isTextType(columnType)) return templateExpression(`SELECT NULL::${columnType}`);
  const expr = templateExpression(kind === "redact" ? REDACT_TEXT : TEMPLATES[kind]);
  return substitute(expr, value, params) as PgNode;
}

function substitute(node: unknown, value: PgNode, params: MaskParams): unknown {
  if (!node || typeof node !== "object") return node;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) node[i] = substitute(node[i], value, params);
    return node;
  }
  const t = nodeType(node);
  if (t?.[0] === "ColumnRef") {
    const fields = t[1].fields as PgNode[];
    if (fields.length === 1 && str(fields[0]) === V) return clone(value);
  }
  if (t?.[0] === "ParamRef") {
    const kind = t[1].number === 1 ? "mask_key_inner" : "mask_key_outer";
    return params.param({ kind }, "bytea");
  }
  for (const key in node as PgNode) (node as PgNode)[key] = substitute((node as PgNode)[key], value, params);
  return node;
}
