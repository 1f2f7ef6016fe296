import { compareKeys, tokens, type CatalogIndex, type IndexedColumn, type IndexedObject, type ObjectKind } from "./catalog-index.js";

export type SearchKind = ObjectKind | "column";

export interface SearchFilters {
  query: string;
  kinds?: SearchKind[];
  schema?: string;
}

/** One hit: an object (matched by its name, a column, or a description) or, for kind 'column', one column. */
export interface SearchHit {
  object: IndexedObject;
  column?: IndexedColumn;
  rank: number;
  matched: "name" | "column" | "description";
  /** The hit is the column itself (kinds included 'column'), not its table. */
  columnEntry?: true;
}

// Rank order (lower first): exact name, name prefix, name substring, exact column name, column name
// prefix/substring, description words. Ties break by key, so pages are deterministic.
const EXACT = 0;
const PREFIX = 1;
const SUBSTRING = 2;
const COLUMN_EXACT = 3;
const COLUMN_PARTIAL = 4;
const DESCRIPTION = 5;

interface Query {
  /** Lower-cased, quotes dropped, spaces as underscores ("invoice line" finds invoice_line). */
  name: string;
  words: string[];
}

function parseQuery(query: string): Query {
  const lower = query.toLowerCase().replace(/"/g, "").trim();
  return { name: lower.replace(/\s+/g, "_"), words: tokens(lower) };
}

function nameRank(lname: string, lkey: string, q: Query): number | null {
  if (lname === q.name || lkey === q.name) return EXACT;
  if (lname.startsWith(q.name) || lkey.startsWith(q.name)) return PREFIX;
  if (lkey.includes(q.name)) return SUBSTRING;
  return null;
}

/** Every query word is (the start of) a word of the text. */
function describes(ldesc: string, q: Query): boolean {
  return q.words.length > 0 && ldesc.length > 0 && q.words.every((w) => ldesc.includes(` ${w}`));
}

function columnHit(object: IndexedObject, q: Query): SearchHit | null {
  let partial: IndexedColumn | undefined;
  for (const column of object.columns) {
    if (column.lname === q.name) return { object, column, rank: COLUMN_EXACT, matched: "column" };
    if (!partial && column.lname.includes(q.name)) partial = column;
  }
  return partial ? { object, column: partial, rank: COLUMN_PARTIAL, matched: "column" } : null;
}

function objectHit(object: IndexedObject, q: Query): SearchHit | null {
  const rank = nameRank(object.lname, object.lkey, q);
  if (rank !== null) return { object, rank, matched: "name" };
  const byColumn = columnHit(object, q);
  if (byColumn) return byColumn;
  if (describes(object.ldesc, q) || object.columns.some((c) => describes(c.ldesc, q))) return { object, rank: DESCRIPTION, matched: "description" };
  return null;
}

function columnEntryHit(object: IndexedObject, column: IndexedColumn, q: Query): SearchHit | null {
  const rank = nameRank(column.lname, `${object.lkey}.${column.lname}`, q);
  if (rank !== null) return { object, column, rank, matched: "name", columnEntry: true };
  if (describes(column.ldesc, q)) return { object, column, rank: DESCRIPTION, matched: "description", columnEntry: true };
  return null;
}

const DEFAULT_KINDS: SearchKind[] = ["table", "view", "materialized_view", "function"];

/**
 * All hits for a query over one link's index, best first. Pure and in memory: it sees only what the
 * index holds, which is only what the link may see.
 */
export function searchCatalog(index: CatalogIndex, filters: SearchFilters): SearchHit[] {
  const q = parseQuery(filters.query);
  if (!q.name) return [];
  const kinds = new Set(filters.kinds?.length ? filters.kinds : DEFAULT_KINDS);
  const hits: SearchHit[] = [];
  for (const object of index.objects) {
    if (filters.schema !== undefined && object.schema !== filters.schema) continue;
    if (kinds.has(object.kind)) {
      const hit = objectHit(object, q);
      if (hit) hits.push(hit);
    }
    if (kinds.has("column")) {
      for (const column of object.columns) {
        const hit = columnEntryHit(object, column, q);
        if (hit) hits.push(hit);
      }
    }
  }
  return hits.sort((a, b) => a.rank - b.rank || compareKeys(hitKey(a), hitKey(b)));
}

export function hitKey(hit: SearchHit): string {
  return hit.columnEntry && hit.column ? `${hit.object.key}.${hit.column.name}` : hit.object.key;
}
