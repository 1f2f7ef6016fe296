import { withGrants } from "@portcullis/policy";
import { splitTableKey, type AccessLevel, type Scope } from "@portcullis/policy/scope";
import type { LinkRecord } from "../context.js";
import type { Logger } from "../logger.js";
import type { ActiveGrant } from "./grant-directory.js";

const RANK: Record<AccessLevel, number> = { none: 0, read: 1, write: 2, admin: 3 };

/** A link's access to a table by its own scope alone (the table's rule, else the link's default). */
export function baseAccess(scope: Scope, tableKey: string): AccessLevel {
  const { schema, name } = splitTableKey(tableKey);
  if (scope.schemas && !scope.schemas.includes(schema)) return "none";
  const rule = scope.tables[`${schema}.${name}`] ?? (schema === "public" ? scope.tables[name] : undefined);
  return rule?.access ?? scope.access;
}

/**
 * Why a grant does not apply to this link now, or null when it does. A grant never reveals what the
 * link hides (the scope may have changed since it was granted), never gives admin where the connection
 * may not carry it, and a grant the link's own scope already covers changes nothing.
 */
export function grantBlocked(link: LinkRecord, grant: ActiveGrant): string | null {
  const base = baseAccess(link.scope, grant.tableKey);
  if (base === "none") return "the table is hidden on this link";
  if (RANK[grant.access] <= RANK[base]) return "the link already gives it";
  if (grant.access === "admin" && link.adminRefusal !== null) return `admin is refused on this connection: ${link.adminRefusal ?? "its role is unknown"}`;
  return null;
}

// Per link record object (each scope edit or reload makes a new one), per set of applied grants: the
// verdict cache, the tool-list cache and every WeakMap keyed by the scope see one object per state.
const effective = new WeakMap<LinkRecord, Map<string, LinkRecord>>();
const MAX_SETS_PER_LINK = 256;
// Logged once per (link record, grant): a blocked grant is looked at on every call.
const logged = new WeakMap<LinkRecord, Set<string>>();

/**
 * The record a member's call runs under: the link with `withGrants(scope, grants)` for the grants that
 * apply at `now` (expiry is checked here, on every call: a grant stops at exactly its expires_at), or
 * the link's own record when none does.
 */
export function effectiveLink(link: LinkRecord, grants: readonly ActiveGrant[], logger?: Logger, now = Date.now()): LinkRecord {
  if (grants.length === 0) return link;
  if (link.databases && link.databases.length > 1) return effectiveDatabases(link, grants, logger, now);
  return effectiveOne(link, grantsOf(link, grants, true), logger, now);
}

/**
 * The grants that apply to one database's record (issue 17): those naming it, and for the link's first
 * database those naming none (grants made before a link had several databases) — and only when the
 * record's connection is the one the grant was asked for (attack finding 2): a database removed and
 * added again under the same name, or moved to another connection, inherits nothing. Memoised per
 * (grant array, record) so the verdict caches keyed by array see one array per state.
 */
function grantsOf(record: LinkRecord, grants: readonly ActiveGrant[], first: boolean): readonly ActiveGrant[] {
  let perRecord = filtered.get(grants);
  const hit = perRecord?.get(record);
  if (hit) return hit;
  const connectionId = record.connection.id.toLowerCase();
  const applies = (g: ActiveGrant) =>
    ((g.databaseName ?? null) === null ? first : g.databaseName === record.databaseName) && typeof g.connectionId === "string" && g.connectionId.toLowerCase() === connectionId;
  const matching = grants.filter(applies);
  const answer = matching.length === grants.length ? grants : Object.freeze(matching);
  if (!perRecord) filtered.set(grants, (perRecord = new WeakMap()));
  perRecord.set(record, answer);
  return answer;
}

const filtered = new WeakMap<readonly ActiveGrant[], WeakMap<LinkRecord, readonly ActiveGrant[]>>();

// Per member grant array, per link's first record: the effective record list (stable objects, so the
// caches keyed by record see one object per state), valid until the next of the grants ends.
const multi = new WeakMap<readonly ActiveGrant[], WeakMap<LinkRecord, { record: LinkRecord; until: number }>>();

/** Each database's record with its own grants applied; every record lists the new set. */
function effectiveDatabases(link: LinkRecord, grants: readonly ActiveGrant[], logger: Logger | undefined, now: number): LinkRecord {
  const memo = multi.get(grants)?.get(link);
  if (memo && now < memo.until) return memo.record;
  const databases = link.databases!;
  const records = databases.map((d, i) => effectiveOne(d, grantsOf(d, grants, i === 0), logger, now));
  let record = link;
  if (records.some((r, i) => r !== databases[i])) {
    const copies = records.map((r) => ({ ...r }));
    const all = Object.freeze(copies);
    for (const copy of copies) copy.databases = all;
    record = copies[0]!;
  }
  let until = Infinity;
  for (const grant of grants) if (grant.expiresAt > now && grant.expiresAt < until) until = grant.expiresAt;
  let perLink = multi.get(grants);
  if (!perLink) multi.set(grants, (perLink = new WeakMap()));
  perLink.set(link, { record, until });
  return record;
}

function effectiveOne(link: LinkRecord, grants: readonly ActiveGrant[], logger: Logger | undefined, now: number): LinkRecord {
  if (grants.length === 0) return link;
  // The directory hands out one frozen array per member until a change: the answer for (array, link
  // record) holds until the next of its grants ends, so a call pays two WeakMap lookups.
  const memo = answers.get(grants)?.get(link);
  if (memo && now < memo.until) return memo.record;
  const record = computeEffective(link, grants, logger, now);
  let until = Infinity;
  for (const grant of grants) if (grant.expiresAt > now && grant.expiresAt < until) until = grant.expiresAt;
  let perLink = answers.get(grants);
  if (!perLink) answers.set(grants, (perLink = new WeakMap()));
  perLink.set(link, { record, until });
  return record;
}

const answers = new WeakMap<readonly ActiveGrant[], WeakMap<LinkRecord, { record: LinkRecord; until: number }>>();

function computeEffective(link: LinkRecord, grants: readonly ActiveGrant[], logger: Logger | undefined, now: number): LinkRecord {
  const applied: ActiveGrant[] = [];
  for (const grant of grants) {
    if (grant.expiresAt <= now) continue;
    const blocked = grantBlocked(link, grant);
    if (blocked === null) applied.push(grant);
    else if (logger) {
      let seen = logged.get(link);
      if (!seen) logged.set(link, (seen = new Set()));
      if (!seen.has(grant.id)) {
        seen.add(grant.id);
        logger.warn({ linkId: link.id, grantId: grant.id, table: grant.tableKey, access: grant.access, why: blocked }, "access grant not applied");
      }
    }
  }
  if (applied.length === 0) return link;
  const signature = applied.map((g) => `${g.id}:${g.tableKey}:${g.access}`).join("|");
  let sets = effective.get(link);
  if (!sets) effective.set(link, (sets = new Map()));
  let record = sets.get(signature);
  if (!record) {
    if (sets.size >= MAX_SETS_PER_LINK) sets.clear();
    let scope: Scope;
    try {
      scope = withGrants(link.scope, applied.map((g) => ({ table: g.tableKey, access: g.access })));
    } catch (error) {
      // A set the scope cannot hold applies not at all (never half of it): the link's own record.
      logger?.warn({ linkId: link.id, grants: applied.map((g) => g.id), err: (error as Error).message }, "access grants not applied");
      return link;
    }
    record = { ...link, scope, grants: Object.freeze(applied) };
    sets.set(signature, record);
  }
  return record;
}

/** The grant a call used: the first applied grant on a table the verdict touched (for its audit event). */
export function grantUsed(link: LinkRecord, tables: readonly string[]): string | undefined {
  if (!link.grants?.length) return undefined;
  return link.grants.find((g) => tables.includes(g.tableKey))?.id;
}
