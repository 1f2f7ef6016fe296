import type { Catalog } from "../catalog/types.js";
import { accessView } from "./access.js";
import { hiddenNames } from "./redact.js";
import { ROW_FILTER_PLACEHOLDER, splitTableKey, type MaskKind, type Scope } from "./schema.js";

/** What get_permissions tells a caller about one table's row filter (never a value, never a hidden name). */
export interface RowFilterWords {
  /** "schema.table" */
  table: string;
  /** "you see only rows where support_rep_id equals your rep_id attribute" */
  description: string;
  /** Member attributes the filter compares with (names only: the values are the member's, set by an admin). */
  attributes: string[];
  /** False when the filter mentions something this link cannot see, so only that a rule exists is said. */
  shown: boolean;
}

export interface MaskedColumnWords {
  table: string;
  column: string;
  mask: MaskKind;
  description: string;
}

export interface GovernanceWords {
  rowFilters: RowFilterWords[];
  maskedColumns: MaskedColumnWords[];
  /** One line per governed table, for the plain-words summary. */
  lines: string[];
}

export const MASK_WORDS: Record<MaskKind, string> = {
  redact: "is redacted (always shown as ***; NULL for non-text columns)",
  partial: "is masked (only its first and last character are shown)",
  email: "is masked (only the domain is shown)",
  last4: "is masked (only the last 4 characters are shown)",
  hash: "is shown as a keyed hash (values can be counted and grouped, not read)",
};

function placeholderWords(name: string): string {
  if (name.startsWith("member.attr.")) return `your ${name.slice("member.attr.".length)} attribute`;
  return { "member.id": "your member id", "member.email": "your email address", "key.id": "your key's id", "link.id": "this link's id", "team.id": "your team's id" }[name] ?? "a value of yours";
}

const IDENT = `(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")`;
const PH = `\\{\\{\\s*([a-z.0-9_]+)\\s*\\}\\}`;
const COLUMN_EQUALS = new RegExp(`^(${IDENT}(?:\\.${IDENT})?)\\s*=\\s*${PH}$`);
const EQUALS_COLUMN = new RegExp(`^${PH}\\s*=\\s*(${IDENT}(?:\\.${IDENT})?)$`);

/** Words of the filter, and whether it names only what the link may see (every word outside placeholders). */
function filterWords(filter: string, hiddenWords: (word: string) => boolean): { text: string; safe: boolean; attributes: string[] } {
  const attributes = [...filter.matchAll(new RegExp(ROW_FILTER_PLACEHOLDER.source, "g"))].map((m) => m[1]!).filter((p) => p.startsWith("member.attr.")).map((p) => p.slice(12));
  const oneLine = filter.replace(/\s+/g, " ").trim();
  // String literals are searched too: 'employee' in a filter would name a hidden table just the same.
  const bare = oneLine.replace(new RegExp(ROW_FILTER_PLACEHOLDER.source, "g"), " ");
  const safe = ![...bare.matchAll(/[\p{L}\p{N}_$]+/gu)].some((m) => hiddenWords(m[0].toLowerCase()));
  const simple = oneLine.match(COLUMN_EQUALS) ?? oneLine.match(EQUALS_COLUMN);
  if (simple) {
    const [column, placeholder] = oneLine.match(COLUMN_EQUALS) ? [simple[1]!, simple[2]!] : [simple[2]!, simple[1]!];
    return { text: `you see only rows where ${column} equals ${placeholderWords(placeholder)}`, safe, attributes };
  }
  const text = oneLine.replace(new RegExp(ROW_FILTER_PLACEHOLDER.source, "g"), (_all, name: string) => `[${placeholderWords(name)}]`);
  return { text: `you see only rows for which ${text} is true`, safe, attributes };
}

/**
 * Row filters and masks in plain words, for get_permissions. A filter is shown as its text with each
 * placeholder said in words (never the member's value); when the text mentions anything the link
 * cannot see (a hidden column, table or schema, even inside a subquery) only the rule's existence is
 * said, since naming it would confirm the hidden object exists. Without a catalog, a filter that reads
 * another relation is not shown either (its hidden set is unknown).
 */
export function describeGovernance(scope: Scope, catalog?: Catalog): GovernanceWords {
  const view = catalog ? accessView(scope, catalog) : undefined;
  const names = catalog ? hiddenNames(scope, catalog) : undefined;
  const allHiddenColumns = new Set<string>();
  for (const set of names?.columns.values() ?? []) for (const c of set) allHiddenColumns.add(c);
  for (const rule of Object.values(scope.tables)) for (const c of rule.hiddenColumns ?? []) allHiddenColumns.add(c.toLowerCase());
  const hiddenTables = new Set(Object.entries(scope.tables).filter(([, r]) => (r.access ?? scope.access) === "none").flatMap(([k]) => [k.toLowerCase(), splitTableKey(k).name.toLowerCase()]));
  const hiddenWords = (word: string): boolean =>
    allHiddenColumns.has(word) || hiddenTables.has(word) || !!names?.global.has(word) || (!catalog && word === "select");

  const out: GovernanceWords = { rowFilters: [], maskedColumns: [], lines: [] };
  for (const key of Object.keys(scope.tables).sort()) {
    const rule = scope.tables[key]!;
    const { schema, name } = splitTableKey(key);
    const table = `${schema}.${name}`;
    if ((rule.access ?? scope.access) === "none") continue;
    if (view && !view.relations.has(table)) continue;
    const parts: string[] = [];
    const writable = (view?.relations.get(table)?.access ?? rule.access ?? scope.access) !== "read";
    if (rule.rowFilter !== undefined) {
      const words = filterWords(rule.rowFilter, hiddenWords);
      const description = words.safe ? words.text : "rows are filtered by a rule on a column you cannot see";
      out.rowFilters.push({ table, description, attributes: words.attributes, shown: words.safe });
      parts.push(description);
      if (writable) parts.push("writes reach only those rows, and a write that would leave a row outside them is refused (row_filter_violation)");
    }
    const masked = Object.entries(rule.maskedColumns ?? {}).sort(([a], [b]) => a.localeCompare(b));
    for (const [column, mask] of masked) {
      const description = `${column} ${MASK_WORDS[mask]}`;
      out.maskedColumns.push({ table, column, mask, description });
      parts.push(description);
    }
    // Partitions and inheritance children without a rule of their own take this one (scope/access.ts).
    const children = (view?.relations.get(table)?.relation.children ?? []).filter((c) => view!.relations.has(c) && !scope.tables[c] && !(c.startsWith("public.") && scope.tables[c.slice(7)]));
    if (parts.length > 0 && children.length > 0) parts.push(`its partitions and child tables (${children.join(", ")}) follow the same rule`);
    if (masked.length > 0 && writable)
      parts.push("a write may not read a masked column in its WHERE, SET values or conflict/merge conditions (masked_column_oracle); writing a new value into one is allowed, and RETURNING shows it masked");
    if (parts.length > 0) out.lines.push(`${table}: ${parts.join("; ")}.`);
  }
  return out;
}
