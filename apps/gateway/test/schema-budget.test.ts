import type { Catalog, Scope } from "@portcullis/policy";
import { Ajv } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, test } from "vitest";
import type { CallOutcome, TypedTool } from "../src/calls/call-outcome.js";
import { outputJsonSchema, structuredContentOf } from "../src/calls/outcome-schema.js";
import { getSchemaTool } from "../src/mcp/tools/get-schema.js";
import { searchObjectsTool } from "../src/mcp/tools/search-objects.js";
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

describe("every ok outcome of the schema tools validates against the outputSchema clients see", () => {
  // As the clients compile them: the 1.x SDK with ajv's draft-07 defaults (it validates even isError
  // results and throws), 2.x clients and 2026-07-28 with 2020-12.
  const ajv07 = new Ajv({ strict: false, validateSchema: false, allErrors: true });
  const ajv2020 = new Ajv2020({ strict: false, allErrors: true });

  test("get_schema full and summary, search_objects at every detail, with and without a next page", async () => {
    const small = catalogServices(hidingScope(), generatedCatalog({ tables: 0 }));
    const large = catalogServices(hidingScope());
    const cases: [TypedTool, ReturnType<typeof catalogServices>, Record<string, unknown>][] = [
      [getSchemaTool, small, {}],
      [getSchemaTool, large, {}],
      [getSchemaTool, large, { schema: "nope" }],
      [searchObjectsTool, large, { query: "entity_2101" }],
      [searchObjectsTool, large, { query: "orders", detail: "columns" }],
      [searchObjectsTool, large, { query: "entity", detail: "definition", limit: 50 }],
      [searchObjectsTool, large, { query: "orders", kinds: ["column", "function"], detail: "definition" }],
      [searchObjectsTool, large, { query: "refresh", detail: "definition" }],
      [searchObjectsTool, large, { query: "nothing matches this" }],
    ];
    for (const [tool, { ctx, services }, args] of cases) {
      const outcome = await tool.run(tool.input.parse(args), ctx, services);
      expect(outcome.kind).toBe("ok");
      const schema = outputJsonSchema(tool.output);
      for (const [mode, validate] of [["draft-07", ajv07.compile(schema)], ["2020-12", ajv2020.compile(schema)]] as const) {
        expect(validate(structuredContentOf(outcome)), `${tool.name} ${JSON.stringify(args)} ${mode}: ${JSON.stringify(validate.errors)}`).toBe(true);
      }
    }
    // Not vacuous: a result of a kind the schema does not know fails it.
    const one = await searchObjectsTool.run(searchObjectsTool.input.parse({ query: "orders" }), large.ctx, large.services);
    const bent = structuredContentOf(one) as { results: { kind: string }[] };
    bent.results[0]!.kind = "sequence";
    expect(ajv2020.compile(outputJsonSchema(searchObjectsTool.output))(bent)).toBe(false);
    const invalid = await searchObjectsTool.run(searchObjectsTool.input.parse({ query: "x", cursor: "bad" }), large.ctx, large.services);
    expect(ajv2020.compile(outputJsonSchema(searchObjectsTool.output))(structuredContentOf(invalid))).toBe(true);
  });
});
