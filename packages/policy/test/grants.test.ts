import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { canGrant, createPolicyChecker, GrantError, grantableTables, parseScope, withGrants, type Scope } from "../src/index.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";

function scope(doc: unknown): Scope {
  const parsed = parseScope(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

const base = scope({
  access: "read",
  schemas: ["public"],
  approval: "confirm",
  approvalOptions: { selfApproval: true, expiresAfterMinutes: 30 },
  tables: {
    invoice: { access: "write", approval: "writes" },
    customer: {
      hiddenColumns: ["fax"],
      rowFilter: "support_rep_id = {{member.attr.rep_id}}",
      maskedColumns: { email: "email" },
    },
    employee: { access: "none" },
    "public.playlist": { access: "admin" },
  },
  limits: { maxRows: 50, maxEstimatedRows: 10_000 },
});

describe("withGrants", () => {
  const checker = createPolicyChecker({ cacheSize: 0 });

  it("returns the same object for no grants, and for grants that raise nothing", () => {
    expect(withGrants(base, [])).toBe(base);
    expect(withGrants(base, [{ table: "invoice", access: "read" }, { table: "album", access: "read" }, { table: "public.playlist", access: "write" }])).toBe(base);
  });

  it("raises a table without a rule: the write is refused before and allowed after", () => {
    const sql = "UPDATE genre SET name = 'x' WHERE genre_id = 1";
    expect(checker.check(sql, base, chinookCatalog)).toMatchObject({ allowed: false, ruleId: "write_not_permitted" });
    const raised = withGrants(base, [{ table: "public.genre", access: "write" }]);
    expect(raised.tables["public.genre"]).toEqual({ access: "write" });
    expect(checker.check(sql, raised, chinookCatalog)).toMatchObject({ allowed: true });
    // The input is not changed (pure).
    expect(base.tables["public.genre"]).toBeUndefined();
  });

  it("never lowers, and keeps every other key of the scope and of the rule", () => {
    const raised = withGrants(base, [
      { table: "public.customer", access: "write" },
      { table: "playlist", access: "read" },
      { table: "customer", access: "read" },
    ]);
    expect(raised.tables.customer).toEqual({ ...base.tables.customer, access: "write" });
    expect(raised.tables["public.playlist"]).toEqual({ access: "admin" });
    // "public.customer" raised the rule keyed "customer": no second key for the same table.
    expect(Object.keys(raised.tables).sort()).toEqual(Object.keys(base.tables).sort());
    const { tables: _t, ...rest } = raised;
    const { tables: _b, ...baseRest } = base;
    expect(rest).toEqual(baseRest);
    // Masks and the row filter still apply to the raised table: the read is rewritten, the fax stays hidden.
    const read = checker.check("SELECT email FROM customer WHERE customer_id = 1", raised, chinookCatalog);
    expect(read.allowed).toBe(true);
    expect(read.rewrite?.sql).toMatch(/support_rep_id/);
    expect(checker.check("SELECT fax FROM customer", raised, chinookCatalog)).toMatchObject({ allowed: false, ruleId: "undefined_column" });
  });

  it("takes the highest of several grants on one table", () => {
    const raised = withGrants(base, [{ table: "genre", access: "write" }, { table: "genre", access: "admin" }, { table: "genre", access: "read" }]);
    // A table without a rule gets one under its full name.
    expect(raised.tables["public.genre"]).toEqual({ access: "admin" });
  });

  it("refuses a table outside the link's schemas, and bad input, with a GrantError", () => {
    expect(() => withGrants(base, [{ table: "hr.salary", access: "read" }])).toThrow(GrantError);
    expect(() => withGrants(base, [{ table: "hr.salary", access: "read" }])).toThrow(/schema "hr".*cannot be granted/);
    expect(() => withGrants(base, [{ table: '"quoted"', access: "read" }])).toThrow(GrantError);
    expect(() => withGrants(base, [{ table: "genre", access: "none" as "read" }])).toThrow(GrantError);
  });
});

describe("canGrant and grantableTables", () => {
  it("refuses hidden and absent tables alike, and tables already at that level", () => {
    expect(canGrant(base, "employee", "read", chinookCatalog)).toEqual({ ok: false, reason: 'relation "public.employee" does not exist' });
    expect(canGrant(base, "no_such_table", "read", chinookCatalog)).toEqual({ ok: false, reason: 'relation "public.no_such_table" does not exist' });
    expect(canGrant(base, "hr.salary", "read")).toEqual({ ok: false, reason: 'relation "hr.salary" does not exist' });
    expect(canGrant(base, "invoice", "write", chinookCatalog)).toMatchObject({ ok: false, reason: expect.stringMatching(/already has write/) });
    expect(canGrant(base, "invoice", "admin", chinookCatalog)).toEqual({ ok: true });
    expect(canGrant(base, "genre", "write")).toEqual({ ok: true });
  });

  it("an inheritance child is capped by the link's default: a grant on it alone cannot raise it", () => {
    const parentRead = scope({ access: "write", tables: { note: { access: "read" } } });
    expect(canGrant(parentRead, "secret_note", "write", chinookCatalog)).toEqual({ ok: false, reason: expect.stringMatching(/parent table's rule/) });
    expect(canGrant(parentRead, "note", "write", chinookCatalog)).toEqual({ ok: true });
  });

  it("lists visible tables below admin, never a hidden one", () => {
    const tables = grantableTables(base, chinookCatalog);
    expect(tables).toContainEqual({ table: "public.genre", access: "read" });
    expect(tables).toContainEqual({ table: "public.invoice", access: "write" });
    expect(tables.map((t) => t.table)).not.toContain("public.employee");
    expect(tables.map((t) => t.table)).not.toContain("public.playlist");
    expect(tables.map((t) => t.table)).not.toContain("hr.salary");
  });
});

describe("the scope entry stays free of the SQL parser", () => {
  it("no module reachable from src/scope/index.ts imports the parser or libpg-query at run time", () => {
    const seen = new Set<string>();
    const offenders: string[] = [];
    const visit = (url: URL): void => {
      if (seen.has(url.href)) return;
      seen.add(url.href);
      const text = readFileSync(url, "utf8");
      for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+"([^"]+)"/gms)) {
        const spec = m[1]!;
        if (spec === "libpg-query" || spec === "pgsql-deparser" || spec.includes("/parse/")) offenders.push(`${url.pathname} → ${spec}`);
        if (spec.startsWith(".")) visit(new URL(spec.replace(/\.js$/, ".ts"), url));
      }
    };
    visit(new URL("../src/scope/index.ts", import.meta.url));
    expect(offenders).toEqual([]);
    // The walk reached the new modules (a walk that found nothing would prove nothing).
    expect([...seen].some((u) => u.endsWith("scope/grants.ts"))).toBe(true);
    expect([...seen].some((u) => u.endsWith("scope/approval.ts"))).toBe(true);
  });
});
