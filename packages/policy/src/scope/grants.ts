import type { Catalog } from "../catalog/types.js";
import { accessView } from "./access.js";
import { scopeSchema, splitTableKey, TABLE_KEY_PATTERN, type AccessLevel, type Scope, type TableRule } from "./schema.js";

/** A time-boxed elevation in force (issue 15): `table` is "schema.table" or "table" (schema public). */
export interface AccessGrantInput {
  table: string;
  access: "read" | "write" | "admin";
}

const LEVEL: Record<AccessLevel, number> = { none: 0, read: 1, write: 2, admin: 3 };

function fullKey(table: string): string {
  const { schema, name } = splitTableKey(table);
  return `${schema}.${name}`;
}

/** Thrown by withGrants for a grant the scope cannot hold (its schema is not the link's, a bad key). */
export class GrantError extends Error {
  constructor(
    message: string,
    readonly table: string,
  ) {
    super(message);
    this.name = "GrantError";
  }
}

/**
 * Whether a grant of `access` on `table` could take effect on this scope. Without a catalog: the key's
 * shape and schema only. With one: the relation must exist and be visible on the link now (a grant
 * never reveals a hidden table: a request for one reads like a missing table), and the raised access
 * must really be in force afterwards (a partition never gets more than its parent's rule allows).
 */
export function canGrant(scope: Scope, table: string, access: AccessGrantInput["access"], catalog?: Catalog): { ok: true } | { ok: false; reason: string } {
  if (typeof table !== "string" || !TABLE_KEY_PATTERN.test(table)) return { ok: false, reason: `"${String(table)}" is not a table name ("table" or "schema.table")` };
  if (!(access in LEVEL) || (access as AccessLevel) === "none") return { ok: false, reason: `unknown access level ${JSON.stringify(access)}: expected read, write or admin` };
  const key = fullKey(table);
  const { schema } = splitTableKey(key);
  if (scope.schemas && !scope.schemas.includes(schema)) return { ok: false, reason: `relation "${key}" does not exist` };
  if (!catalog) return { ok: true };
  const view = accessView(scope, catalog);
  const now = view.relations.get(key);
  if (!now) return { ok: false, reason: `relation "${key}" does not exist` };
  if (LEVEL[now.access] >= LEVEL[access]) return { ok: false, reason: `${key} already has ${now.access} access on this link` };
  const after = accessView(withGrants(scope, [{ table: key, access }]), catalog).relations.get(key);
  if (!after || LEVEL[after.access] < LEVEL[access])
    return { ok: false, reason: `${key} takes its access from its parent table's rule on this link, so a grant on it alone cannot raise it` };
  return { ok: true };
}

/** Tables a member could ask elevation on: visible now, below admin. For the request_access tool's words. */
export function grantableTables(scope: Scope, catalog: Catalog): { table: string; access: "read" | "write" }[] {
  const out: { table: string; access: "read" | "write" }[] = [];
  for (const [key, rel] of accessView(scope, catalog).relations)
    if (rel.access !== "admin" && (rel.relation.kind === "table" || rel.relation.kind === "partitioned_table" || rel.relation.kind === "view"))
      out.push({ table: key, access: rel.access });
  return out.sort((a, b) => a.table.localeCompare(b.table));
}

/**
 * The scope with each granted table's access raised to at least the grant's — never lowered; hidden
 * columns, row filters, masks and approval stay as they are; a table without a rule gets one. Pure and
 * the same object for no grants (callers memoise by identity). Throws GrantError when the result would
 * not be a valid scope (a table outside the link's schemas).
 */
export function withGrants(scope: Scope, grants: readonly AccessGrantInput[]): Scope {
  if (grants.length === 0) return scope;
  // Existing keys by the table they name, so a grant on "public.invoice" raises the rule "invoice".
  const keys = new Map<string, string>();
  for (const key of Object.keys(scope.tables)) keys.set(fullKey(key), key);
  const tables: Record<string, TableRule> = { ...scope.tables };
  let changed = false;
  for (const grant of grants) {
    if (typeof grant.table !== "string" || !TABLE_KEY_PATTERN.test(grant.table)) throw new GrantError(`"${String(grant.table)}" is not a table name`, String(grant.table));
    if (grant.access !== "read" && grant.access !== "write" && grant.access !== "admin") throw new GrantError(`unknown access level ${JSON.stringify(grant.access)}`, grant.table);
    const full = fullKey(grant.table);
    const { schema } = splitTableKey(full);
    if (scope.schemas && !scope.schemas.includes(schema))
      throw new GrantError(`${full} is in schema "${schema}", which this link does not include (${scope.schemas.join(", ")}); it cannot be granted`, full);
    const key = keys.get(full) ?? full;
    const rule = tables[key];
    const current = rule?.access ?? scope.access;
    if (LEVEL[grant.access] <= LEVEL[current]) continue;
    tables[key] = { ...rule, access: grant.access };
    keys.set(full, key);
    changed = true;
  }
  if (!changed) return scope;
  const raised: Scope = { ...scope, tables };
  const check = scopeSchema.safeParse(raised);
  if (!check.success) throw new GrantError(`the granted scope is not valid: ${check.error.issues.map((i) => i.message).join("; ")}`, grants.map((g) => g.table).join(", "));
  return raised;
}
