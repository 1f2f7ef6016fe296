import type { Catalog } from "../catalog/types.js";
import { accessView } from "./access.js";
import type { Scope } from "./schema.js";

/**
 * Free text shown to a link — stored descriptions (AI-written or human), PostgreSQL COMMENTs — is
 * written about the whole database, so it can name what the link must not know exists ("Links to
 * employee via support_rep_id", "email is the customer's address"). Hidden means absent, so any
 * sentence that mentions a hidden name is dropped before the text is shown.
 *
 * Matching is by whole identifier, case-insensitive: `employee` matches "employee" and "Employee's"
 * but not "employee_id" (that is a visible column's own name). It over-redacts rather than
 * under-redacts: a hidden table called "orders" also removes sentences that use the word "orders".
 */
export interface HiddenNames {
  /** Hidden relations (bare and schema-qualified) and hidden schemas: never mentioned anywhere. */
  global: ReadonlySet<string>;
  /** Hidden columns per visible relation key: never mentioned in that relation's texts. */
  columns: ReadonlyMap<string, ReadonlySet<string>>;
  /**
   * Relations whose rows this link sees only in part (a row filter, or a view / parent reading one) and
   * masked columns per relation: texts about them may not carry counts or values (see withoutValues).
   */
  governed: ReadonlyMap<string, { partialRows: boolean; masked: ReadonlySet<string> }>;
}

const cache = new WeakMap<Catalog, WeakMap<Scope, HiddenNames>>();

export function hiddenNames(scope: Scope, catalog: Catalog): HiddenNames {
  let perCatalog = cache.get(catalog);
  if (!perCatalog) cache.set(catalog, (perCatalog = new WeakMap()));
  const cached = perCatalog.get(scope);
  if (cached) return cached;
  const view = accessView(scope, catalog);
  const global = new Set<string>();
  for (const [key, relation] of Object.entries(catalog.relations)) {
    if (view.relations.has(key)) continue;
    global.add(relation.name.toLowerCase());
    global.add(key.toLowerCase());
  }
  for (const schema of catalog.schemas) if (!view.visibleSchemas.has(schema)) global.add(schema.toLowerCase());
  // A hidden name that is also the name of something visible is not a secret; keep sentences about it.
  for (const relation of view.relations.values()) global.delete(relation.relation.name.toLowerCase());
  const columns = new Map<string, Set<string>>();
  for (const relation of view.relations.values()) {
    if (relation.hiddenColumns.size) columns.set(relation.key, new Set([...relation.hiddenColumns].map((c) => c.toLowerCase())));
  }
  const governed = new Map<string, { partialRows: boolean; masked: ReadonlySet<string> }>();
  for (const [key, g] of view.governed) {
    const partialRows = g.rowFilter !== undefined || g.readsGoverned.length > 0 || g.governedChildren.length > 0;
    governed.set(key, { partialRows, masked: new Set(g.masks.keys()) });
  }
  const names = { global, columns, governed };
  perCatalog.set(scope, names);
  return names;
}

const IDENTIFIER = /[\p{L}\p{N}_$]+(?:\.[\p{L}\p{N}_$]+)*/gu;

function mentionsAny(sentence: string, sets: ReadonlySet<string>[]): boolean {
  for (const match of sentence.matchAll(IDENTIFIER)) {
    const word = match[0].toLowerCase();
    for (const set of sets) {
      if (set.has(word)) return true;
      // "public.employee" or "employee.email": any dotted part may be the hidden name.
      if (word.includes(".") && word.split(".").some((part) => set.has(part))) return true;
      // Plural or possessive forms of a hidden name ("employees", "employee's").
      if (word.endsWith("s") && set.has(word.slice(0, -1))) return true;
    }
  }
  return false;
}

/**
 * Returns the text without the sentences that mention a hidden name, or undefined when nothing is
 * left. `relationKey` ("schema.table") adds that relation's hidden columns to the names looked for.
 */
export function redactHiddenMentions(text: string | undefined, names: HiddenNames, relationKey?: string): string | undefined {
  if (!text) return text;
  const sets: ReadonlySet<string>[] = [names.global];
  const columns = relationKey ? names.columns.get(relationKey) : undefined;
  if (columns) sets.push(columns);
  if (!sets.some((s) => s.size)) return text;
  const sentences = text.split(/(?<=[.!?;:])\s+|\n+/);
  const kept = sentences.filter((sentence) => !mentionsAny(sentence, sets));
  if (kept.length === sentences.length) return text;
  const result = kept.join(" ").trim();
  return result || undefined;
}

// A count ("about 59 rows", "(25 rows)", "12 distinct"), a listed value ("Values: USA, Canada"), a quoted
// example or an address: what a text written about the whole table may say that a filtered or masked
// link must not learn.
// A single quote counts only where it opens a quotation (after a space or punctuation), not in "customer's".
const CARRIES_VALUES = /\d|["\u201c\u201d@]|(^|[\s(,:=])['\u2018][^'\u2019]+['\u2019]|\bvalues?\b|\be\.g\./i;

/**
 * The text without its sentences that carry counts or values. Descriptions are written about the
 * whole table (row estimates, common values, samples taken before a filter or mask was set), so on a
 * link that sees only some rows, or a masked column, those sentences go; the rest (what the table is,
 * how it joins) stays. Undefined when nothing is left.
 */
export function withoutValues(text: string | undefined): string | undefined {
  if (!text) return text;
  const sentences = text.split(/(?<=[.!?;])\s+|\n+/);
  const kept = sentences.filter((sentence) => !CARRIES_VALUES.test(sentence));
  if (kept.length === sentences.length) return text;
  return kept.join(" ").trim() || undefined;
}
