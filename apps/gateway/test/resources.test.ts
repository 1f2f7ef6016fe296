import { ProtocolError, ResourceNotFoundError } from "@modelcontextprotocol/server";
import { describe, expect, test } from "vitest";
import type { CallOutcome } from "../src/calls/call-outcome.js";
import { InvalidResourceCursorError, listResources, listResourceTemplates, parseResourceUri, readResourceContents, readResourceDefinition, tableUri } from "../src/mcp/resources.js";
import { catalogServices, generatedCatalog, hidingScope } from "./generated-catalog.js";
import { insideBoundary } from "./untrusted-boundary.js";

/** The resources functions the protocol layer calls, over a generated 3,000-table catalog. */
const world = catalogServices(hidingScope());
const read = (uri: string): Promise<CallOutcome> => readResourceDefinition.run(readResourceDefinition.input.parse({ uri }), world.ctx, world.services);

describe("resources/list", () => {
  test("every visible object once, 200 per page, in a fixed order; the hidden table is absent", async () => {
    const uris: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listResources(world.services, world.ctx, cursor);
      expect(page.resources.length).toBeLessThanOrEqual(200);
      uris.push(...page.resources.map((r) => r.uri));
      for (const r of page.resources) {
        expect(r.mimeType).toBe("text/plain");
        expect((r.description ?? "").length).toBeLessThanOrEqual(200);
      }
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    // 1 whole schema + 31 schemas + 3,011 visible tables.
    expect(uris).toHaveLength(3043);
    expect(new Set(uris).size).toBe(3043);
    expect(pages).toBe(16);
    expect(uris.slice(0, 2)).toEqual(["portcullis://schema", "portcullis://schemas/public"]);
    expect(uris).toContain("portcullis://tables/s21/entity_2101");
    expect(uris.join(" ")).not.toMatch(/secret_payroll/);
    const again = await listResources(world.services, world.ctx);
    expect(again.resources.map((r) => r.uri)).toEqual(uris.slice(0, 200));
    const customer = again.resources.find((r) => r.name === "public.customer")!;
    expect(customer).toMatchObject({ uri: "portcullis://tables/public/customer", title: "Table public.customer", description: "People who buy." });
  });

  test("a tampered cursor, another link's, or one from before a schema change: InvalidParams", async () => {
    const first = await listResources(world.services, world.ctx);
    const other = catalogServices(hidingScope());
    other.setCatalog(generatedCatalog({ version: "v2" }));
    for (const [services, ctx, cursor] of [
      [world.services, world.ctx, `${first.nextCursor!.slice(0, -3)}xyz`],
      [world.services, world.ctx, "garbage"],
      [other.services, other.ctx, first.nextCursor!],
    ] as const) {
      const error = await listResources(services, ctx, cursor).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidResourceCursorError);
      expect((error as ProtocolError).code).toBe(-32602);
    }
  });

  test("templates for tables and schemas", () => {
    expect(listResourceTemplates(world.ctx.link).resourceTemplates.map((t) => t.uriTemplate)).toEqual(["portcullis://tables/{schema}/{table}", "portcullis://schemas/{schema}"]);
  });
});

describe("resources/read", () => {
  test("a table: the describe_table text; audited with the table", async () => {
    const outcome = await read("portcullis://tables/public/customer");
    expect(outcome.kind).toBe("ok");
    if (outcome.kind !== "ok") return;
    expect(outcome.text).toMatch(/^## customer — People who buy\.\nid int PK\nname text null\ntax_token text null — Opaque token\.\n\nColumns are NOT NULL/);
    expect(outcome.audit).toMatchObject({ verdict: "allowed", tables: ["public.customer"], rows: 3 });
    // The contents are the same text inside the untrusted-data boundary (it is the database's words).
    const contents = readResourceContents(outcome, "portcullis://tables/public/customer");
    expect(contents).toEqual({ contents: [{ uri: "portcullis://tables/public/customer", mimeType: "text/plain", text: expect.any(String) }] });
    expect(insideBoundary(contents.contents[0]!.text)).toBe(outcome.text);
  });

  test("the whole schema and one schema: get_schema's answer (summary on 3,000 tables)", async () => {
    const whole = await read("portcullis://schema");
    expect(whole.kind === "ok" && whole.text).toMatch(/over this link's 32 KiB budget/);
    const one = await read("portcullis://schemas/s21");
    expect(one.kind === "ok" && one.text).toContain("## s21.entity_2101");
  });

  test("percent-encoded segments round trip", () => {
    expect(tableUri("my schema", "a/b%")).toBe("portcullis://tables/my%20schema/a%2Fb%25");
    expect(parseResourceUri(tableUri("my schema", "a/b%"))).toEqual({ kind: "table", schema: "my schema", table: "a/b%" });
  });

  test("attack: hidden, nonexistent and malformed URIs get the same answer, naming only the URI sent", async () => {
    const uris = [
      "portcullis://tables/public/secret_payroll",
      "portcullis://tables/public/no_such_table",
      "portcullis://tables/public/SECRET_PAYROLL",
      "portcullis://schemas/pg_catalog",
      "portcullis://tables/public/customer/ssn",
      "portcullis://tables/public/%E0%A4%A",
      "portcullis://tables//customer",
      "file:///etc/passwd",
      "portcullis://tables/public/customer?x=1",
    ];
    for (const uri of uris) {
      const outcome = await read(uri);
      expect(outcome, uri).toEqual({
        kind: "failed",
        failure: { code: "not_found", message: `Resource not found: ${uri}`, retryable: false },
        audit: { verdict: "error", error: `Resource not found: ${uri}` },
      });
      const thrown = (() => {
        try {
          readResourceContents(outcome, uri);
        } catch (error) {
          return error;
        }
      })();
      expect(thrown).toBeInstanceOf(ResourceNotFoundError);
      expect((thrown as ProtocolError).code).toBe(-32602);
      expect((thrown as ProtocolError).message).toContain(`Resource not found: ${uri}`);
    }
  });
});
