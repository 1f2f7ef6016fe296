import { describe, expect, it } from "vitest";
import { createPolicyChecker, parseScope, ROW_FILTER_VIOLATION_MARKER } from "../src/index.js";
import { parseSql, type PgNode } from "../src/parse/parse.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";
import { SCOPES } from "./support/scopes.js";

// The shape of rewritten writes (rewrite/dml-check.ts); what they do on a real server is proven in
// rewrite-rls.int.test.ts and rewrite-masks.int.test.ts.
const checker = createPolicyChecker({ cacheSize: 0 });
const C = "INSERT INTO customer (customer_id, first_name, last_name, email, support_rep_id)";

function rewritten(sql: string): { sql: string; tree: PgNode; writeCheck: boolean; firstParam: number } {
  const v = checker.check(sql, SCOPES.governed, chinookCatalog);
  expect(v.allowed, v.reason).toBe(true);
  expect(v.rewrite, sql).toBeDefined();
  const parsed = parseSql(v.rewrite!.sql);
  if (!parsed.ok) throw new Error(parsed.message);
  return { sql: v.rewrite!.sql, tree: parsed.statements[0]!.stmt, writeCheck: v.rewrite!.writeCheck, firstParam: v.rewrite!.firstParam };
}

const ctes = (select: PgNode): string[] =>
  ((select.withClause as PgNode).ctes as PgNode[]).map((c) => (c.CommonTableExpr as PgNode).ctename as string);
const outputNames = (select: PgNode): string[] => ((select.targetList as PgNode[] | undefined) ?? []).map((t) => (t.ResTarget as PgNode).name as string);

describe("writes on a table with a row filter", () => {
  it("UPDATE becomes a data-modifying CTE: filter in WHERE, check on the new row, caller's columns by name", () => {
    const r = rewritten("UPDATE customer c SET city = $1 WHERE customer_id = $2 RETURNING c.customer_id, city AS town, upper(city), 1 + 1");
    expect(r.writeCheck).toBe(true);
    expect(r.firstParam).toBe(3); // after the caller's $1, $2
    const select = r.tree.SelectStmt as PgNode;
    expect(ctes(select)).toEqual(["__pc_write"]);
    expect(outputNames(select)).toEqual(["customer_id", "town", "upper", "?column?"]);
    const update = ((select.withClause as PgNode).ctes as PgNode[])[0]!.CommonTableExpr as PgNode;
    expect(Object.keys(update.ctequery as PgNode)).toEqual(["UpdateStmt"]);
    expect(r.sql).toContain("c.support_rep_id = CAST($3 AS int)");
    expect(r.sql).toContain(`'${ROW_FILTER_VIOLATION_MARKER}:'`);
  });

  it("without RETURNING the outer query has no columns: one row per written row", () => {
    const select = rewritten(`${C} VALUES (100, 'a', 'b', 'c@d.e', 3)`).tree.SelectStmt as PgNode;
    expect(outputNames(select)).toEqual([]);
  });

  it("the caller's WITH stays on top (data-modifying CTEs must be top level) and our CTE never shadows theirs", () => {
    const r = rewritten(`WITH __pc_write AS (SELECT 3 AS r) ${C} SELECT 101, 'a', 'b', 'x@y.z', r FROM __pc_write RETURNING 1 AS __pc_ok, customer_id AS __pc_c1`);
    const select = r.tree.SelectStmt as PgNode;
    expect(ctes(select)).toEqual(["__pc_write", "__pc_write2"]);
    // The caller's own __pc_ok / __pc_c1 come out under their names; the check reads ours.
    expect(outputNames(select)).toEqual(["__pc_ok", "__pc_c1"]);
    expect(r.sql).toContain("FROM __pc_write2 AS __pc_all WHERE (CASE WHEN __pc_all.__pc_ok IS TRUE");
  });

  it("DELETE needs no check: the filter joins its WHERE, the caller's WHERE runs only inside it, the statement stays a DELETE", () => {
    const r = rewritten("DELETE FROM invoice i WHERE total < 1 AND invoice_id = 5");
    expect(r.writeCheck).toBe(false);
    expect(Object.keys(r.tree)).toEqual(["DeleteStmt"]);
    // numeric < is not leakproof: only behind the filter; integer = is, and is copied out for the index.
    expect(r.sql).toMatch(/WHERE .*i\.billing_country = CAST\(\$1 AS varchar\) AND i\.invoice_id = 5 AND CASE WHEN \(.*i\.billing_country = CAST\(\$1 AS varchar\)\) THEN \(total < 1 AND invoice_id = 5\) ELSE false END$/);
    // Only leakproof conjuncts: nothing to guard, no CASE (a shorter text to parse back).
    expect(rewritten("DELETE FROM invoice WHERE invoice_id = 5").sql).toMatch(/^DELETE FROM invoice WHERE .*invoice\.billing_country = CAST\(\$1 AS varchar\) AND invoice_id = 5$/);
  });

  it("ON CONFLICT DO UPDATE checks the proposed row, then the existing row, then the caller's WHERE", () => {
    const r = rewritten(`${C} VALUES (1, 'a', 'b', 'c@d.e', 3) ON CONFLICT (customer_id) DO UPDATE SET first_name = excluded.first_name WHERE customer.city IS NOT NULL`);
    const proposed = r.sql.indexOf(":proposed");
    const where = r.sql.indexOf("customer.city IS NOT NULL");
    const existing = r.sql.indexOf(":conflict");
    expect(proposed).toBeGreaterThan(0);
    expect(existing).toBeGreaterThan(proposed);
    expect(where).toBeGreaterThan(existing);
    expect(r.sql).toContain("excluded.support_rep_id");
  });

  it("EXPLAIN of a write explains the checked statement", () => {
    const r = rewritten("EXPLAIN UPDATE customer SET city = 'x'");
    expect(Object.keys(((r.tree.ExplainStmt as PgNode).query as PgNode))).toEqual(["SelectStmt"]);
  });

  it("RETURNING masks the target's masked columns, keeping their names; * is expanded", () => {
    const r = rewritten("DELETE FROM customer WHERE customer_id = 1 RETURNING email, phone AS p, *, (SELECT customer.fax)");
    const del = r.tree.DeleteStmt as PgNode;
    const names = ((del.returningClause as PgNode).exprs as PgNode[]).map((t) => (t.ResTarget as PgNode).name ?? null);
    expect(names.slice(0, 2)).toEqual(["email", "p"]);
    expect(names.at(-1)).toBe("fax"); // PostgreSQL's name for the sublink, kept though its inside is now a mask
    expect(names).toContain("company");
    expect(r.sql).not.toMatch(/RETURNING email\b/);
    expect(r.sql).toContain("'h:'");
  });

  it("a write on a parent reaching a governed child is refused unless ONLY keeps it on the parent", () => {
    const parsed = parseScope({ access: "read", tables: { note: { access: "write" }, secret_note: { access: "write", rowFilter: "id = {{member.attr.note}}" } } });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const check = (sql: string) => checker.check(sql, parsed.scope, chinookCatalog);
    expect(check("UPDATE note SET body = 'x'")).toMatchObject({ allowed: false, ruleId: "row_filter_violation" });
    expect(check("DELETE FROM note WHERE id = 1")).toMatchObject({ allowed: false, ruleId: "row_filter_violation" });
    expect(check("UPDATE ONLY note SET body = 'x'")).toMatchObject({ allowed: true });
    expect(check("UPDATE secret_note SET body = 'x'").rewrite?.writeCheck).toBe(true);
  });

  it("refuses what it cannot check", () => {
    const refused = (sql: string, rule: string) => expect(checker.check(sql, SCOPES.governed, chinookCatalog).ruleId, sql).toBe(rule);
    refused("WITH x AS (UPDATE customer SET city = 'x' RETURNING customer_id) SELECT * FROM x", "row_filter_violation");
    refused("MERGE INTO customer c USING invoice i ON i.customer_id = c.customer_id WHEN MATCHED THEN UPDATE SET city = 'x'", "row_filter_violation");
    refused("UPDATE invoice i SET total = 1 FROM customer c WHERE c.customer_id = i.customer_id RETURNING *", "row_filter_violation");
    refused("DELETE FROM customer c RETURNING c", "masked_column_oracle");
    refused("UPDATE customer SET city = 'x' WHERE email LIKE 'a%'", "masked_column_oracle");
    // A MERGE on 15 says why; the reason names the server version, not a generic failure.
    expect(checker.check("MERGE INTO invoice i USING invoice_line l ON l.invoice_id = i.invoice_id WHEN MATCHED THEN DELETE", SCOPES.governed, chinookCatalog).reason).toContain(
      "cannot be checked on PostgreSQL < 17",
    );
  });
});
