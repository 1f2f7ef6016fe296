import { DESTRUCTIVE_WORDS } from "./approval.js";
import type { Catalog } from "../catalog/types.js";
import { accessView } from "./access.js";
import { describeGovernance } from "./describe-governance.js";
import { DEFAULT_APPROVAL_EXPIRY_MINUTES, splitTableKey, type AccessLevel, type ApprovalMode, type Scope } from "./schema.js";

const WORDS: Record<AccessLevel, string> = {
  none: "no access",
  read: "read (SELECT)",
  write: "read and write (SELECT, INSERT, UPDATE, DELETE, MERGE)",
  admin: "read, write and schema changes (DDL)",
};

/**
 * What the link allows, in plain words, for get_permissions and for refusals. Never names a hidden
 * table or column (that would confirm it exists): it only says that some exist, and only when the
 * catalog shows they do.
 */
export function describeScope(scope: Scope, catalog?: Catalog): string {
  const lines: string[] = [];
  const schemas = scope.schemas ? `schema${scope.schemas.length > 1 ? "s" : ""} ${scope.schemas.join(", ")}` : "every schema";
  lines.push(`Default access: ${WORDS[scope.access]} on tables in ${schemas}.`);
  const byLevel = new Map<AccessLevel, string[]>();
  let hidesColumns = false;
  for (const [key, rule] of Object.entries(scope.tables)) {
    const { schema, name } = splitTableKey(key);
    if (catalog && !accessView(scope, catalog).relations.has(`${schema}.${name}`)) continue;
    const level = rule.access ?? scope.access;
    if (level !== scope.access && level !== "none") {
      const list = byLevel.get(level) ?? [];
      list.push(`${schema}.${name}`);
      byLevel.set(level, list);
    }
    if (rule.hiddenColumns?.length) hidesColumns = true;
  }
  for (const level of ["read", "write", "admin"] as const) {
    const tables = byLevel.get(level);
    if (tables?.length) lines.push(`${WORDS[level][0]!.toUpperCase()}${WORDS[level].slice(1)} on: ${tables.sort().join(", ")}.`);
  }
  // Row filters and masks change what a read returns without a refusal; the caller must hear of them.
  lines.push(...describeGovernance(scope, catalog).lines);
  lines.push(...approvalLines(scope, catalog));
  const hides = catalog ? accessView(scope, catalog).hidesSomething : scope.access === "none" || hidesColumns || Object.values(scope.tables).some((t) => t.access === "none");
  if (hides)
    lines.push("Some tables or columns of this database are not available to this link; they behave as if they did not exist. System catalogs are not readable; use list_tables, describe_table and get_schema.");
  else if (scope.access !== "none") lines.push("Schema browsing through information_schema and pg_catalog is allowed.");
  lines.push(
    "Never allowed: transaction control, SET/RESET and set_config, COPY, server files and programs, large objects, dblink, advisory locks, pg_sleep, LOAD, ALTER SYSTEM, extensions, roles and privileges.",
  );
  lines.push(`Each call returns at most ${scope.limits.maxRows} rows and stops after ${scope.limits.statementTimeoutMs} ms.`);
  const gate = costGate(scope);
  if (gate) lines.push(`A read whose planner estimate exceeds ${gate} is refused before it runs (estimated_cost_exceeded / estimated_rows_exceeded); narrow it with WHERE or LIMIT.`);
  return lines.join("\n");
}

const APPROVAL_WORDS: Record<ApprovalMode, string> = {
  writes: "every write needs a lead's approval",
  destructive: `destructive writes (${DESTRUCTIVE_WORDS}) need a lead's approval; other writes run`,
  confirm: "every write needs the caller's confirmation",
};

/** The approval rules (issue 15), visible tables only, and what a caller sees when one applies. */
function approvalLines(scope: Scope, catalog: Catalog | undefined): string[] {
  const byMode = new Map<ApprovalMode, string[]>();
  for (const [key, rule] of Object.entries(scope.tables)) {
    if (!rule.approval) continue;
    const { schema, name } = splitTableKey(key);
    if (catalog && !accessView(scope, catalog).relations.has(`${schema}.${name}`)) continue;
    byMode.set(rule.approval, [...(byMode.get(rule.approval) ?? []), `${schema}.${name}`]);
  }
  const lines: string[] = [];
  if (scope.approval) lines.push(`Approval: ${APPROVAL_WORDS[scope.approval]}${byMode.size ? " (tables with their own rule below follow it instead)" : ""} (approval: ${scope.approval}).`);
  for (const [mode, tables] of byMode) lines.push(`Approval on ${tables.sort().join(", ")}: ${APPROVAL_WORDS[mode]} (approval: ${mode}).`);
  if (lines.length === 0) return lines;
  const minutes = scope.approvalOptions?.expiresAfterMinutes ?? DEFAULT_APPROVAL_EXPIRY_MINUTES;
  lines.push(
    `Such a write does not run at once: execute_sql answers with a pending write request and a dry-run preview (nothing is changed). Once it is approved or confirmed, run execute_sql again with the same sql, params and the requestId; check it with get_write_request. A request not decided within ${minutes} minutes expires.`,
  );
  return lines;
}

function costGate(scope: Scope): string | undefined {
  const parts: string[] = [];
  if (scope.limits.maxEstimatedCost !== undefined) parts.push(`cost ${scope.limits.maxEstimatedCost}`);
  if (scope.limits.maxEstimatedRows !== undefined) parts.push(`${scope.limits.maxEstimatedRows} rows`);
  return parts.length ? parts.join(" or ") : undefined;
}

/** One line for refusals: what the link allows. */
export function summarizeScope(scope: Scope): string {
  const parts = [`${scope.access === "none" ? "no default access" : `${scope.access} by default`}${scope.schemas ? ` in ${scope.schemas.join(", ")}` : ""}`];
  const byLevel = new Map<string, string[]>();
  for (const [key, rule] of Object.entries(scope.tables)) {
    const level = rule.access ?? scope.access;
    if (level === scope.access || level === "none") continue;
    const { schema, name } = splitTableKey(key);
    byLevel.set(level, [...(byLevel.get(level) ?? []), `${schema}.${name}`]);
  }
  for (const [level, tables] of byLevel) parts.push(`${level} on ${tables.slice(0, 5).join(", ")}${tables.length > 5 ? ", ..." : ""}`);
  if (scope.approval) parts.push(`approval: ${scope.approval}`);
  const approvals = new Map<string, string[]>();
  for (const [key, rule] of Object.entries(scope.tables)) {
    if (!rule.approval) continue;
    const { schema, name } = splitTableKey(key);
    approvals.set(rule.approval, [...(approvals.get(rule.approval) ?? []), `${schema}.${name}`]);
  }
  for (const [mode, tables] of approvals) parts.push(`approval ${mode} on ${tables.slice(0, 3).join(", ")}${tables.length > 3 ? ", ..." : ""}`);
  const gate = costGate(scope);
  if (gate) parts.push(`reads up to an estimated ${gate}`);
  return parts.join("; ");
}
