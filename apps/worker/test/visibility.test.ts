import { expect, test } from "vitest";
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
  expect(sampleableColumns(scopes, customer, cols)).toEqual(new Set(["id", "name"]));
});

test("a table any link row-filters gives nothing: its common values may come from rows that link cannot see", () => {
  const scopes = [{ access: "read" }, { access: "read", tables: { "public.customer": { rowFilter: "id = {{member.attr.customer}}" } } }];
  expect(sampleableColumns(scopes, customer, cols).size).toBe(0);
});
