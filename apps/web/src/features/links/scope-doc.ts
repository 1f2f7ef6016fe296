/** The scope document as the editor holds it, and the pure helpers around it (unit-tested). */
export type Access = "none" | "read" | "write" | "admin";
export interface TableRule {
  access?: Access;
  hiddenColumns?: string[];
}
export interface ScopeDoc {
  access: Access;
  schemas?: string[];
  tables: Record<string, TableRule>;
  limits: { maxRows: number; statementTimeoutMs: number };
}

export const DEFAULT_SCOPE: ScopeDoc = { access: "read", tables: {}, limits: { maxRows: 1000, statementTimeoutMs: 15000 } };

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


/** Removes rules that say nothing (same access as the default, no hidden columns). */
export function cleanScope(scope: ScopeDoc): ScopeDoc {
  const tables: Record<string, TableRule> = {};
  for (const [k, r] of Object.entries(scope.tables)) {
    const rule: TableRule = {};
    if (r.access && r.access !== scope.access) rule.access = r.access;
    if (r.hiddenColumns?.length && rule.access !== "none") rule.hiddenColumns = r.hiddenColumns;
    if (rule.access || rule.hiddenColumns) tables[k] = rule;
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
