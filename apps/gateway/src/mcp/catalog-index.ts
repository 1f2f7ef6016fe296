import { createHash } from "node:crypto";
import { accessView, hiddenNames, visibleObjects, type Catalog, type Scope, type VisibleAccess, type VisibleObjects, type VisibleRelation } from "@portcullis/policy";
import { LRUCache } from "lru-cache";
import { isMultiDatabase, linkDatabases } from "../access/link-database.js";
import type { CallContext, LinkRecord } from "../context.js";
import type { Descriptions } from "../execution/descriptions.js";
import type { Services } from "../services.js";
import { displayName, oneLine, tableDescription } from "./tools/schema-format.js";

export { oneLine };

export type ObjectKind = "table" | "view" | "materialized_view" | "function";

export interface IndexedColumn {
  name: string;
  lname: string;
  /** Lower-cased description tokens, space-separated with a space at both ends (" word word "). */
  ldesc: string;
}

export interface IndexedObject {
  /** "schema.name" */
  key: string;
  schema: string;
  name: string;
  /** As the link's SQL would write it (bare on the search path's first schema). */
  display: string;
  kind: ObjectKind;
  access: VisibleAccess;
  description?: string;
  relation?: VisibleRelation;
  lname: string;
  lkey: string;
  ldesc: string;
  columns: IndexedColumn[];
}

/**
 * Everything one link may see of one catalog, prepared once for searching, paging and summarising:
 * built only from visibleObjects and the link's redacted descriptions, so a hidden table, a hidden
 * column, or a sentence naming either is simply not in it (nothing to match, nothing to count).
 */
export interface CatalogIndex {
  /** Catalog version and scope: what page cursors are bound to. */
  binding: string;
  database: string;
  loadedAt: string;
  visible: VisibleObjects;
  descriptions: Descriptions;
  defaultSchema: string | undefined;
  /** Sorted by key in code-unit order (locale-independent, so pages are the same on every instance). */
  objects: IndexedObject[];
  relationsByKey: Map<string, VisibleRelation>;
  /** Derived values (get_schema texts, hub lists) computed on first use for this index. */
  memo: Map<string, unknown>;
}

const RELATION_KINDS: Partial<Record<VisibleRelation["kind"], ObjectKind>> = {
  table: "table",
  partitioned_table: "table",
  foreign_table: "table",
  view: "view",
  materialized_view: "materialized_view",
};

/** Lower-case word tokens (letters and digits; `_` and punctuation split words). */
export function tokens(text: string): string[] {
  return text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

function tokenText(...texts: (string | undefined)[]): string {
  const all = texts.flatMap((t) => (t ? tokens(t) : []));
  return all.length ? ` ${all.join(" ")} ` : "";
}

export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function buildCatalogIndex(catalog: Catalog, scope: Scope, descriptions: Descriptions, binding = indexBinding(catalog, scope)): CatalogIndex {
  const visible = visibleObjects(scope, catalog);
  const defaultSchema = visible.searchPath[0];
  const objects: IndexedObject[] = [];
  const relationsByKey = new Map<string, VisibleRelation>();
  for (const relation of visible.relations) {
    relationsByKey.set(relation.key, relation);
    const kind = RELATION_KINDS[relation.kind];
    if (!kind) continue;
    const described = descriptions.get(relation.key);
    const description = tableDescription(relation, descriptions);
    objects.push({
      key: relation.key,
      schema: relation.schema,
      name: relation.name,
      display: displayName(relation, defaultSchema),
      kind,
      access: relation.access,
      ...(description ? { description: oneLine(description) } : {}),
      relation,
      lname: relation.name.toLowerCase(),
      lkey: relation.key.toLowerCase(),
      ldesc: tokenText(description),
      // Only visible columns, and only their own descriptions: a hidden column's stored description is
      // never looked at, so its words cannot match.
      columns: relation.columns.map((c) => ({ name: c.name, lname: c.name.toLowerCase(), ldesc: tokenText(described?.columns.get(c.name)) })),
    });
  }
  // User functions the link can see (visible schema, not an extension's, body provably reading only
  // visible relations): listed by name only — their bodies are not indexed.
  const view = accessView(scope, catalog);
  const hidden = hiddenNames(scope, catalog);
  for (const [key, fn] of Object.entries(catalog.functions)) {
    if (fn.extension || fn.kind === "aggregate" || fn.kind === "window") continue;
    if (!view.functionFor(fn.schema, fn.name) || !view.functionVerified(key)) continue;
    if (hidden.global.has(fn.name.toLowerCase())) continue;
    objects.push({
      key,
      schema: fn.schema,
      name: fn.name,
      display: displayName(fn, defaultSchema),
      kind: "function",
      // A volatile function may write; stable and immutable ones only read.
      access: fn.volatility === "volatile" ? "write" : "read",
      lname: fn.name.toLowerCase(),
      lkey: key.toLowerCase(),
      ldesc: "",
      columns: [],
    });
  }
  objects.sort((a, b) => compareKeys(a.key, b.key) || compareKeys(a.kind, b.kind));
  return { binding, database: catalog.database, loadedAt: catalog.loadedAt, visible, descriptions, defaultSchema, objects, relationsByKey, memo: new Map() };
}

const scopeHashes = new WeakMap<Scope, string>();

/** Content hash of a scope (scope objects live as long as their cached link; hashed once each). */
export function scopeHash(scope: Scope): string {
  let hash = scopeHashes.get(scope);
  if (!hash) scopeHashes.set(scope, (hash = createHash("sha256").update(JSON.stringify(scope)).digest("base64url").slice(0, 16)));
  return hash;
}

export function indexBinding(catalog: Catalog, scope: Scope): string {
  return `${catalog.version}:${scopeHash(scope)}`;
}

// One entry per (link, catalog version, scope). Keyed by link, not by connection and scope content: the
// link's redacted descriptions are a distinct object per link, and a shared entry would be rebuilt at
// every alternation. An index of a 3,000-table catalog is a few MB; 64 bound the memory.
const indexes = new LRUCache<string, { descriptions: Descriptions; index: CatalogIndex }>({ max: 64 });

/**
 * The link's index, from the cached catalog and descriptions: no query to the target per search. A
 * reload of either (new catalog version, new descriptions object) builds a new one.
 */
export async function catalogIndexFor(services: Services, link: LinkRecord): Promise<CatalogIndex> {
  const catalog = await services.catalogFor(link);
  const descriptions = await services.descriptions.forLink(link.connection.id, hiddenNames(link.scope, catalog));
  const binding = indexBinding(catalog, link.scope);
  const cacheKey = `${link.id}\u0000${link.databaseName ?? ""}\u0000${link.connection.id}\u0000${binding}`;
  const cached = indexes.get(cacheKey);
  if (cached && cached.descriptions === descriptions) return cached.index;
  const index = buildCatalogIndex(catalog, link.scope, descriptions, binding);
  indexes.set(cacheKey, { descriptions, index });
  return index;
}

/** Memoised derived value of an index. */
export function memo<T>(index: CatalogIndex, key: string, compute: () => T): T {
  if (index.memo.has(key)) return index.memo.get(key) as T;
  const value = compute();
  index.memo.set(key, value);
  return value;
}

/** One database's index, with the label its objects carry (undefined on a single-database link). */
export interface LabelledIndex {
  database: string | undefined;
  index: CatalogIndex;
}

/**
 * The indexes a schema tool answers from (issue 17): the call's database, or every database of the link
 * when the tool covers all (ctx.allDatabases). Labelled only when the link has more than one database, so
 * a single-database link answers exactly as before. Each index is built from its own database's scope.
 */
export async function callIndexes(services: Services, ctx: CallContext): Promise<LabelledIndex[]> {
  const labelled = isMultiDatabase(ctx.link);
  const records = ctx.allDatabases ? linkDatabases(ctx.link) : [ctx.link];
  const indexes = await Promise.all(records.map((record) => catalogIndexFor(services, record)));
  return indexes.map((index, i) => ({ database: labelled ? records[i]!.databaseName : undefined, index }));
}
