import { expect, test } from "vitest";
import type { Catalog } from "@portcullis/policy";
import { sampleableColumns } from "../src/schema/visibility.js";

const cols = ["id", "email", "name", "phone"];
const customer = { schema: "public", name: "customer" };

test("a connection without links hides nothing", () => {
  expect(sampleableColumns([], customer, cols)).toEqual(new Set(cols));
});

test("a column hidden by any link is never sampled (both key spellings)", () => {
  const scopes = [
    { access: "read", tables: { customer: { hiddenColumns: ["email"] } } },
    { access: "read", tables: { "public.customer": { hiddenColumns: ["phone"] } } },
  ];
  expect(sampleableColumns(scopes, customer, cols)).toEqual(new Set(["id", "name"]));
});

test("a table that any link cannot see, or a schema outside a link's list, gives nothing", () => {
  expect(sampleableColumns([{ access: "read" }, { access: "read", tables: { customer: { access: "none" } } }], customer, cols).size).toBe(0);
  expect(sampleableColumns([{ access: "none", tables: {} }], customer, cols).size).toBe(0);
  expect(sampleableColumns([{ access: "read", schemas: ["sales"] }], customer, cols).size).toBe(0);
});

test("an unreadable scope document shares nothing", () => {
  expect(sampleableColumns(["not a scope"], customer, cols).size).toBe(0);
  expect(sampleableColumns([{ tables: { customer: { hiddenColumns: "email" } } }], customer, cols).size).toBe(0);
});

test("a column masked by any link is never sampled: only its masked value may leave", () => {
  const scopes = [{ access: "read" }, { access: "read", tables: { customer: { maskedColumns: { email: "email", phone: "last4" } } } }];
  expect(sampleableColumns(scopes, customer, cols, catalogOf())).toEqual(new Set(["id", "name"]));
});

test("a table any link row-filters gives nothing: its common values may come from rows that link cannot see", () => {
  const scopes = [{ access: "read" }, { access: "read", tables: { "public.customer": { rowFilter: "id = {{member.attr.customer}}" } } }];
  expect(sampleableColumns(scopes, customer, cols).size).toBe(0);
});

// A minimal target catalog: customer (governed by one link), its inheritance child, a view over it, and
// an unrelated table.
function catalogOf(): Catalog {
  const col = (name: string) => ({ name, type: "text", nullable: true, hasDefault: false });
  const rel = (name: string, kind: "table" | "view" | "materialized_view", extra: Partial<Catalog["relations"][string]> = {}) => ({
    oid: 20000 + name.length,
    schema: "public",
    name,
    kind,
    columns: cols.map(col),
    primaryKey: [],
    foreignKeys: [],
    children: [],
    ...extra,
  });
  return {
    version: "v",
    loadedAt: "now",
    database: "d",
    serverVersion: 150000,
    schemas: ["public"],
    relations: {
      "public.customer": rel("customer", "table", { children: ["public.cust_child"] }),
      "public.cust_child": rel("cust_child", "table"),
      "public.cust_emails": rel("cust_emails", "materialized_view", { reads: [{ relation: "public.customer", columns: ["email", "id"] }] }),
      "public.track": rel("track", "table"),
    },
    systemRelations: {},
    functions: {},
    builtinFunctions: {},
    operators: {},
    extensions: [],
  };
}

test("a child of a governed table and a materialized view over it give nothing; unrelated tables still sample", () => {
  const masks = [{ access: "read", tables: { customer: { maskedColumns: { email: "email" } } } }];
  const filter = [{ access: "read", tables: { customer: { rowFilter: "name = {{member.attr.name}}" } } }];
  const catalog = catalogOf();
  const child = { schema: "public", name: "cust_child" };
  const matview = { schema: "public", name: "cust_emails" };
  // Masks pass down to the child (its email is the parent's column): only the mask may leave.
  expect(sampleableColumns(masks, child, cols, catalog)).toEqual(new Set(["id", "name", "phone"]));
  expect(sampleableColumns(filter, child, cols, catalog).size).toBe(0);
  expect(sampleableColumns(masks, matview, cols, catalog).size).toBe(0);
  expect(sampleableColumns(filter, matview, cols, catalog).size).toBe(0);
  expect(sampleableColumns(filter, { schema: "public", name: "track" }, cols, catalog)).toEqual(new Set(cols));
});

test("without the target's catalog, a link that governs any table leaves nothing to sample", () => {
  const filter = [{ access: "read", tables: { customer: { rowFilter: "name = {{member.attr.name}}" } } }];
  expect(sampleableColumns(filter, { schema: "public", name: "cust_child" }, cols).size).toBe(0);
  expect(sampleableColumns(filter, { schema: "public", name: "track" }, cols).size).toBe(0);
  expect(sampleableColumns([{ access: "read" }], { schema: "public", name: "track" }, cols)).toEqual(new Set(cols));
});
