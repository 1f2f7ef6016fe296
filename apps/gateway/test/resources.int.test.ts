import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditEvents, GatewayWorld, waitFor, type LinkFixture } from "./fixtures.js";
import { mcpRequest, type Era } from "./mcp-wire.js";

/**
 * MCP resources on a real gateway over Chinook, in both eras: the link's visible tables as
 * portcullis:// resources, templates, reads audited like tool calls, and one answer (-32602
 * "Resource not found") for a hidden table, a table that does not exist and a malformed URI.
 */
let world: GatewayWorld;
let base: string;
let link: LinkFixture;
let open: LinkFixture;

beforeAll(async () => {
  world = await GatewayWorld.create();
  base = (await world.startGateway()).url;
  link = await world.addLink({ access: "read", tables: { employee: { access: "none" }, customer: { hiddenColumns: ["email", "phone"] } } });
  open = await world.addLink({ access: "read" });
}, 120_000);

afterAll(async () => {
  await world?.close();
}, 60_000);

const url = () => `${base}/mcp/${link.linkId}`;

describe.each(["2026-07-28", "2025-11-25"] as const)("resources, %s", (era: Era) => {
  test("list: the schema, each schema, each visible table — not the hidden one; private cache hints only on 2026", async () => {
    const page = await mcpRequest(url(), link.key, era, "resources/list");
    expect(page.status).toBe(200);
    const resources = page.json.result.resources as { uri: string; name: string; title: string; description?: string; mimeType: string }[];
    expect(resources.slice(0, 3).map((r) => r.uri)).toEqual(["portcullis://schema", "portcullis://schemas/public", "portcullis://tables/public/album"]);
    expect(resources.map((r) => r.name)).toContain("public.invoice_line");
    expect(resources.map((r) => r.uri).join(" ")).not.toContain("employee");
    expect(page.json.result.nextCursor).toBeUndefined();
    if (era === "2026-07-28") expect(page.json.result).toMatchObject({ resultType: "complete", cacheScope: "private", ttlMs: 300_000 });
    else expect(page.json.result.resultType).toBeUndefined();
  });

  test("templates", async () => {
    const templates = await mcpRequest(url(), link.key, era, "resources/templates/list");
    expect(templates.json.result.resourceTemplates.map((t: { uriTemplate: string }) => t.uriTemplate)).toEqual(["portcullis://tables/{schema}/{table}", "portcullis://schemas/{schema}"]);
  });

  test("read: the describe_table text, without hidden columns", async () => {
    const read = await mcpRequest(url(), link.key, era, "resources/read", { uri: "portcullis://tables/public/customer" });
    const [content] = read.json.result.contents as { uri: string; mimeType: string; text: string }[];
    expect(content).toMatchObject({ uri: "portcullis://tables/public/customer", mimeType: "text/plain" });
    expect(content!.text).toMatch(/^## customer\n/);
    expect(content!.text).toContain("customer_id int PK");
    expect(content!.text).not.toMatch(/email|phone|employee/);
    const schema = await mcpRequest(url(), link.key, era, "resources/read", { uri: "portcullis://schema" });
    expect(schema.json.result.contents[0].text).toContain("## invoice_line");
  });

  test("attack: hidden, absent and malformed URIs, and a forged cursor, all answer -32602 alike", async () => {
    const uris = ["portcullis://tables/public/employee", "portcullis://tables/public/no_such_table", "portcullis://tables/public/%E0%A4%A", "portcullis://tables/public/customer/email", "http://example.com/"];
    const answers = await Promise.all(uris.map((uri) => mcpRequest(url(), link.key, era, "resources/read", { uri })));
    const shapes = answers.map((a, i) => JSON.stringify({ status: a.status, error: a.json.error, result: a.json.result }).replaceAll(JSON.stringify(uris[i]!).slice(1, -1), "URI"));
    expect(new Set(shapes).size, shapes.join("\n")).toBe(1);
    expect(answers[0]!.json.error).toMatchObject({ code: -32602, message: expect.stringContaining("Resource not found: portcullis://tables/public/employee") });
    // Not vacuous: the same URI reads on a link that does not hide the table.
    const visible = await mcpRequest(`${base}/mcp/${open.linkId}`, open.key, era, "resources/read", { uri: uris[0]! });
    expect(visible.json.result.contents[0].text).toMatch(/^## employee/);
    const cursor = await mcpRequest(url(), link.key, era, "resources/list", { cursor: "eyJvIjoyMDAsImgiOiJ4eHh4eHh4eHh4eHh4eHh4eHh4eHh4In0" });
    expect(cursor.json.error.code).toBe(-32602);
    expect(cursor.json.error.message).toMatch(/Invalid cursor/);
  });
});

test("every resources/read is audited like a tool call: allowed with its table, or an error", async () => {
  const uri = "portcullis://tables/public/album";
  await mcpRequest(url(), link.key, "2026-07-28", "resources/read", { uri });
  await mcpRequest(url(), link.key, "2026-07-28", "resources/read", { uri: "portcullis://tables/public/employee" });
  const events = await waitFor(
    async () => (await auditEvents(world)).filter((e) => e.tool === "resources/read" && e.linkId === link.linkId),
    (es) => es.some((e) => e.tables.includes("public.album")) && es.some((e) => e.error?.includes("employee")),
  );
  const album = events.find((e) => e.tables.includes("public.album"))!;
  expect(album).toMatchObject({ verdict: "allowed", rows: 3, clientName: "wire-bytes", protocolVersion: "2026-07-28" });
  const hidden = events.find((e) => e.error?.includes("employee"))!;
  expect(hidden).toMatchObject({ verdict: "error", error: "Resource not found: portcullis://tables/public/employee", tables: [] });
});
