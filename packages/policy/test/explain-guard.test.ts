import { describe, expect, it } from "vitest";
import { createPolicyChecker, parseScope, type Scope } from "../src/index.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";

// A row filter may use a column the link hides (a tenant id the AI must not see): the filter is the
// admin's text. EXPLAIN prints the statement that runs, filter included, so it would name the column.

function scope(doc: unknown): Scope {
  const parsed = parseScope(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

const checker = createPolicyChecker({ cacheSize: 0 });
const HIDDEN_IN_FILTER = scope({
  access: "read",
  tables: { customer: { hiddenColumns: ["fax", "email"], rowFilter: "fax IS NULL AND support_rep_id = {{member.attr.rep_id}}" } },
});
const VISIBLE_IN_FILTER = scope({
  access: "read",
  tables: { customer: { hiddenColumns: ["fax"], rowFilter: "support_rep_id = {{member.attr.rep_id}}" } },
});

describe("EXPLAIN over a row filter that uses a hidden column", () => {
  it("is refused, naming the rule, while the statement itself still runs rewritten", () => {
    for (const sql of ["EXPLAIN SELECT customer_id FROM customer", "EXPLAIN (FORMAT JSON) SELECT c.city FROM invoice i JOIN customer c USING (customer_id)"]) {
      const v = checker.check(sql, HIDDEN_IN_FILTER, chinookCatalog);
      expect(v.allowed, sql).toBe(false);
      expect(v.ruleId).toBe("explain_row_filter");
      expect(v.reason).not.toContain("fax");
    }
    const plain = checker.check("SELECT customer_id FROM customer", HIDDEN_IN_FILTER, chinookCatalog);
    expect(plain.allowed).toBe(true);
    expect(plain.rewrite?.sql).toContain("fax");
  });

  it("is allowed when the filter uses only visible columns, or the statement reads no filtered table", () => {
    expect(checker.check("EXPLAIN SELECT customer_id FROM customer", VISIBLE_IN_FILTER, chinookCatalog).allowed).toBe(true);
    expect(checker.check("EXPLAIN SELECT name FROM artist", HIDDEN_IN_FILTER, chinookCatalog).allowed).toBe(true);
  });
});
