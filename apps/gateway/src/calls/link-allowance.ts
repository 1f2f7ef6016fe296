import { splitTableKey, type AccessLevel } from "@portcullis/policy";
import type { LinkRecord } from "../context.js";
import type { LinkAllowance } from "./call-outcome.js";

const cache = new WeakMap<LinkRecord["scope"], LinkAllowance>();

/**
 * What a link allows, as data for refusals and get_permissions. Tables the scope hides (`none`) are
 * left out: to this link they do not exist, and naming them would tell a model they do.
 */
export function linkAllowance(link: LinkRecord): LinkAllowance {
  const scope = link.scope;
  let allowance = cache.get(scope);
  if (allowance) return allowance;
  const tables: Record<string, AccessLevel> = {};
  for (const [key, rule] of Object.entries(scope.tables)) {
    const access = rule.access ?? scope.access;
    if (access === scope.access || access === "none") continue;
    const { schema, name } = splitTableKey(key);
    tables[`${schema}.${name}`] = access;
  }
  allowance = { access: scope.access, tables, maxRows: scope.limits.maxRows, statementTimeoutMs: scope.limits.statementTimeoutMs };
  cache.set(scope, allowance);
  return allowance;
}

/** Every access level the link grants somewhere (hidden tables excluded). */
export function accessLevels(link: LinkRecord): Set<AccessLevel> {
  const levels = new Set<AccessLevel>();
  if (link.scope.access !== "none") levels.add(link.scope.access);
  for (const rule of Object.values(link.scope.tables)) {
    const access = rule.access ?? link.scope.access;
    if (access !== "none") levels.add(access);
  }
  return levels;
}

/** Tables granted `level` explicitly (beyond the link default), "schema.table", sorted. */
export function tablesWith(link: LinkRecord, level: AccessLevel): string[] {
  return Object.entries(linkAllowance(link).tables)
    .filter(([, access]) => access === level)
    .map(([key]) => key)
    .sort();
}
