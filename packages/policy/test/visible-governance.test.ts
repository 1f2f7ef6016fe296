import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Catalog } from "../src/catalog/types.js";
import { parseScope, visibleObjects, type Scope } from "../src/scope/index.js";

// The snapshot itself, not catalog-fixture.ts: visibleObjects needs no parser.
const catalog = JSON.parse(readFileSync(new URL("./fixtures/chinook-catalog.json", import.meta.url), "utf8")) as Catalog;

function scope(doc: unknown): Scope {
  const parsed = parseScope(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

describe("visible objects of a governed scope (what list/describe tools can say)", () => {
  const governed = scope({
    access: "read",
    tables: { customer: { rowFilter: "support_rep_id = {{member.attr.rep_id}}", maskedColumns: { email: "email", support_rep_id: "hash" } } },
  });
  const relations = new Map(visibleObjects(governed, catalog).relations.map((r) => [r.key, r]));

  it("marks masked columns with their mask and filtered relations as filtered", () => {
    const customer = relations.get("public.customer")!;
    expect(customer.rowFiltered).toBe(true);
    expect(customer.columns.find((c) => c.name === "email")?.mask).toBe("email");
    expect(customer.columns.find((c) => c.name === "first_name")?.mask).toBeUndefined();
    expect(relations.get("public.artist")!.rowFiltered).toBeUndefined();
  });

  it("drops a foreign key through a masked column: a join on masked text would silently match nothing", () => {
    const customer = relations.get("public.customer")!;
    expect(customer.foreignKeys).toEqual([]);
    expect(customer.columns.find((c) => c.name === "support_rep_id")).toMatchObject({ mask: "hash" });
    expect(customer.columns.find((c) => c.name === "support_rep_id")?.references).toBeUndefined();
    // Without the mask the same key is listed.
    const plain = visibleObjects(scope({ access: "read" }), catalog).relations.find((r) => r.key === "public.customer")!;
    expect(plain.foreignKeys).toEqual([{ columns: ["support_rep_id"], references: "public.employee", referencedColumns: ["employee_id"] }]);
  });

  it("a scope without filters or masks adds nothing", () => {
    for (const r of visibleObjects(scope({ access: "read" }), catalog).relations) {
      expect(r.rowFiltered).toBeUndefined();
      for (const c of r.columns) expect(c.mask).toBeUndefined();
    }
  });
});
