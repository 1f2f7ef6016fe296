import { beforeAll, describe, expect, it } from "vitest";
import { createPolicyChecker, parseScope, policyReady, type Catalog, type Scope } from "../src/index.js";
import { parseSql } from "../src/parse/parse.js";
import { walk } from "../src/rewrite/ast.js";
import { rewriteStatements } from "../src/rewrite/apply.js";
import { hiddenCatalogSet } from "../src/rewrite/catalog-hidden.js";
import { VIRTUAL_CATALOG_COVERED, virtualCatalogCovers } from "../src/rewrite/catalog.js";
import { RewritePlan, type StatementRewrite } from "../src/rewrite/types.js";
import { accessView } from "../src/scope/access.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";

// Unit tests of the virtual catalog's hidden sets and rewritten text, on the Chinook catalog snapshot.
// The catalog anchors are collected here the way the analyzer records them (every RangeVar naming a
// system relation), so these tests pin the rewrite itself; the differential test
// (virtual-catalog.int.test.ts) runs the whole checker against a database with the objects dropped.

beforeAll(() => policyReady());

function scopeOf(raw: unknown): Scope {
  const parsed = parseScope(raw);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

function rewrite(sql: string, raw: unknown, catalog: Catalog = chinookCatalog): StatementRewrite | undefined {
  const parsed = parseSql(sql);
  if (!parsed.ok) throw new Error(parsed.message);
  const plan = new RewritePlan();
  walk(parsed.statements[0]!.stmt, (n) => {
    const rv = n.RangeVar as { schemaname?: string; relname: string } | undefined;
    if (!rv) return;
    const schema = rv.schemaname ?? (catalog.systemRelations[`pg_catalog.${rv.relname}`] ? "pg_catalog" : undefined);
    if (schema === "pg_catalog" || schema === "information_schema") plan.add({ kind: "catalog", node: n, rangeVar: n.RangeVar as never, key: `${schema}.${rv.relname}` });
  });
  return rewriteStatements([{ raw: parsed.statements[0]!, plan }], accessView(scopeOf(raw), catalog), sql, catalog.serverVersion);
}

const customer = chinookCatalog.relations["public.customer"]!;
const employee = chinookCatalog.relations["public.employee"]!;
const attnum = (name: string): number => customer.attnums![customer.columns.findIndex((c) => c.name === name)]!;

describe("hidden sets", () => {
  it("a hidden table takes its indexes, constraints, triggers and row types, and the foreign keys pointing at it", () => {
    const set = hiddenCatalogSet(accessView(scopeOf({ tables: { employee: { access: "none" } } }), chinookCatalog));
    expect(set.objects).toContain(String(employee.oid));
    for (const d of employee.dependents!) expect(set.objects).toContain(String(d.oid));
    // customer.support_rep_id REFERENCES employee: the constraint hangs on employee's primary key.
    const fk = customer.dependents!.find((d) => d.catalog === "pg_constraint" && d.columns?.includes(attnum("support_rep_id")))!;
    expect(set.objects).toContain(String(fk.oid));
    expect(set.objects).not.toContain(String(customer.oid));
    expect(set.namespaces).toEqual([]);
    expect(set.columns).toEqual([]);
  });

  it("hidden columns take what hangs on them only", () => {
    const set = hiddenCatalogSet(accessView(scopeOf({ tables: { customer: { hiddenColumns: ["support_rep_id"] } } }), chinookCatalog));
    expect(set.columns).toEqual([`${customer.oid}:${attnum("support_rep_id")}`]);
    const onColumn = customer.dependents!.filter((d) => d.columns?.includes(attnum("support_rep_id")));
    expect(onColumn.length).toBeGreaterThan(1); // the index and the foreign key
    for (const d of onColumn) expect(set.objects).toContain(String(d.oid));
    const pkey = customer.dependents!.find((d) => d.catalog === "pg_constraint" && d.columns?.join() === String(attnum("customer_id")))!;
    expect(set.objects).not.toContain(String(pkey.oid));
  });

  it("a hidden schema takes its oid, its relations and its functions", () => {
    const set = hiddenCatalogSet(accessView(scopeOf({ schemas: ["public", "sales"] }), chinookCatalog));
    expect(set.namespaces).toEqual([String(chinookCatalog.schemaObjects!.hr!.oid)]);
    expect(set.objects).toContain(String(chinookCatalog.relations["hr.salary"]!.oid));
    expect(set.objects).not.toContain(String(customer.oid));
  });

  it("governed tables: sizes unknown, statistics of filtered tables and masked columns gone", () => {
    const set = hiddenCatalogSet(accessView(scopeOf({ tables: { invoice: { rowFilter: "billing_country = 'USA'" }, customer: { maskedColumns: { email: "email" } } } }), chinookCatalog));
    const invoice = chinookCatalog.relations["public.invoice"]!;
    // Views and materialized views over them too: their statistics and sizes count the same rows.
    const over = Object.values(chinookCatalog.relations).filter((r) => r.reads?.some((d) => d.relation === "public.invoice" || d.relation === "public.customer"));
    expect(over.length).toBeGreaterThan(0);
    expect(set.governed).toEqual([customer.oid, invoice.oid, ...over.map((r) => r.oid)].sort((a, b) => a - b).map(String));
    expect(set.filtered).toContain(String(invoice.oid));
    for (const r of over) expect(set.filtered).toContain(String(r.oid));
    expect(set.filtered).not.toContain(String(customer.oid));
    expect(set.masked).toEqual([`${customer.oid}:${attnum("email")}`]);
  });

  it("is computed once per (scope, catalog)", () => {
    const view = accessView(scopeOf({ tables: { employee: { access: "none" } } }), chinookCatalog);
    expect(hiddenCatalogSet(view)).toBe(hiddenCatalogSet(view));
  });

  it("is incomplete (and the rewrite refuses) on a catalog loaded without the virtual catalog's data", () => {
    const old = { ...chinookCatalog, schemaObjects: undefined };
    expect(hiddenCatalogSet(accessView(scopeOf({ tables: { employee: { access: "none" } } }), old)).complete).toBe(false);
    expect(virtualCatalogCovers({ ...chinookCatalog, systemViews: undefined }, "information_schema.columns")).toBe(false);
  });
});

describe("rewritten text", () => {
  const hideEmployee = { tables: { employee: { access: "none" } } };

  it("a pg_catalog table becomes a fenced subquery with the hidden oids bound, alias kept", () => {
    const r = rewrite("SELECT c.relname FROM pg_class c WHERE c.relkind = 'r'", hideEmployee)!;
    expect(r.sql).toBe(
      "SELECT c.relname FROM ( SELECT * FROM pg_catalog.pg_class WHERE oid <> ALL (CAST($1 AS oid[])) AND relnamespace <> ALL (CAST($2 AS oid[])) OFFSET 0 ) AS c WHERE c.relkind = 'r'",
    );
    expect(r.firstParam).toBe(1);
    expect(r.params[0]).toEqual({ kind: "constant", value: expect.arrayContaining([String(employee.oid)]) });
    expect(r.params[1]).toEqual({ kind: "constant", value: [] });
  });

  it("an unaliased reference keeps its name, column aliases stay, and parameters follow the caller's", () => {
    const r = rewrite("SELECT pg_namespace.n FROM pg_namespace AS pg_namespace(o, n) WHERE o = $1", hideEmployee)!;
    expect(r.sql).toBe("SELECT pg_namespace.n FROM ( SELECT * FROM pg_catalog.pg_namespace WHERE oid <> ALL (CAST($2 AS oid[])) OFFSET 0 ) AS pg_namespace(o, n) WHERE o = $1");
    expect(r.firstParam).toBe(2);
    const bare = rewrite("SELECT attname FROM pg_attribute WHERE attrelid = 1", hideEmployee)!;
    expect(bare.sql).toContain(" ) AS pg_attribute WHERE attrelid = 1");
  });

  it("a system view is its own definition over filtered tables, with functions qualified and pg_authid read through pg_roles", () => {
    const r = rewrite("SELECT table_name FROM information_schema.table_privileges", hideEmployee)!;
    expect(r.sql).not.toMatch(/information_schema\.table_privileges/);
    expect(r.sql).not.toMatch(/(FROM|JOIN|,)\s+(pg_catalog\.)?pg_authid\b(?!\.)/);
    expect(r.sql).toContain("pg_catalog.pg_roles AS pg_authid");
    expect(r.sql).toContain("pg_catalog.pg_roles AS u_grantor");
    expect(r.sql).toContain("FROM pg_catalog.pg_class WHERE oid <> ALL (CAST($1 AS oid[]))");
    expect(r.sql).toContain("pg_catalog.pg_has_role(");
    // Every relation the text reads is a filtered table, a harmless one, or pg_roles.
    const parsed = parseSql(r.sql);
    expect(parsed.ok).toBe(true);
    const read = new Set<string>();
    if (parsed.ok) walk(parsed.statements, (n) => n.RangeVar && read.add(`${(n.RangeVar as { schemaname?: string }).schemaname}.${(n.RangeVar as { relname: string }).relname}`));
    for (const key of read) expect(["pg_catalog.pg_class", "pg_catalog.pg_namespace", "pg_catalog.pg_roles"]).toContain(key);
  });

  it("on a link with a governed table, pg_class sizes and activity counters of that table are unknown", () => {
    const governed = { tables: { invoice: { rowFilter: "billing_country = 'USA'" } } };
    const invoice = [String(chinookCatalog.relations["public.invoice"]!.oid)];
    // The governed set also holds the views over invoice (their sizes count its rows).
    const paramOf = (r: StatementRewrite): number => r.firstParam + r.params.findIndex((p) => p.kind === "constant" && Array.isArray(p.value) && p.value[0] === invoice[0]);
    const r = rewrite("SELECT relname, reltuples FROM pg_class", governed)!;
    expect(r.sql).toContain(`CASE WHEN oid = ANY (CAST($${paramOf(r)} AS oid[])) OR oid = ANY (`);
    expect(r.sql).toMatch(/OR oid = ANY \(CAST\(\$\d+ AS oid\[\]\)\) THEN CAST\(-1 AS real\) ELSE reltuples END AS reltuples/);
    expect(r.sql).toMatch(/THEN 0 ELSE relpages END AS relpages/);
    const stats = rewrite("SELECT relname, n_live_tup FROM pg_stat_user_tables", governed)!;
    expect(stats.sql).toContain(`CASE WHEN v.relid = ANY (CAST($${paramOf(stats)} AS oid[])) THEN NULL ELSE v.n_live_tup END AS n_live_tup`);
    const pgStats = rewrite("SELECT attname FROM pg_stats", governed)!;
    const filtered = pgStats.firstParam + pgStats.params.findIndex((p) => p.kind === "constant" && p.value.includes(invoice[0]!));
    expect(pgStats.sql).toContain(`OR c.oid = ANY (CAST($${filtered} AS oid[]))`);
  });

  it("a link hiding nothing is not rewritten at all", () => {
    expect(rewrite("SELECT table_name FROM information_schema.columns", { access: "read" })).toBeUndefined();
    expect(rewrite("SELECT relname FROM pg_class", { access: "read" })).toBeUndefined();
  });

  it("harmless catalogs are read as they are", () => {
    expect(rewrite("SELECT amname FROM pg_am", hideEmployee)).toBeUndefined();
  });

  it("covers the relations it lists, and nothing else", () => {
    for (const key of VIRTUAL_CATALOG_COVERED) expect([key, virtualCatalogCovers(chinookCatalog, key)]).toEqual([key, true]);
    for (const key of ["pg_catalog.pg_enum", "pg_catalog.pg_stats_ext", "information_schema.routine_table_usage", "pg_catalog.pg_stat_xact_user_tables"])
      expect([key, virtualCatalogCovers(chinookCatalog, key)]).toEqual([key, false]);
  });
});

describe("the analyzer on a link that hides something", () => {
  const checker = createPolicyChecker({ cacheSize: 0 });
  const hiding = scopeOf({ tables: { employee: { access: "none" } }, schemas: ["public", "sales"] });
  const verdict = (sql: string) => {
    const v = checker.check(sql, hiding, chinookCatalog);
    return v.allowed ? "ok" : v.ruleId;
  };

  it.each([
    // Arguments that are bare columns of a virtual catalog relation: the rows are already the visible ones.
    ["SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c", "ok"],
    ["SELECT pg_get_indexdef(i.indexrelid, 0, true) FROM pg_index i", "ok"],
    ["SELECT conrelid::regclass, pg_get_constraintdef(oid, true) FROM pg_constraint", "ok"],
    ["SELECT pg_get_viewdef(c.oid) FROM pg_catalog.pg_class c WHERE c.relkind = 'v'", "ok"],
    ["SELECT col_description(a.attrelid, a.attnum) FROM pg_attribute a", "ok"],
    ["SELECT typnamespace::regnamespace FROM pg_type", "ok"],
    [`SELECT '${customer.oid}'::regclass`, "ok"],
    ["SELECT obj_description('customer'::regclass)", "ok"],
    ["SELECT to_regclass('customer')", "ok"],
    ["SELECT has_table_privilege('customer', 'select')", "ok"],
    // Anything that could name another object.
    ["SELECT pg_get_viewdef(12345)", "catalog_unanswerable"],
    ["SELECT obj_description(c.oid + 1) FROM pg_class c", "catalog_unanswerable"],
    ["SELECT pg_get_viewdef(x) FROM (SELECT 12345::oid AS x) s", "catalog_unanswerable"],
    ["SELECT (SELECT pg_get_viewdef(x) FROM pg_class LIMIT 1) FROM (SELECT 12345::oid AS x) s", "catalog_unanswerable"],
    ["SELECT pg_get_viewdef($1)", "catalog_unanswerable"],
    ["SELECT (c.oid + 1)::regclass FROM pg_class c", "catalog_unanswerable"],
    [`SELECT '${employee.oid}'::regclass`, "catalog_unanswerable"],
    [`SELECT obj_description(${employee.oid})`, "catalog_unanswerable"],
    // A hidden name is refused as a missing one, in PostgreSQL's words; to_reg* answer only visible names.
    ["SELECT 'employee'::regclass", "undefined_table"],
    ["SELECT has_table_privilege('employee', 'select')", "undefined_table"],
    ["SELECT has_schema_privilege('hr', 'usage')", "undefined_table"],
    ["SELECT to_regclass('employee')", "catalog_unanswerable"],
    ["SELECT to_regclass('no_such_table')", "catalog_unanswerable"],
    // Catalog relations the virtual catalog does not answer stay refused, and say what is answered.
    ["SELECT * FROM pg_enum", "catalog_hidden"],
    ["SELECT * FROM information_schema.routine_table_usage", "catalog_hidden"],
    ["SELECT * FROM pg_policy", "catalog_denied"],
  ])("%s → %s", (sql, expected) => {
    expect(verdict(sql)).toBe(expected);
  });

  it("names the covered relations when it refuses one it does not cover", () => {
    const v = checker.check("SELECT * FROM pg_enum", hiding, chinookCatalog);
    expect(v.reason).toContain("information_schema.columns");
    expect(v.reason).toContain("pg_catalog.pg_class");
  });

  it("rewrites through the checker on hiding links and not at all on links hiding nothing", () => {
    const sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'";
    const hidden = checker.check(sql, hiding, chinookCatalog);
    expect(hidden.allowed).toBe(true);
    expect(hidden.rewrite?.sql).toContain("OFFSET 0");
    const open = checker.check(sql, scopeOf({ access: "read" }), chinookCatalog);
    expect(open.allowed).toBe(true);
    expect(open.rewrite).toBeUndefined();
  });
});

describe("user views over the system catalogs", () => {
  // Such a view runs with its owner's rights over the real catalog: on a hiding link it would list
  // hidden objects, so it is hidden itself; on a link hiding nothing it is an ordinary view.
  const withView: Catalog = {
    ...chinookCatalog,
    relations: {
      ...chinookCatalog.relations,
      "public.v_rel": { oid: 999_001, schema: "public", name: "v_rel", kind: "view", columns: [{ name: "relname", type: "name", nullable: true, hasDefault: false }], primaryKey: [], foreignKeys: [], children: [], reads: [], calls: [], readsCatalog: ["pg_catalog.pg_class"] },
      "public.v_am": { oid: 999_002, schema: "public", name: "v_am", kind: "view", columns: [{ name: "amname", type: "name", nullable: true, hasDefault: false }], primaryKey: [], foreignKeys: [], children: [], reads: [], calls: [], readsCatalog: ["pg_catalog.pg_am"] },
    },
  };
  const checker = createPolicyChecker({ cacheSize: 0 });

  it("are hidden on a link that hides something, except over harmless catalogs", () => {
    const hiding = scopeOf({ tables: { employee: { access: "none" } } });
    expect(checker.check("SELECT relname FROM v_rel", hiding, withView).ruleId).toBe("undefined_table");
    expect(checker.check("SELECT amname FROM v_am", hiding, withView).allowed).toBe(true);
    expect(hiddenCatalogSet(accessView(hiding, withView)).objects).toContain("999001");
  });

  it("are ordinary views on a link that hides nothing", () => {
    expect(checker.check("SELECT relname FROM v_rel", scopeOf({ access: "read" }), withView).allowed).toBe(true);
  });
});

describe("sizes on a link with a row filter", () => {
  const checker = createPolicyChecker({ cacheSize: 0 });
  const governed = scopeOf({ tables: { invoice: { rowFilter: "billing_country = 'USA'" } } });
  it.each([
    ["SELECT pg_total_relation_size('invoice')", "catalog_unanswerable"],
    ["SELECT pg_relation_size(c.oid) FROM pg_class c", "catalog_unanswerable"],
    ["SELECT pg_table_size('track')", "ok"],
    ["SELECT pg_relation_size('track', 'main')", "ok"],
  ])("%s → %s", (sql, expected) => {
    const v = checker.check(sql, governed, chinookCatalog);
    expect(v.allowed ? "ok" : v.ruleId).toBe(expected);
  });

  it("an index of a filtered table has unknown estimates too", () => {
    const r = rewrite("SELECT relname, reltuples FROM pg_class", { tables: { invoice: { rowFilter: "billing_country = 'USA'" } } })!;
    expect(r.sql).toMatch(/CASE WHEN oid = ANY \(CAST\(\$\d+ AS oid\[\]\)\) OR oid = ANY \(CAST\(\$\d+ AS oid\[\]\)\) THEN CAST\(-1 AS real\) ELSE reltuples END AS reltuples/);
    const index = chinookCatalog.relations["public.invoice"]!.dependents!.find((d) => d.catalog === "pg_class")!;
    expect(r.params.some((p) => p.kind === "constant" && p.value.includes(String(index.oid)))).toBe(true);
  });
});
