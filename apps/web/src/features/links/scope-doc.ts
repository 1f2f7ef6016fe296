/** The scope document as the editor holds it, and the pure helpers around it (unit-tested). */
import { DEFAULT_LIMITS, type AccessLevel, type MaskKind, type Scope, type TableRule } from "@portcullis/policy/scope";

// The one schema lives in packages/policy (scope/schema.ts); the editor only names its types.
export type Access = AccessLevel;
export type { MaskKind, TableRule };
/** The editor's draft: the parsed scope shape (defaults applied), checked again by the server on save. */
export type ScopeDoc = Scope;

export const DEFAULT_SCOPE: ScopeDoc = { access: "read", tables: {}, limits: { ...DEFAULT_LIMITS } };

export type Preset = "read-only" | "read-write" | "full" | "custom";
/** Which preset a document matches; hiding tables or columns fits every preset. */
export function presetOf(scope: ScopeDoc): Preset {
  const overrides = Object.values(scope.tables).map((r) => r.access).filter((a): a is Access => !!a && a !== "none");
  if (scope.access === "read" && overrides.every((a) => a === "read")) return "read-only";
  if (scope.access === "read" && overrides.every((a) => a === "write" || a === "read")) return "read-write";
  if (scope.access === "admin" && overrides.length === 0) return "full";
  return "custom";
}

/** Table keys are "table" for public, "schema.table" otherwise (the scope format's canonical form). */
export function tableKey(schema: string, name: string): string {
  return schema === "public" ? name : `${schema}.${name}`;
}

/**
 * Removes rules that say nothing (same access as the default, no hidden columns, no filter, no masks).
 * A hidden table keeps nothing else: a filter or mask on it would mean nothing (the schema refuses it).
 */
export function cleanScope(scope: ScopeDoc): ScopeDoc {
  const tables: Record<string, TableRule> = {};
  for (const [k, r] of Object.entries(scope.tables)) {
    const rule: TableRule = {};
    if (r.access && r.access !== scope.access) rule.access = r.access;
    const hidden = (rule.access ?? scope.access) === "none";
    if (r.hiddenColumns?.length && !hidden) rule.hiddenColumns = r.hiddenColumns;
    if (r.rowFilter !== undefined && r.rowFilter.trim() !== "" && !hidden) rule.rowFilter = r.rowFilter;
    const masks = Object.entries(r.maskedColumns ?? {}).filter(([column]) => !rule.hiddenColumns?.includes(column));
    if (masks.length > 0 && !hidden) rule.maskedColumns = Object.fromEntries(masks);
    if (Object.keys(rule).length > 0) tables[k] = rule;
  }
  return { access: scope.access, ...(scope.schemas ? { schemas: scope.schemas } : {}), tables, limits: scope.limits };
}

/**
 * Shows or hides one schema. Absent `schemas` means every non-system schema, including ones created
 * later; hiding one writes the explicit list, and checking them all again goes back to "every".
 * The last visible schema cannot be hidden (a link that sees no schema sees nothing).
 */
export function toggleSchema(scope: ScopeDoc, allSchemas: string[], schema: string): ScopeDoc {
  const visible = scope.schemas ?? allSchemas;
  const next = visible.includes(schema) ? visible.filter((s) => s !== schema) : [...visible, schema].sort();
  if (next.length === 0) return scope;
  const { schemas: _previous, ...rest } = scope;
  return allSchemas.every((s) => next.includes(s)) ? rest : { ...rest, schemas: next };
}
