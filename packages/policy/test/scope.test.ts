import { describe, expect, it } from "vitest";
import {
  CatalogCache,
  describeScope,
  parseScope,
  presetScope,
  scopeSchema,
  searchPathFor,
  visibleObjects,
  type Catalog,
} from "../src/index.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";
import { SCOPES } from "./support/scopes.js";

describe("scope document", () => {
  it("applies defaults: read access, every schema, 1000 rows, 15 s", () => {
    const parsed = parseScope({});
    expect(parsed).toEqual({ ok: true, scope: { access: "read", tables: {}, limits: { maxRows: 1000, statementTimeoutMs: 15000 } } });
    const partial = parseScope({ limits: { maxRows: 5 } });
    expect(partial.ok && partial.scope.limits).toEqual({ maxRows: 5, statementTimeoutMs: 15000 });
  });

  it("accepts the PRODUCT.md example as JSON text", () => {
    const parsed = parseScope(`{
      "access": "read", "schemas": ["public"],
      "tables": { "orders": { "access": "write" }, "customers_pii": { "access": "none" }, "users": { "hiddenColumns": ["email"] } },
      "limits": { "maxRows": 1000, "statementTimeoutMs": 15000 } }`);
    expect(parsed.ok).toBe(true);
  });

  it.each([
    [{ access: "owner" }, "access", /unknown access level "owner"/],
    [{ tables: { "a.b.c": {} } }, 'tables["a.b.c"]', /must be "table" \(schema public\) or "schema.table"/],
    [{ tables: { '"Quoted"': {} } }, 'tables["\\"Quoted\\""]', /without quotes/],
    [{ tables: { t: { access: "none", hiddenColumns: ["x"] } } }, "tables.t.hiddenColumns", /hidden \(access none\)/],
    [{ access: "none", tables: { t: { hiddenColumns: ["x"] } } }, "tables.t.hiddenColumns", /hidden \(access none\)/],
    [{ tables: { t: { hiddenColumns: ["x", "x"] } } }, "tables.t.hiddenColumns[1]", /listed twice/],
    [{ tables: { t: { acces: "read" } } }, "tables.t", /unknown key "acces"/],
    [{ schemas: ["public"], tables: { "sales.orders": {} } }, 'tables["sales.orders"]', /not in schemas/],
    [{ tables: { orders: {}, "public.orders": {} } }, 'tables["public.orders"]', /names the same table/],
    [{ schemas: ["pg_catalog"] }, "schemas[0]", /system schema/],
    [{ schemas: [] }, "schemas", /at least one schema/],
    [{ limits: { maxRows: 0 } }, "limits.maxRows", /./],
    [{ limits: { statementTimeoutMs: "fast" } }, "limits.statementTimeoutMs", /./],
    [{ extra: true }, "(document)", /unknown key "extra"/],
  ])("refuses %j with a precise error", (doc, path, message) => {
    const parsed = parseScope(doc);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    const error = parsed.errors.find((e) => e.path === path);
    expect(error, JSON.stringify(parsed.errors)).toBeDefined();
    expect(error!.message).toMatch(message);
  });

  it("reports bad JSON text", () => {
    const parsed = parseScope("{ nope");
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.errors[0]!.message).toMatch(/not valid JSON/);
  });

  it("builds presets", () => {
    expect(presetScope("read-only").access).toBe("read");
    expect(presetScope("full").access).toBe("admin");
    expect(presetScope("read-write").access).toBe("write");
    const rw = presetScope("read-write", { writableTables: ["orders", "sales.items"], schemas: ["public", "sales"] });
    expect(rw).toMatchObject({ access: "read", tables: { orders: { access: "write" }, "sales.items": { access: "write" } } });
    const custom = presetScope("custom", { scope: { access: "none", tables: { t: { access: "read" } } }, limits: { maxRows: 10 } });
    expect(custom.limits).toEqual({ maxRows: 10, statementTimeoutMs: 15000 });
    expect(() => presetScope("custom", { scope: { access: "bogus" as never } })).toThrow(/invalid custom scope/);
    expect(scopeSchema.safeParse(rw).success).toBe(true);
  });

  it("exports the search_path the checker assumes", () => {
    expect(searchPathFor(SCOPES.open)).toBe('"public"');
    expect(searchPathFor(SCOPES.read)).toBe('"public", "sales"');
  });
});

describe("hidden means absent", () => {
  const checker = createChecker();
  function createChecker() {
    return { check: (sql: string, scope = SCOPES.read) => import("../src/index.js").then((m) => m.createPolicyChecker({ cacheSize: 0 }).check(sql, scope, chinookCatalog)) };
  }
  // Each pair: a hidden object and a name that exists nowhere, referenced the same way. The refusals
  // must be word-for-word the same once the name itself is swapped.
  it.each([
    ["SELECT * FROM employee", "SELECT * FROM employeez", "employee", "employeez"],
    ["SELECT * FROM hr.salary", "SELECT * FROM hr.salaryz", "hr.salary", "hr.salaryz"],
    ["SELECT * FROM employee_directory", "SELECT * FROM employee_directoryz", "employee_directory", "employee_directoryz"],
    ["SELECT 'employee'::regclass", "SELECT 'employeez'::regclass", "employee", "employeez"],
    ["SELECT email FROM customer", "SELECT emailz FROM customer", "email", "emailz"],
    ["SELECT c.email FROM customer c", "SELECT c.emailz FROM customer c", "email", "emailz"],
    ["SELECT 1 FROM customer c JOIN invoice USING (email)", "SELECT 1 FROM customer c JOIN invoice USING (emailz)", "email", "emailz"],
    ["SELECT first_name FROM customer ORDER BY phone", "SELECT first_name FROM customer ORDER BY phonez", "phone", "phonez"],
    ["DELETE FROM employee", "DELETE FROM employeez", "employee", "employeez"],
    ["SELECT hr.f()", "SELECT hrz.f()", "hr", "hrz"],
  ])("%s reads exactly like %s", async (hidden, absent, hiddenName, absentName) => {
    const a = await checker.check(hidden);
    const b = await checker.check(absent);
    expect(a.allowed).toBe(false);
    expect(a.ruleId).toBe(b.ruleId);
    expect(a.reason).toBe(b.reason!.split(absentName).join(hiddenName));
  });
});

describe("what a link can see", () => {
  it("lists only visible relations and columns, with access levels, keys and foreign keys", () => {
    const seen = visibleObjects(SCOPES.read, chinookCatalog);
    const keys = seen.relations.map((r) => r.key);
    expect(keys).toContain("public.album");
    expect(keys).toContain("sales.region");
    for (const hidden of ["public.employee", "hr.salary", "public.employee_directory", "public.customer_contacts", "public.nested_contacts", "public.audit_log", "public.audit_log_id_seq", "public.secret_note"])
      expect(keys).not.toContain(hidden);
    const customer = seen.relations.find((r) => r.key === "public.customer")!;
    expect(customer.columns.map((c) => c.name)).not.toContain("email");
    expect(customer.columns.find((c) => c.name === "customer_id")).toMatchObject({ primaryKey: true, type: "integer", nullable: false });
    // customer.support_rep_id references employee, which is hidden: the key must not be shown.
    expect(customer.foreignKeys.some((fk) => fk.references === "public.employee")).toBe(false);
    const track = seen.relations.find((r) => r.key === "public.track")!;
    expect(track.columns.find((c) => c.name === "album_id")?.references).toBe("public.album.album_id");
    expect(seen.schemas).toEqual(["public", "sales"]);
    expect(visibleObjects(SCOPES.write, chinookCatalog).relations.find((r) => r.key === "public.invoice")?.access).toBe("write");
  });

  it("describes the scope in plain words without naming hidden objects", () => {
    const text = describeScope(SCOPES.read, chinookCatalog);
    expect(text).toMatch(/Default access: read/);
    expect(text).toMatch(/not available to this link/);
    for (const secret of ["employee", "email", "phone", "salary", "audit_log", "secret_note"]) expect(text).not.toContain(secret);
    expect(describeScope(SCOPES.write)).toMatch(/write .* on: public\.customer, public\.invoice, public\.invoice_line/);
    expect(describeScope(SCOPES.full, chinookCatalog)).toMatch(/Schema browsing through information_schema and pg_catalog is allowed/);
    expect(describeScope(SCOPES.read)).toMatch(/at most 1000 rows/);
  });
});

describe("catalog cache", () => {
  const fake = (version: string) => ({ ...chinookCatalog, version }) as Catalog;
  it("shares one load between concurrent callers, expires after the TTL and drops failures", async () => {
    let now = 0;
    const cache = new CatalogCache({ ttlMs: 100, now: () => now });
    let loads = 0;
    const loader = async () => fake(`v${++loads}`);
    const [a, b] = await Promise.all([cache.get("k", loader), cache.get("k", loader)]);
    expect(a).toBe(b);
    expect(loads).toBe(1);
    now = 50;
    expect((await cache.get("k", loader)).version).toBe("v1");
    now = 200;
    expect((await cache.get("k", loader)).version).toBe("v2");
    await expect(cache.get("bad", () => Promise.reject(new Error("down")))).rejects.toThrow("down");
    expect((await cache.get("bad", loader)).version).toBe("v3");
    expect((await cache.refresh("k", loader)).version).toBe("v4");
    cache.invalidate("k");
    expect(cache.peek("k")).toBeUndefined();
  });

  it("is bounded", async () => {
    const cache = new CatalogCache({ maxEntries: 2 });
    for (const k of ["a", "b", "c"]) await cache.get(k, async () => fake(k));
    expect(cache.size).toBe(2);
    expect(cache.peek("a")).toBeUndefined();
  });
});
