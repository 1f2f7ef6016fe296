import type { Catalog, Scope } from "@portcullis/policy";
import { describe, expect, test } from "vitest";
import type { CallOutcome } from "../src/calls/call-outcome.js";
import { getSchemaTool } from "../src/mcp/tools/get-schema.js";
import { catalogServices, generatedCatalog, hidingScope, scopeOf } from "./generated-catalog.js";

type Data = {
  mode: "full" | "summary";
  database: string;
  relations?: { name: string; columns: string[] }[];
  schemas?: { name: string; tables: number; views: number }[];
  hubs?: { name: string; foreignKeys: number; description?: string }[];
  guidance?: string;
};

async function getSchema(scope: Scope, catalog: Catalog, args: Record<string, unknown> = {}, budget?: number): Promise<Data & { text: string; structuredBytes: number }> {
  const { ctx, services } = catalogServices(scope, catalog, undefined, budget === undefined ? {} : { schemaBudgetBytes: budget });
  const outcome: CallOutcome = await getSchemaTool.run(getSchemaTool.input.parse(args), ctx, services);
  if (outcome.kind !== "ok") throw new Error(JSON.stringify(outcome));
  getSchemaTool.output.parse(outcome.data);
  return { ...(outcome.data as Data), text: outcome.text ?? "", structuredBytes: Buffer.byteLength(JSON.stringify(outcome.data)) };
}

describe("get_schema within the budget: the full text, as before", () => {
  test("a small catalog: every visible table with its columns; the structured part lists names only", async () => {
    const small = generatedCatalog({ tables: 0 });
    const data = await getSchema(hidingScope(), small);
    expect(data.mode).toBe("full");
    expect(data.text).toContain("## orders (write)");
    expect(data.text).toContain("customer_id int null -> customer.id");
    expect(data.relations!.map((r) => r.name)).toEqual(["contact", "customer", "customer_orders", "invoice", "ledger", "orders", "orders_archive", "refund", "region_stats", "shipment", "wide"]);
    expect(data.relations!.find((r) => r.name === "customer")!.columns).toEqual(["id", "name", "tax_token"]);
    expect(data.text).not.toMatch(/secret|payroll|ssn|salar/i);
    expect(/## customer[^\n]*\n[^]*?(?:\n\n|$)/.exec(data.text)![0]).toBe("## customer — People who buy.\nid int PK\nname text null\ntax_token text null — Opaque token.\n\n");
    // The structured part does not repeat the prose: far smaller than the text.
    console.log(`get_schema full (generated public tables): text ${Buffer.byteLength(data.text)} B, structured ${data.structuredBytes} B`);
  });

  test("the schema argument narrows; a hidden schema answers like one that does not exist", async () => {
    const catalog = generatedCatalog();
    const one = await getSchema(scopeOf({ access: "read" }), catalog, { schema: "s21" });
    expect(one.mode).toBe("full");
    expect(one.relations).toHaveLength(100);
    expect(one.text).toContain("## s21.entity_2101");
    const scope = scopeOf({ access: "read", schemas: ["public", "s00"] });
    const hidden = await getSchema(scope, catalog, { schema: "s21" });
    const absent = await getSchema(scope, catalog, { schema: "nope" });
    expect(hidden.text.replace("s21", "X")).toBe(absent.text.replace("nope", "X"));
    expect(hidden.relations).toEqual([]);
  });
});

describe("get_schema over the budget: a summary that says so, never a cut list", () => {
  test("3,000 tables: counts per schema, the most connected tables, guidance to search_objects", async () => {
    const data = await getSchema(hidingScope(), generatedCatalog());
    expect(data.mode).toBe("summary");
    expect(data.relations).toBeUndefined();
    expect(data.schemas).toHaveLength(31);
    expect(data.schemas!.find((s) => s.name === "s21")).toEqual({ name: "s21", tables: 100, views: 0 });
    // public: 12 generated tables minus the hidden one.
    expect(data.schemas!.find((s) => s.name === "public")).toEqual({ name: "public", tables: 11, views: 0 });
    expect(data.hubs).toHaveLength(25);
    // customer is referenced by orders and invoice (2), like every link in the entity chain; ties by key.
    expect(data.hubs!.every((h) => h.foreignKeys === 2)).toBe(true);
    expect(data.hubs![0]!.name).toBe("customer");
    expect(data.guidance).toMatch(/3011 tables.*over this link's 32 KiB budget.*search_objects\(\{ query \}\).*describe_table/);
    expect(data.text).toContain("search_objects");
    expect(data.text).toContain("s21 100/0");
    expect(JSON.stringify(data)).not.toMatch(/secret|payroll|ssn|salar/i);
    const bytes = Buffer.byteLength(data.text) + data.structuredBytes;
    console.log(`get_schema summary on 3,000 tables: text ${Buffer.byteLength(data.text)} B, structured ${data.structuredBytes} B`);
    expect(bytes).toBeLessThan(8 * 1024);
  });

  test("the budget is the configured one: a tiny budget summarises even a small catalog", async () => {
    const small = generatedCatalog({ tables: 0 });
    expect((await getSchema(hidingScope(), small, {}, 40 * 1024)).mode).toBe("full");
    const tight = await getSchema(hidingScope(), small, {}, 2048);
    expect(tight.mode).toBe("summary");
    expect(tight.guidance).toContain("2 KiB budget");
  });
});
