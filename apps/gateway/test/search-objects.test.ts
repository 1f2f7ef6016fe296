import { hiddenNames, type Catalog, type Scope } from "@portcullis/policy";
import { describe, expect, test } from "vitest";
import type { CallOutcome } from "../src/calls/call-outcome.js";
import { descriptionsForLink, type Descriptions } from "../src/execution/descriptions.js";
import { buildCatalogIndex } from "../src/mcp/catalog-index.js";
import { searchCatalog } from "../src/mcp/search-catalog.js";
import { SEARCH_PAGE_BYTES, searchObjectsTool } from "../src/mcp/tools/search-objects.js";
import { catalogServices, generatedCatalog, generatedDescriptions, hidingScope, scopeOf } from "./generated-catalog.js";

/**
 * search_objects over a generated 3,000-table catalog, run through the tool itself: the services it
 * reads are only the catalog and the stored descriptions (redacted per link by the real
 * descriptionsForLink), exactly what the gateway's caches hand it.
 */
function harness(scope: Scope, catalog: Catalog = generatedCatalog(), stored: Descriptions = generatedDescriptions()) {
  const { ctx, services, setCatalog } = catalogServices(scope, catalog, stored);
  return {
    async search(args: Record<string, unknown>): Promise<CallOutcome> {
      return searchObjectsTool.run(searchObjectsTool.input.parse(args), ctx, services);
    },
    setCatalog,
  };
}

type Data = { results: { name: string; kind: string; access: string; matched: string; matchedColumn?: string; description?: string; columns?: { name: string }[]; definition?: string }[]; total: number; nextCursor?: string; truncated?: { by: string } };

function ok(outcome: CallOutcome): Data & { text: string } {
  if (outcome.kind !== "ok") throw new Error(`expected ok, got ${JSON.stringify(outcome)}`);
  // The structured part must satisfy the tool's own output schema (1.x clients validate it).
  searchObjectsTool.output.parse(outcome.data);
  return { ...(outcome.data as Data), text: outcome.text ?? "" };
}

const names = (data: Data) => data.results.map((r) => r.name);

describe("ranking", () => {
  const h = harness(hidingScope());

  test("exact name > prefix > substring > exact column > partial column > description; ties by name", async () => {
    const data = ok(await h.search({ query: "orders" }));
    expect(data.results.map((r) => [r.name, r.matched, r.matchedColumn ?? null])).toEqual([
      ["orders", "name", null],
      ["orders_archive", "name", null],
      ["customer_orders", "name", null],
      ["shipment", "column", "orders"],
      ["ledger", "column", "past_orders"],
      ["refund", "description", null],
    ]);
    expect(data.total).toBe(6);
    expect(data.results[0]!.access).toBe("write");
  });

  test("finds one table among 3,000 by exact name, first, with its schema", async () => {
    const data = ok(await h.search({ query: "entity_2101" }));
    expect(data.results[0]).toMatchObject({ name: "s21.entity_2101", kind: "table", matched: "name" });
    expect(data.total).toBe(1);
    expect(Buffer.byteLength(JSON.stringify(data)) + data.text.length).toBeLessThan(1000);
  });

  test("descriptions are searchable, by word starts, all words required", async () => {
    expect(names(ok(await h.search({ query: "monthly revenue" })))).toEqual(["region_stats"]);
    expect(names(ok(await h.search({ query: "Sales region" })))).toEqual(["region_stats"]);
    expect(ok(await h.search({ query: "monthly weather" })).total).toBe(0);
  });

  test("columns as results of their own with kinds ['column']; functions by name", async () => {
    const data = ok(await h.search({ query: "past_orders", kinds: ["column"], detail: "columns" }));
    expect(data.results).toEqual([{ name: "ledger.past_orders", kind: "column", access: "read", matched: "name", columns: [{ name: "past_orders", type: "int", nullable: true, pk: false }] }]);
    expect(ok(await h.search({ query: "refresh" })).results).toEqual([{ name: "refresh_totals", kind: "function", access: "write", matched: "name" }]);
  });

  test("schema filter and kinds filter", async () => {
    const data = ok(await h.search({ query: "entity_1", schema: "s01", limit: 50 }));
    expect(data.total).toBe(100);
    expect(data.results.every((r) => r.name.startsWith("s01."))).toBe(true);
    expect(ok(await h.search({ query: "orders", kinds: ["view"] })).total).toBe(0);
  });
});

describe("paging", () => {
  test("walking every page with nextCursor returns each match once, in a stable order", async () => {
    const h = harness(hidingScope());
    const walk = async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const data = ok(await h.search({ query: "entity", limit: 50, ...(cursor ? { cursor } : {}) }));
        expect(data.total).toBe(3000);
        seen.push(...names(data));
        cursor = data.nextCursor;
        if (cursor) expect(data.truncated).toEqual({ by: "limit" });
        pages++;
      } while (cursor);
      return { seen, pages };
    };
    const first = await walk();
    expect(first.pages).toBe(60);
    expect(new Set(first.seen).size).toBe(3000);
    expect(first.seen.slice(0, 3)).toEqual(["s00.entity_0", "s00.entity_1", "s00.entity_10"]);
    expect((await walk()).seen).toEqual(first.seen);
  });

  test("a tampered cursor, another query's cursor, other filters, or a changed schema: invalid_arguments", async () => {
    const h = harness(hidingScope());
    const cursor = ok(await h.search({ query: "entity", limit: 10 })).nextCursor!;
    expect(ok(await h.search({ query: "entity", limit: 10, cursor })).results[0]!.name).toBe("s00.entity_18");
    // Other detail or limit is fine: the cursor is bound to what is searched, not to how it is shown.
    expect(ok(await h.search({ query: "entity", limit: 5, detail: "columns", cursor })).results).toHaveLength(5);
    const decoded = JSON.parse(Buffer.from(cursor, "base64url").toString()) as { o: number; h: string };
    const forged = Buffer.from(JSON.stringify({ ...decoded, o: 2000 })).toString("base64url");
    const attempts = [
      { query: "entity", cursor: forged },
      { query: "entity", cursor: `${cursor.slice(0, -2)}AA` },
      { query: "entity", cursor: "not a cursor" },
      { query: "entity_1", cursor },
      { query: "entity", schema: "s01", cursor },
      { query: "entity", kinds: ["table", "column"], cursor },
    ];
    for (const args of attempts) {
      const outcome = await h.search(args);
      expect(outcome.kind, JSON.stringify(args)).toBe("failed");
      if (outcome.kind === "failed") {
        expect(outcome.failure.code).toBe("invalid_arguments");
        expect(outcome.failure.message).toMatch(/^Invalid cursor/);
      }
    }
    h.setCatalog(generatedCatalog({ version: "v2" }));
    expect((await h.search({ query: "entity", cursor })).kind).toBe("failed");
  });

  test("a page stops at the byte budget and says so; one oversized result still comes alone", async () => {
    const h = harness(hidingScope());
    const data = ok(await h.search({ query: "entity", detail: "definition", limit: 50 }));
    expect(data.results.length).toBeLessThan(50);
    expect(data.results.length).toBeGreaterThan(5);
    expect(data.truncated).toEqual({ by: "bytes" });
    expect(Buffer.byteLength(JSON.stringify(data.results))).toBeLessThanOrEqual(SEARCH_PAGE_BYTES);
    expect(data.results[0]!.definition).toContain("## s00.entity_0");
    const wide = ok(await h.search({ query: "wide", detail: "definition" }));
    expect(wide.results).toHaveLength(1);
    expect(Buffer.byteLength(wide.results[0]!.definition!)).toBeGreaterThan(SEARCH_PAGE_BYTES);
    expect(wide.nextCursor).toBeUndefined();
  });
});

describe("attack: what the link cannot see cannot be found, matched or counted", () => {
  const h = harness(hidingScope());
  const nothing = async (args: Record<string, unknown>) => {
    const data = ok(await h.search(args));
    expect({ args, total: data.total, results: data.results }).toEqual({ args, total: 0, results: [] });
  };

  test("the exact hidden column name, alone or as a column result", async () => {
    await nothing({ query: "ssn" });
    await nothing({ query: "ssn", kinds: ["column"] });
    await nothing({ query: "customer.ssn", kinds: ["column"] });
  });

  test("the words of a hidden column's description, and of sentences that name hidden things", async () => {
    await nothing({ query: "social security" });
    await nothing({ query: "receipts" });
    await nothing({ query: "identity checks" });
    await nothing({ query: "salaries" });
    await nothing({ query: "gross monthly pay" });
  });

  test("a hidden table's name, prefix, substring, its description, its columns, functions over it", async () => {
    for (const query of ["secret_payroll", "secret", "payroll", "ecret_pay", "public.secret", "salary"]) await nothing({ query });
    await nothing({ query: "salary", kinds: ["column"] });
    // payroll_total reads the hidden table: it is not listed either.
    await nothing({ query: "payroll_total", kinds: ["function"] });
  });

  test("counts and pages are computed without hidden objects", async () => {
    // secret_payroll has a column named 'orders' too: a visible-only count is 6, as in the open link minus nothing.
    expect(ok(await h.search({ query: "orders" })).total).toBe(6);
    const open = harness(scopeOf({ access: "read" }));
    expect(ok(await open.search({ query: "orders" })).total).toBe(7);
    const emails = ok(await h.search({ query: "email" }));
    expect(names(emails)).toEqual(["contact"]);
    const customer = ok(await h.search({ query: "customer", detail: "definition" })).results.find((r) => r.name === "customer")!;
    expect(customer.columns!.map((c) => c.name)).toEqual(["id", "name", "tax_token"]);
    expect(customer.definition).not.toMatch(/ssn|email|social/i);
    expect(customer.description).toBe("People who buy.");
    const invoice = ok(await h.search({ query: "invoice", detail: "definition" })).results[0]!;
    expect(JSON.stringify(invoice)).not.toMatch(/ssn|secret|salar/i);
  });

  test("the same catalog through an open link does find them (the attacks above are not vacuous)", async () => {
    const open = harness(scopeOf({ access: "read" }));
    // invoice's description names it ("Salaries are in secret_payroll."): a match only where it is visible.
    expect(names(ok(await open.search({ query: "secret_payroll" })))).toEqual(["secret_payroll", "invoice"]);
    expect(names(ok(await open.search({ query: "ssn" })))).toEqual(["customer", "invoice"]);
    expect(names(ok(await open.search({ query: "social security" })))).toEqual(["customer"]);
    expect(names(ok(await open.search({ query: "payroll_total" })))).toEqual(["payroll_total"]);
  });
});

test("the index search is deterministic and fast on 3,000 tables", () => {
  const catalog = generatedCatalog();
  const scope = hidingScope();
  const started = performance.now();
  const index = buildCatalogIndex(catalog, scope, descriptionsForLink(generatedDescriptions(), hiddenNames(scope, catalog)));
  const built = performance.now() - started;
  const t0 = performance.now();
  for (let i = 0; i < 100; i++) searchCatalog(index, { query: `entity_${i * 29}` });
  const perSearch = (performance.now() - t0) / 100;
  console.log(`search index: built in ${built.toFixed(1)} ms, ${perSearch.toFixed(2)} ms per search (3,012 tables, 15,000+ columns)`);
  expect(perSearch).toBeLessThan(50);
});
