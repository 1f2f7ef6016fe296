import { Refusal } from "../analyze/refusal.js";
import type { PgNode } from "../parse/parse.js";
import type { AccessView } from "../scope/access.js";
import { hiddenNames } from "../scope/redact.js";

const IDENTIFIER = /[\p{L}\p{N}_$]+/gu;

function words(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(IDENTIFIER)) out.add(m[0].toLowerCase());
  return out;
}

// Per AccessView: the hidden names the link's row filters mention (an admin may filter on a column
// the link hides — a tenant id — and the filter's text is theirs, not the member's to read).
const cache = new WeakMap<AccessView, ReadonlySet<string>>();

/** Hidden column, table and schema names that appear in the text of this link's row filters. */
export function hiddenNamesInFilters(view: AccessView): ReadonlySet<string> {
  let found = cache.get(view);
  if (found) return found;
  const hidden = hiddenNames(view.scope, view.catalog);
  const out = new Set<string>();
  for (const [key, governance] of view.governed) {
    if (governance.rowFilter === undefined) continue;
    const columns = view.relations.get(key)?.hiddenColumns;
    for (const word of words(governance.rowFilter)) {
      if (hidden.global.has(word)) out.add(word);
      if (columns) for (const c of columns) if (c.toLowerCase() === word) out.add(word);
    }
  }
  cache.set(view, (found = out));
  return found;
}

/** Whether a text (a rewritten statement, a plan) names one of the hidden names a row filter uses. */
export function namesFilterSecrets(text: string, view: AccessView): boolean {
  const secrets = hiddenNamesInFilters(view);
  if (secrets.size === 0) return false;
  for (const word of words(text)) if (secrets.has(word)) return true;
  return false;
}

/**
 * EXPLAIN prints the statement that runs, our row filters included: a filter on a column the link
 * hides would name it. Such an EXPLAIN is refused (a plain read of the same statement still runs).
 */
export function refuseExplainNamingFilterSecrets(stmt: PgNode, rewrittenSql: string, view: AccessView): void {
  if (!("ExplainStmt" in stmt)) return;
  if (namesFilterSecrets(rewrittenSql, view))
    throw new Refusal(
      "explain_row_filter",
      "EXPLAIN would print this link's row filter, which uses a column this link cannot see; run the statement itself, or ask an admin for its plan",
    );
}
