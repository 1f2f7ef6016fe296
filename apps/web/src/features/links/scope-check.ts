import { PortcullisError } from "@portcullis/db/errors";
import type { TargetConnectionRow } from "@portcullis/db/target";
import { isGoverned, validateScopeAgainstCatalog, type Scope, type ScopeError } from "@portcullis/policy";
import { connectionCatalog } from "./target-catalog";

type ConnectionRow = TargetConnectionRow & { name: string; updatedAt: Date };

/** Whether any table rule carries a row filter or masks (only those need the target's catalog to check). */
export function scopeIsGoverned(scope: Scope): boolean {
  return Object.values(scope.tables).some((rule) => isGoverned(rule));
}

/**
 * Row filters and masks checked against the target's own catalog: a filter is SQL over the table's
 * columns and the masks must name columns of the right types. Only the policy package judges them
 * (validateScopeAgainstCatalog); a scope without filters or masks needs no connection to the target.
 */
export async function catalogErrors(scope: Scope, connection: ConnectionRow): Promise<ScopeError[]> {
  if (!scopeIsGoverned(scope)) return [];
  return validateScopeAgainstCatalog(scope, await connectionCatalog(connection));
}

/**
 * On save: refused unless the filters and masks are valid for this database. A target that cannot be
 * reached refuses the save too — a filter nobody could check is not stored as if it were fine.
 */
export async function checkScopeAgainstTarget(scope: Scope, connection: ConnectionRow): Promise<void> {
  const errors = await catalogErrors(scope, connection);
  if (errors.length === 0) return;
  const fieldErrors = Object.fromEntries(errors.map((e) => [`scope.${e.path}`, e.message]));
  throw new PortcullisError("invalid_input", errors.map((e) => `${e.path}: ${e.message}`).join("; "), { fieldErrors });
}
