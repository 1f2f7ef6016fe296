import { describe, expect, it } from "vitest";
import { parseScope, validateScopeAgainstCatalog, type ScopeError } from "../src/index.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";

// Save-time checks of row filters and masks against the catalog (the web calls this on save, the
// gateway on load): each error names its place in the scope document and says what to change.

function errors(tables: Record<string, unknown>, extra: Record<string, unknown> = {}): ScopeError[] {
  const parsed = parseScope({ access: "read", tables, ...extra });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return validateScopeAgainstCatalog(parsed.scope, chinookCatalog);
}
const filter = (rowFilter: string, table = "customer"): ScopeError[] => errors({ [table]: { rowFilter } });

describe("validateScopeAgainstCatalog", () => {
  it("accepts filters over the table's own columns, hidden and masked ones too, with placeholders and allowed functions", () => {
    expect(filter("support_rep_id = {{member.attr.rep_id}}")).toEqual([]);
    expect(filter("customer.country IN ({{member.attr.c1}}, {{ member.attr.c2 }}) OR public.customer.state IS NULL")).toEqual([]);
    expect(filter("lower(email) LIKE '%@' || {{member.attr.domain}} AND support_rep_id BETWEEN 1 AND 5")).toEqual([]);
    expect(errors({ customer: { hiddenColumns: ["email"], maskedColumns: { phone: "last4" }, rowFilter: "email IS NOT NULL AND phone <> ''" } })).toEqual([]);
    expect(errors({ "sales.customer": { rowFilter: "label = {{member.id}} OR label = {{member.email}} OR label IN ({{key.id}}, {{link.id}}, {{team.id}})" } }, { schemas: ["public", "sales"] })).toEqual([]);
  });

  it("reports a parse error with its position in the filter text", () => {
    expect(filter("support_rep_id = = 3")).toEqual([{ path: 'tables["customer"].rowFilter', message: 'syntax error at or near "=" (at character 18)' }]);
    // Placeholders keep their length, so positions after one still point into the admin's text.
    expect(filter("country = {{member.attr.country}} AND AND")[0]!.message).toMatch(/at character 39\)$/);
  });

  it("refuses a column the table does not have, or another table's column", () => {
    expect(filter("owner_id = 1")).toEqual([{ path: 'tables["customer"].rowFilter', message: 'column "owner_id" does not exist in public.customer' }]);
    expect(filter("invoice.total > 0")[0]!.message).toMatch(/invoice\.total is not a column of public\.customer/);
    expect(filter("c.country = 'x'")[0]!.message).toMatch(/c\.country is not a column of public\.customer/);
  });

  it("refuses subqueries, aggregates, window functions and anything beyond one expression", () => {
    expect(filter("customer_id IN (SELECT customer_id FROM invoice)")[0]!.message).toMatch(/cannot contain a subquery/);
    expect(filter("EXISTS (SELECT 1)")[0]!.message).toMatch(/subquery/);
    expect(filter("count(*) > 1")[0]!.message).toMatch(/count\(\) is an aggregate or window function/);
    expect(filter("max(customer_id) > 1")[0]!.message).toMatch(/aggregate/);
    expect(filter("row_number() OVER () = 1")[0]!.message).toMatch(/aggregate or window/);
    for (const text of ["true UNION SELECT 1 FROM employee", "true ORDER BY 1", "true LIMIT 1", "true GROUP BY country", "true; DROP TABLE customer", "true FOR UPDATE"])
      expect(filter(text), text).toHaveLength(1);
  });

  it("refuses functions the checker would not allow to a link that sees only this table", () => {
    expect(filter("random() < 0.5")[0]!.message).toBe("random() is VOLATILE; a row filter may use only IMMUTABLE or STABLE functions");
    expect(filter("clock_timestamp() > '2020-01-01'")[0]!.message).toMatch(/VOLATILE/);
    expect(filter("bump_genre() > 0")[0]!.message).toMatch(/bump_genre/);
    expect(filter("invoice_date_is_recent()")[0]!.message).toMatch(/does not exist/);
    expect(filter("pg_read_file('/etc/passwd') IS NOT NULL")[0]!.message).toMatch(/pg_read_file/);
    // A function reading another table: unverified for a link that sees only this one.
    expect(filter("employee_count() > 0")[0]!.message).toMatch(/employee_count cannot be shown to read only objects visible/);
    expect(filter("now() > '2020-01-01' AND add_one(customer_id) > 1")).toEqual([]);
  });

  it("refuses unknown placeholders, $n parameters and placeholders inside string literals", () => {
    expect(filter("country = {{member.country}}")[0]!.message).toMatch(/^unknown placeholder \{\{member\.country\}\} \(at character 11\)/);
    expect(filter("country = {{member.attr.Bad}}")[0]!.message).toMatch(/unknown placeholder/);
    expect(filter("support_rep_id = $1")[0]!.message).toMatch(/\$1 is not allowed in a row filter/);
    expect(filter("country = '{{member.attr.country}}'")[0]!.message).toMatch(/inside a string literal/);
  });

  it("checks masked columns exist, and tables with filters or masks exist", () => {
    expect(errors({ customer: { maskedColumns: { ssn: "hash", email: "email" } } })).toEqual([
      { path: 'tables["customer"].maskedColumns["ssn"]', message: 'column "ssn" does not exist in public.customer' },
    ]);
    // email/partial/last4 on a non-text column are fine: the value is cast to text first.
    expect(errors({ customer: { maskedColumns: { support_rep_id: "email", customer_id: "last4" } } })).toEqual([]);
    expect(errors({ no_such: { rowFilter: "true" } })).toEqual([{ path: 'tables["no_such"]', message: 'table "public.no_such" does not exist in the database, so its row filter or masks cannot be checked' }]);
  });

  it("reports every table's problems, each under its own path", () => {
    const found = errors({ customer: { rowFilter: "nope = 1" }, invoice: { rowFilter: "total > 0 AND" }, artist: { rowFilter: "artist_id > 0" } });
    expect(found.map((e) => e.path)).toEqual(['tables["customer"].rowFilter', 'tables["invoice"].rowFilter']);
  });
});
