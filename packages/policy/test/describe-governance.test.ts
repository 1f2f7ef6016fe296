import { describe, expect, it } from "vitest";
import { describeGovernance, describeScope, parseScope, type Scope } from "../src/scope/index.js";
import { readFileSync } from "node:fs";
import type { Catalog } from "../src/catalog/types.js";

// The snapshot itself, not catalog-fixture.ts: these words need no parser (the scope entry loads none).
const chinookCatalog = JSON.parse(readFileSync(new URL("./fixtures/chinook-catalog.json", import.meta.url), "utf8")) as Catalog;

function scope(doc: unknown): Scope {
  const parsed = parseScope(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

const governed = scope({
  access: "read",
  tables: {
    employee: { access: "none" },
    customer: {
      access: "write",
      rowFilter: "support_rep_id = {{member.attr.rep_id}}",
      hiddenColumns: ["phone"],
      maskedColumns: { email: "email", company: "hash" },
    },
    invoice: { rowFilter: "billing_country = {{ member.attr.country }} AND total > 0" },
  },
});

describe("get_permissions words for row filters and masks", () => {
  it("says each filter and mask in plain words and as data", () => {
    const words = describeGovernance(governed, chinookCatalog);
    expect(words.rowFilters).toEqual([
      { table: "public.customer", description: "you see only rows where support_rep_id equals your rep_id attribute", attributes: ["rep_id"], shown: true },
      { table: "public.invoice", description: "you see only rows for which billing_country = [your country attribute] AND total > 0 is true", attributes: ["country"], shown: true },
    ]);
    expect(words.maskedColumns).toEqual([
      { table: "public.customer", column: "company", mask: "hash", description: "company is shown as a keyed hash (values can be counted and grouped, not read)" },
      { table: "public.customer", column: "email", mask: "email", description: "email is masked (only the domain is shown)" },
    ]);
    const text = describeScope(governed, chinookCatalog);
    expect(text).toContain("public.customer: you see only rows where support_rep_id equals your rep_id attribute; writes reach only those rows");
    expect(text).toContain("masked_column_oracle");
    // invoice is read-only here: nothing about writes on it.
    expect(text).toMatch(/public\.invoice: you see only rows for which .* is true\.\n/);
  });

  it("never names a hidden column or table that a filter mentions: only that a rule exists", () => {
    const onHidden = scope({
      access: "read",
      tables: {
        employee: { access: "none" },
        customer: { rowFilter: "fax IS NOT NULL", hiddenColumns: ["fax"] },
        invoice: { rowFilter: "customer_id IN (SELECT customer_id FROM employee WHERE employee_id = {{member.attr.emp}})" },
      },
    });
    const words = describeGovernance(onHidden, chinookCatalog);
    expect(words.rowFilters.map((f) => [f.table, f.description, f.shown])).toEqual([
      ["public.customer", "rows are filtered by a rule on a column you cannot see", false],
      ["public.invoice", "rows are filtered by a rule on a column you cannot see", false],
    ]);
    const text = describeScope(onHidden, chinookCatalog);
    for (const secret of ["fax", "employee", "emp"]) expect(text).not.toMatch(new RegExp(`\\b${secret}\\b`));
    // A literal naming a hidden table names it as surely as an identifier.
    const literal = scope({ access: "read", tables: { employee: { access: "none" }, invoice: { rowFilter: "billing_city <> 'employee'" } } });
    expect(describeGovernance(literal, chinookCatalog).rowFilters[0]!.shown).toBe(false);
    expect(describeScope(literal, chinookCatalog)).not.toMatch(/\bemployee\b/);
    // Without a catalog the hidden set is unknown: a filter that reads another relation is not shown.
    expect(describeGovernance(scope({ tables: { invoice: { rowFilter: "customer_id IN (SELECT customer_id FROM audit_log)" } } })).rowFilters[0]!.shown).toBe(false);
  });

  it("prints placeholders as words, never a value, and keeps the text on one line", () => {
    const multi = scope({ tables: { customer: { rowFilter: "country = {{member.email}}\nOR\tsupport_rep_id = {{member.attr.rep_id}}" } } });
    const [filter] = describeGovernance(multi, chinookCatalog).rowFilters;
    expect(filter!.description).toBe("you see only rows for which country = [your email address] OR support_rep_id = [your rep_id attribute] is true");
    expect(filter!.description).not.toContain("{{");
  });

  it("says nothing about hidden tables' filters and nothing when no table is governed", () => {
    expect(describeGovernance(scope({ access: "read" }), chinookCatalog)).toEqual({ rowFilters: [], maskedColumns: [], lines: [] });
    // A key naming no table of this database: saying anything would tell whether it exists.
    const absent = scope({ access: "read", tables: { no_such_table: { rowFilter: "id = {{member.id}}", maskedColumns: { secret: "redact" } } } });
    expect(describeGovernance(absent, chinookCatalog)).toEqual({ rowFilters: [], maskedColumns: [], lines: [] });
  });
});

describe("get_permissions words for inherited rules", () => {
  it("names the partitions and child tables that follow a table's rule, and not those with their own", () => {
    const inherited = describeGovernance(scope({ access: "read", tables: { note: { rowFilter: "id < {{member.attr.max_note}}" } } }), chinookCatalog);
    expect(inherited.lines).toEqual(["public.note: you see only rows for which id < [your max_note attribute] is true; its partitions and child tables (public.secret_note) follow the same rule."]);
    const own = describeGovernance(scope({ access: "read", tables: { note: { rowFilter: "id < 5" }, secret_note: { rowFilter: "id < 3" } } }), chinookCatalog);
    expect(own.lines.find((l) => l.startsWith("public.note:"))).not.toContain("secret_note");
    // A hidden child is not named at all.
    const hidden = describeGovernance(scope({ access: "read", tables: { note: { rowFilter: "id < 5" }, secret_note: { access: "none" } } }), chinookCatalog);
    expect(hidden.lines.join(" ")).not.toContain("secret_note");
  });
});
