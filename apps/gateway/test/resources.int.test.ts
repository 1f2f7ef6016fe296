import { freePort } from "@portcullis/db/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditEvents, connectClient, GatewayWorld, waitFor, type LinkFixture } from "./fixtures.js";
import { mcpRequest, type Era } from "./mcp-wire.js";
import { insideBoundary } from "./untrusted-boundary.js";

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
    expect(insideBoundary(content!.text)).toMatch(/^## customer\n/);
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
    expect(insideBoundary(visible.json.result.contents[0].text)).toMatch(/^## employee/);
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

describe("real clients: the 1.x SDK client (2025-11-25) and the v2 client pinned to 2026-07-28", () => {
  test("1.x: listResources, listResourceTemplates, readResource, search_objects; a hidden URI is an McpError -32602", async () => {
    const client = await connectClient(url(), link.key, "v1-resources");
    try {
      const { resources } = await client.listResources();
      expect(resources.map((r) => r.uri)).toContain("portcullis://tables/public/invoice_line");
      expect(resources.map((r) => r.uri)).not.toContain("portcullis://tables/public/employee");
      const { resourceTemplates } = await client.listResourceTemplates();
      expect(resourceTemplates).toHaveLength(2);
      const read = await client.readResource({ uri: "portcullis://tables/public/invoice_line" });
      expect(read.contents[0]).toMatchObject({ uri: "portcullis://tables/public/invoice_line", mimeType: "text/plain" });
      await expect(client.readResource({ uri: "portcullis://tables/public/employee" })).rejects.toMatchObject({ code: -32602 });
      // The 1.x client validates structuredContent against the listed outputSchema: it would throw on drift.
      const found = await client.callTool({ name: "search_objects", arguments: { query: "invoice", detail: "columns" } });
      expect((found.structuredContent as { results: { name: string }[] }).results.map((r) => r.name)).toEqual(["invoice", "invoice_line"]);
      const schema = await client.callTool({ name: "get_schema", arguments: {} });
      expect(schema.structuredContent).toMatchObject({ status: "ok", mode: "full" });
    } finally {
      await client.close();
    }
  });

  test("v2 pinned: the same, over 2026-07-28", async () => {
    const v2 = await import("@modelcontextprotocol/client");
    const client = new v2.Client({ name: "v2-resources", version: "2.4.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await client.connect(new v2.StreamableHTTPClientTransport(new URL(url()), { requestInit: { headers: { authorization: `Bearer ${link.key}` } } }));
    try {
      const { resources } = await client.listResources();
      expect(resources.map((r) => r.uri)).toContain("portcullis://tables/public/invoice_line");
      const read = await client.readResource({ uri: "portcullis://tables/public/invoice_line" });
      expect(insideBoundary((read.contents[0] as { text: string }).text)).toMatch(/^## invoice_line/);
      await expect(client.readResource({ uri: "portcullis://tables/public/employee" })).rejects.toMatchObject({ code: -32602 });
      const found = await client.callTool({ name: "search_objects", arguments: { query: "employee" } });
      expect(found.structuredContent).toMatchObject({ status: "ok", total: 0, results: [] });
      const customer = await client.callTool({ name: "search_objects", arguments: { query: "customer", detail: "columns", limit: 1 } });
      const columns = (customer.structuredContent as { results: { columns: { name: string }[] }[] }).results[0]!.columns.map((c) => c.name);
      expect(columns).toContain("first_name");
      expect(columns).not.toContain("email");
    } finally {
      await client.close();
    }
  });
});

test("a target that is down: resources and search answer in the call path's words, naming no host, port or user", async () => {
  const port = await freePort();
  const team = await world.addTeam("down", `postgres://secret_user:secret_pw@127.0.0.1:${port}/secret_db`);
  const down = await world.addLink({ access: "read" }, team);
  const downUrl = `${base}/mcp/${down.linkId}`;
  for (const era of ["2026-07-28", "2025-11-25"] as const) {
    const list = await mcpRequest(downUrl, down.key, era, "resources/list");
    expect(list.json.error.message).toMatch(/^The database is unreachable right now \(connection refused\)/);
    const read = await mcpRequest(downUrl, down.key, era, "resources/read", { uri: "portcullis://tables/public/album" });
    expect(read.json.error.message).toMatch(/^The database is unreachable right now/);
    const search = await mcpRequest(downUrl, down.key, era, "tools/call", { name: "search_objects", arguments: { query: "album" } });
    expect(search.json.result.structuredContent).toMatchObject({ status: "failed", failure: { code: "target_unavailable", retryable: true } });
    for (const answer of [list, read, search]) expect(JSON.stringify(answer.json)).not.toMatch(new RegExp(`${port}|secret_|127\\.0\\.0\\.1`));
  }
});
