import type { Catalog, Scope } from "@portcullis/policy";
import { describe, expect, test } from "vitest";
import type { CallOutcome } from "../src/calls/call-outcome.js";
import { listTablesTool } from "../src/mcp/tools/list-tables.js";
import { catalogServices, generatedCatalog, hidingScope, scopeOf } from "./generated-catalog.js";

type Page = { tables: { name: string }[]; total: number; nextCursor?: string };

type Link = ReturnType<typeof catalogServices>;

/**
 * One link as the gateway keeps it across calls: the same services for every page, so each call after
 * the first answers from the link's cached catalog index (a fresh link per page rebuilt the 3,000-table
 * index every time: ~0.2 s a page, and a unit test that ran past vitest's 5 s on a loaded machine).
 */
function linkOf(scope: Scope, catalog: Catalog, budget?: number): Link {
  return catalogServices(scope, catalog, undefined, budget === undefined ? {} : { schemaBudgetBytes: budget });
}

async function listTables(link: Link, args: Record<string, unknown> = {}): Promise<CallOutcome> {
  return listTablesTool.run(listTablesTool.input.parse(args), link.ctx, link.services);
}

async function page(link: Link, args: Record<string, unknown> = {}): Promise<Page & { text: string; bytes: number }> {
  const outcome = await listTables(link, args);
  if (outcome.kind !== "ok") throw new Error(JSON.stringify(outcome));
  listTablesTool.output.parse(outcome.data);
  const text = outcome.text ?? "";
  return { ...(outcome.data as Page), text, bytes: Buffer.byteLength(text) + Buffer.byteLength(JSON.stringify(outcome.data)) };
}

describe("list_tables on a 3,000-table catalog: pages within the budget, never the whole list at once", () => {
  test("walking every page gives each visible table once, in order; each page stays within the budget", async () => {
    const catalog = generatedCatalog();
    const scope = scopeOf({ access: "read" });
    const budget = 32 * 1024;
    const link = linkOf(scope, catalog, budget);
    const first = await page(link);
    expect(first.total).toBeGreaterThanOrEqual(3000);
    expect(first.nextCursor).toBeDefined();
    expect(first.text).toContain("More: call list_tables again with cursor");
    expect(first.text).toContain("search_objects");
    const seen: string[] = [];
    let current: Awaited<ReturnType<typeof page>> | undefined = first;
    let pages = 0;
    while (current) {
      // Both copies (text and structuredContent) plus the closing line stay near the budget.
      expect(current.bytes).toBeLessThanOrEqual(budget + 400);
      seen.push(...current.tables.map((t) => t.name));
      pages++;
      current = current.nextCursor ? await page(link, { cursor: current.nextCursor }) : undefined;
    }
    expect(seen).toHaveLength(first.total);
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBeGreaterThan(10);
    console.log(`list_tables on ${first.total} tables: ${pages} pages of at most ${budget} B (first page ${first.bytes} B)`);
  });

  test("a cursor from another schema filter, an altered one, or one past the end is refused, with what to do", async () => {
    const catalog = generatedCatalog();
    const scope = scopeOf({ access: "read" });
    const link = linkOf(scope, catalog, 4096);
    const first = await page(link);
    const other = await listTables(link, { cursor: first.nextCursor, schema: "s21" });
    expect(other).toMatchObject({ kind: "failed", failure: { code: "invalid_arguments" } });
    expect((other as Extract<CallOutcome, { kind: "failed" }>).failure.message).toMatch(/without a cursor/);
    const altered = `${first.nextCursor!.slice(0, -2)}AA`;
    expect(await listTables(link, { cursor: altered })).toMatchObject({ kind: "failed" });
    // A cursor of another link's scope (another binding) does not page this one.
    const otherScope = await page(linkOf(scopeOf({ access: "read", schemas: ["public", "s00"] }), catalog, 4096));
    expect(await listTables(link, { cursor: otherScope.nextCursor })).toMatchObject({ kind: "failed" });
  });

  test("a small catalog fits one page: no cursor, no note; hidden tables are absent from the list and the total", async () => {
    const small = generatedCatalog({ tables: 0 });
    const data = await page(linkOf(hidingScope(), small));
    expect(data.nextCursor).toBeUndefined();
    expect(data.text).not.toContain("More:");
    expect(data.total).toBe(data.tables.length);
    expect(data.text).not.toMatch(/secret|payroll|ssn|salar/i);
  });
});
