/** The scope document as the editor holds it, and the pure helpers around it (unit-tested). */
import { DEFAULT_APPROVAL_EXPIRY_MINUTES, DESTRUCTIVE_WORDS, DEFAULT_LIMITS, type AccessLevel, type ApprovalMode, type MaskKind, type Scope, type TableRule } from "@portcullis/policy/scope";

// The one schema lives in packages/policy (scope/schema.ts); the editor only names its types.
export type Access = AccessLevel;
export type { ApprovalMode, MaskKind, TableRule };
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
    // The schema refuses approval on a table nothing can write: dropped with the access that allowed it.
    if (r.approval && mayWrite(rule.access ?? scope.access)) rule.approval = r.approval;
    if (Object.keys(rule).length > 0) tables[k] = rule;
  }
  return {
    access: scope.access,
    ...(scope.schemas ? { schemas: scope.schemas } : {}),
    tables,
    limits: cleanLimits(scope.limits),
    ...(scope.approval ? { approval: scope.approval } : {}),
    ...(scope.approvalOptions ? { approvalOptions: scope.approvalOptions } : {}),
  };
}

/** Whether an access level lets a statement write (only then does an approval rule mean anything). */
export function mayWrite(access: Access): boolean {
  return access === "write" || access === "admin";
}

/** The cost gate's limits are optional: an emptied field removes the key (absent = no gate). */
function cleanLimits(limits: ScopeDoc["limits"]): ScopeDoc["limits"] {
  const { maxEstimatedCost, maxEstimatedRows, ...rest } = limits;
  return {
    ...rest,
    ...(maxEstimatedCost !== undefined && Number.isFinite(maxEstimatedCost) ? { maxEstimatedCost } : {}),
    ...(maxEstimatedRows !== undefined && Number.isFinite(maxEstimatedRows) ? { maxEstimatedRows } : {}),
  };
}

/** Words for each approval choice, shown beside it (the link-level and per-table pickers share them). */
export const APPROVAL_TEXT: Record<ApprovalMode | "", { title: string; description: string }> = {
  "": { title: "No approval", description: "Allowed writes run at once, as before." },
  writes: { title: "Every write", description: "Every INSERT, UPDATE, DELETE, MERGE, TRUNCATE and DDL waits for a lead's approval; the caller gets a preview and a request id." },
  destructive: { title: "Destructive writes", description: `These wait for a lead's approval: ${DESTRUCTIVE_WORDS}. Other writes run at once.` },
  confirm: { title: "Caller confirms", description: "Every write waits until the person at the AI client confirms it (in the client where it can ask, else in the dashboard); no lead is involved." },
};

/** Sets or removes one approval option, dropping the whole object when both are back to the defaults. */
export function withApprovalOptions(scope: ScopeDoc, patch: Partial<NonNullable<ScopeDoc["approvalOptions"]>>): ScopeDoc {
  const next = { selfApproval: false, expiresAfterMinutes: DEFAULT_APPROVAL_EXPIRY_MINUTES, ...scope.approvalOptions, ...patch };
  const { approvalOptions: _previous, ...rest } = scope;
  return next.selfApproval === false && next.expiresAfterMinutes === DEFAULT_APPROVAL_EXPIRY_MINUTES ? rest : { ...rest, approvalOptions: next };
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
