import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { addLinkDatabase, listLinkDatabases, setLinkDisabledTools, updateLinkDatabase } from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import { createEmptyDatabase, withClient, type TestDatabase } from "@portcullis/db/testing";
import { parseScope } from "@portcullis/policy";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditEvents, GatewayWorld, rawPost, waitFor, type LinkFixture } from "./fixtures.js";
import { mcpRequest, type Era } from "./mcp-wire.js";
import { addConnection, parseTargetUrlForTests } from "./operations.js";
import { insideBoundary } from "./untrusted-boundary.js";

/**
 * Attack finding 3 (issue 17): a tool switched off on a link (links.disabled_tools) must be off on every
 * path. Real gateway over Chinook, raw JSON-RPC in both eras and the v2 client: the resources that answer
 * what get_schema / describe_table / list_tables answer are not listed, not templated and read as
 * unknown; a multi-database link's resources cover each database through its own scope; and
 * explain_query's analyze (which runs the statement) is refused where execute_sql is switched off.
 */
let world: GatewayWorld;
let crm: TestDatabase;
let base = "";
let internal = "";
const SCHEMA_TOOLS = ["get_schema", "describe_table", "list_tables", "search_objects"];
const SCOPE = { access: "read", tables: { employee: { access: "none" }, fx3_log: { access: "write" } } };
const CRM_SCOPE = { access: "read", tables: { secrets: { access: "none" } } };
let off: LinkFixture;
let on: LinkFixture;
let multi: LinkFixture;

beforeAll(async () => {
  world = await GatewayWorld.create();
  // A table the link may write: plain EXPLAIN of a write is allowed, EXPLAIN ANALYZE of one never.
  await withClient(world.target.url, (c) => c.query("CREATE TABLE fx3_log (id serial PRIMARY KEY, note text)"));
  crm = await createEmptyDatabase("fx3crm");
  await withClient(crm.url, (c) =>
    c.query(`CREATE TABLE accounts (account_id int PRIMARY KEY, account_name text NOT NULL);
      CREATE TABLE secrets (secret_id int PRIMARY KEY, api_token text NOT NULL);
      INSERT INTO accounts VALUES (1, 'Acme'); INSERT INTO secrets VALUES (1, 'tok-live-very-secret');`),
  );
  off = await world.addLink(SCOPE);
  await setLinkDisabledTools(world.prisma, { teamId: off.teamId, linkId: off.linkId, disabledTools: SCHEMA_TOOLS });
  on = await world.addLink(SCOPE);
  multi = await world.addLink(SCOPE);
  const [first] = await listLinkDatabases(world.prisma, { teamId: world.teamId, linkId: multi.linkId });
  await updateLinkDatabase(world.prisma, { teamId: world.teamId, linkId: multi.linkId, name: first!.name, newName: "music" }, { parseScope });
  const crmConnection = await addConnection(world.prisma, { teamId: world.teamId, name: "fx3-crm", fields: parseTargetUrlForTests(crm.url), test: false }, getKeyring(world.secretKeys));
  await addLinkDatabase(world.prisma, { teamId: world.teamId, linkId: multi.linkId, name: "crm", connectionId: crmConnection.id, scope: CRM_SCOPE }, { parseScope });
  const started = await world.startGateway();
  base = started.url;
  internal = started.internalUrl!;
}, 120_000);

afterAll(async () => {
  await world?.close();
  await crm?.drop().catch(() => {});
}, 60_000);

const url = (l: LinkFixture) => `${base}/mcp/${l.linkId}`;
const uris = (answer: { json: Record<string, unknown> }) => ((answer.json.result as { resources?: { uri: string }[] } | undefined)?.resources ?? []).map((r) => r.uri);
const templates = (answer: { json: Record<string, unknown> }) => ((answer.json.result as { resourceTemplates: { uriTemplate: string }[] }).resourceTemplates ?? []).map((t) => t.uriTemplate);
/** The error of a resources/read with the URI itself taken out: equal shapes mean the caller cannot tell the cases apart. */
const shape = (answer: { status: number; json: Record<string, unknown> }, uri: string) => JSON.stringify({ status: answer.status, error: answer.json.error, result: answer.json.result }).replaceAll(uri, "URI");

describe.each(["2026-07-28", "2025-11-25"] as const)("schema tools switched off, %s", (era: Era) => {
  test("resources/list and templates are empty; the same calls list and template on a link with them on", async () => {
    const listed = await mcpRequest(url(off), off.key, era, "resources/list");
    expect(listed.status).toBe(200);
    expect(uris(listed)).toEqual([]);
    expect(templates(await mcpRequest(url(off), off.key, era, "resources/templates/list"))).toEqual([]);
    const control = uris(await mcpRequest(url(on), on.key, era, "resources/list"));
    expect(control.slice(0, 2)).toEqual(["portcullis://schema", "portcullis://schemas/public"]);
    expect(control).toContain("portcullis://tables/public/invoice");
    expect(templates(await mcpRequest(url(on), on.key, era, "resources/templates/list"))).toHaveLength(2);
  });

  test("resources/read answers every URI as a missing resource, the same as a hidden table; the tools are unknown too", async () => {
    const wanted = ["portcullis://schema", "portcullis://schemas/public", "portcullis://tables/public/invoice"];
    const answers = await Promise.all(wanted.map((uri) => mcpRequest(url(off), off.key, era, "resources/read", { uri })));
    const hidden = await mcpRequest(url(on), on.key, era, "resources/read", { uri: "portcullis://tables/public/employee" });
    const shapes = new Set([...answers.map((a, i) => shape(a, wanted[i]!)), shape(hidden, "portcullis://tables/public/employee")]);
    expect(shapes.size, [...shapes].join("\n")).toBe(1);
    expect(answers[0]!.json.error).toMatchObject({ code: -32602, message: "Resource not found: portcullis://schema" });
    expect(JSON.stringify(answers)).not.toMatch(/invoice_id|billing_city|## /);
    // Not vacuous: the same URIs read on the link that keeps the tools.
    const read = await mcpRequest(url(on), on.key, era, "resources/read", { uri: wanted[2]! });
    expect(insideBoundary(read.json.result.contents[0].text)).toMatch(/^## invoice\n/);
    const tool = await mcpRequest(url(off), off.key, era, "tools/call", { name: "get_schema", arguments: {} });
    expect(tool.json.error?.code ?? (tool.json.result?.isError ? "isError" : "ran")).not.toBe("ran");
  });
});

test("2025-03-26 batch (the one revision with batches): resources/read, resources/list and tools/call in one batch get the same answers", async () => {
  const headers = { authorization: `Bearer ${off.key}`, "mcp-protocol-version": "2025-03-26" };
  const answer = await rawPost(url(off), [
    { jsonrpc: "2.0", id: 1, method: "resources/read", params: { uri: "portcullis://tables/public/invoice" } },
    { jsonrpc: "2.0", id: 2, method: "resources/list", params: {} },
    { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "describe_table", arguments: { table: "invoice" } } },
    { jsonrpc: "2.0", id: 4, method: "resources/templates/list", params: {} },
  ], headers);
  expect(answer.status, answer.text).toBe(200);
  const replies = answer.json as unknown as { id: number; error?: { code: number }; result?: { resources: unknown[] } }[];
  expect(replies.find((r) => r.id === 1)?.error?.code).toBe(-32602);
  expect(replies.find((r) => r.id === 2)?.result?.resources).toEqual([]);
  expect(replies.find((r) => r.id === 3)?.error?.code).toBe(-32602);
  expect((replies.find((r) => r.id === 4)?.result as { resourceTemplates?: unknown[] } | undefined)?.resourceTemplates).toEqual([]);
  // Not vacuous: the same batch reads on the link that keeps the tools.
  const control = await rawPost(url(on), [{ jsonrpc: "2.0", id: 1, method: "resources/read", params: { uri: "portcullis://tables/public/invoice" } }], { ...headers, authorization: `Bearer ${on.key}` });
  expect(control.text).toContain("invoice_id");
  expect(answer.text).not.toContain("invoice_id");
});

test("each resource follows its own tool: describe_table off hides tables only, list_tables off unlists them but they still read", async () => {
  const l = await world.addLink(SCOPE);
  const list = async () => uris(await mcpRequest(url(l), l.key, "2026-07-28", "resources/list"));
  expect(await list()).toContain("portcullis://tables/public/album");
  await setLinkDisabledTools(world.prisma, { teamId: l.teamId, linkId: l.linkId, disabledTools: ["describe_table"] });
  // The gateway hears of the change by NOTIFY.
  const schemaOnly = await waitFor(list, (u) => !u.some((x) => x.startsWith("portcullis://tables/")), 10_000, 100);
  expect(schemaOnly).toEqual(expect.arrayContaining(["portcullis://schema", "portcullis://schemas/public"]));
  const read = (uri: string) => mcpRequest(url(l), l.key, "2025-11-25", "resources/read", { uri });
  expect((await read("portcullis://tables/public/album")).json.error?.code).toBe(-32602);
  expect(insideBoundary((await read("portcullis://schema")).json.result.contents[0].text)).toContain("## album");
  expect(templates(await mcpRequest(url(l), l.key, "2025-11-25", "resources/templates/list"))).toEqual(["portcullis://schemas/{schema}"]);

  await setLinkDisabledTools(world.prisma, { teamId: l.teamId, linkId: l.linkId, disabledTools: ["list_tables", "get_schema"] });
  await waitFor(list, (u) => u.length === 0, 10_000, 100);
  expect(insideBoundary((await read("portcullis://tables/public/album")).json.result.contents[0].text)).toMatch(/^## album\n/);
  expect((await read("portcullis://schemas/public")).json.error?.code).toBe(-32602);
});

test("v2 client (2026-07-28): listResources is empty and readResource rejects with -32602 on the switched-off link", async () => {
  const client = new ClientV2({ name: "fx3-v2", version: "2.4.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await client.connect(new TransportV2(new URL(url(off)), { requestInit: { headers: { authorization: `Bearer ${off.key}` } } }));
  try {
    expect((await client.listResources()).resources).toEqual([]);
    expect((await client.listResourceTemplates()).resourceTemplates).toEqual([]);
    await expect(client.readResource({ uri: "portcullis://schema" })).rejects.toMatchObject({ code: -32602 });
    expect((await client.listTools()).tools.map((t) => t.name)).not.toContain("get_schema");
  } finally {
    await client.close();
  }
  const events = await waitFor(
    async () => (await auditEvents(world)).filter((e) => e.linkId === off.linkId && e.tool === "resources/read"),
    (es) => es.some((e) => e.clientName === "fx3-v2"),
  );
  // Every read on the switched-off link was audited, and none was allowed.
  expect(events.filter((e) => e.verdict === "allowed")).toEqual([]);
});

describe("several databases on one link", () => {
  test("resources/list covers every database from its own scope; a hidden table of crm never appears", async () => {
    for (const era of ["2026-07-28", "2025-11-25"] as const) {
      const listed = uris(await mcpRequest(url(multi), multi.key, era, "resources/list"));
      expect(listed).toEqual(
        expect.arrayContaining([
          "portcullis://schema",
          "portcullis://schema?database=music",
          "portcullis://schema?database=crm",
          "portcullis://tables/public/invoice?database=music",
          "portcullis://tables/public/accounts?database=crm",
        ]),
      );
      expect(listed.join(" ")).not.toMatch(/secrets|employee/);
      // The first database's tables are named once, with their database: no second, unlabelled copy.
      expect(listed).not.toContain("portcullis://tables/public/invoice");
      const tmpl = templates(await mcpRequest(url(multi), multi.key, era, "resources/templates/list"));
      expect(tmpl).toEqual(["portcullis://tables/{schema}/{table}{?database}", "portcullis://schemas/{schema}{?database}"]);
    }
  });

  test("reads: each database's schema and tables; the whole schema covers both; hidden, unknown and misplaced names are missing alike", async () => {
    const read = (uri: string) => mcpRequest(url(multi), multi.key, "2026-07-28", "resources/read", { uri });
    const crmSchema = insideBoundary((await read("portcullis://schema?database=crm")).json.result.contents[0].text);
    expect(crmSchema).toContain("## accounts");
    expect(crmSchema).not.toMatch(/secrets|api_token|tok-live/);
    const whole = insideBoundary((await read("portcullis://schema")).json.result.contents[0].text);
    expect(whole).toContain('=== database "crm"');
    expect(whole).toContain("## accounts");
    expect(whole).toContain("## invoice");
    expect(whole).not.toMatch(/secrets|api_token|## employee/);
    expect(insideBoundary((await read("portcullis://tables/public/accounts?database=crm")).json.result.contents[0].text)).toMatch(/^## accounts\n/);
    const missing = [
      "portcullis://tables/public/secrets?database=crm",
      "portcullis://tables/public/accounts?database=nope",
      "portcullis://tables/public/accounts?database=music",
      "portcullis://tables/public/accounts",
      "portcullis://tables/public/employee?database=music",
    ];
    const answers = await Promise.all(missing.map(read));
    expect(new Set(answers.map((a, i) => shape(a, missing[i]!))).size).toBe(1);
    expect(answers[0]!.json.error.code).toBe(-32602);
    // On a single-database link the suffix names nothing.
    const single = await mcpRequest(url(on), on.key, "2026-07-28", "resources/read", { uri: "portcullis://tables/public/invoice?database=music" });
    expect(single.json.error.code).toBe(-32602);
    const events = await waitFor(
      async () => (await auditEvents(world)).filter((e) => e.linkId === multi.linkId && e.tool === "resources/read" && e.verdict === "allowed"),
      (es) => es.some((e) => e.tables.includes("public.accounts")),
    );
    expect(events.find((e) => e.tables.includes("public.accounts"))).toMatchObject({ databaseName: "crm" });
  });
});

describe("explain_query's analyze runs the statement: refused where execute_sql is switched off", () => {
  // The policy refuses EXPLAIN ANALYZE of a write whatever the link (rule explain_analyze); a read is what analyze runs.
  const READ = "SELECT count(*) FROM invoice";

  test("with execute_sql on, EXPLAIN ANALYZE runs the statement (actual times); of a write it is the policy's refusal", async () => {
    const l = await world.addLink(SCOPE);
    const ran = await mcpRequest(url(l), l.key, "2026-07-28", "tools/call", { name: "explain_query", arguments: { sql: READ, analyze: true } });
    expect(ran.json.result.structuredContent, JSON.stringify(ran.json)).toMatchObject({ analyzed: true });
    expect(ran.json.result.structuredContent.plan).toMatch(/actual time=.*\n[\s\S]*Execution Time/);
    const write = await mcpRequest(url(l), l.key, "2026-07-28", "tools/call", { name: "explain_query", arguments: { sql: "INSERT INTO fx3_log (note) VALUES ('x')", analyze: true } });
    expect(write.json.result.structuredContent.refusal.ruleId).toBe("explain_analyze");
  });

  test.each(["2026-07-28", "2025-11-25"] as const)("%s: analyze refused in words before the policy, nothing ran, audited as blocked; plain EXPLAIN still answers", async (era) => {
    const l = await world.addLink(SCOPE);
    await setLinkDisabledTools(world.prisma, { teamId: l.teamId, linkId: l.linkId, disabledTools: ["execute_sql"] });
    const call = (args: Record<string, unknown>) => mcpRequest(url(l), l.key, era, "tools/call", { name: "explain_query", arguments: args });
    // The gateway hears of the change by NOTIFY; tools/list runs nothing.
    await waitFor(() => mcpRequest(url(l), l.key, era, "tools/list"), (a) => !JSON.stringify(a.json).includes('"execute_sql"'), 10_000, 100);
    const listed = await mcpRequest(url(l), l.key, era, "tools/list");
    const explain = (listed.json.result.tools as { name: string; description: string }[]).find((t) => t.name === "explain_query")!;
    expect(explain.description).toContain("analyze (which runs the statement) is refused");
    const refused = await Promise.all([call({ sql: READ, analyze: true }), call({ sql: "INSERT INTO fx3_log (note) VALUES ('x')", analyze: true })]);
    for (const answer of refused) {
      expect(answer.json.result.isError).toBe(true);
      expect(answer.json.result.structuredContent.refusal.ruleId).toBe("analyze_needs_execute_sql");
      expect(answer.json.result.content[0].text).toContain("EXPLAIN ANALYZE runs the statement, and this link does not offer execute_sql");
      expect(JSON.stringify(answer.json)).not.toMatch(/actual time|Execution Time|Aggregate/);
    }
    const plain = await call({ sql: READ });
    expect(plain.json.result.structuredContent).toMatchObject({ analyzed: false });
    expect(plain.json.result.structuredContent.plan).toContain("Aggregate");
    expect(plain.json.result.structuredContent.plan).not.toContain("actual time");
    const events = await waitFor(
      async () => (await auditEvents(world)).filter((e) => e.linkId === l.linkId && e.tool === "explain_query"),
      (es) => es.length >= 3,
    );
    const blocked = events.filter((e) => e.verdict === "blocked");
    expect(blocked).toHaveLength(2);
    expect(blocked.every((e) => e.ruleId === "analyze_needs_execute_sql" && e.rows == null && e.sql?.startsWith("EXPLAIN (ANALYZE"))).toBe(true);
    expect(events.filter((e) => e.verdict === "allowed")).toHaveLength(1);
  });
});

test("explain_query on a named database of a multi-database link with execute_sql off: analyze refused there too", async () => {
  await setLinkDisabledTools(world.prisma, { teamId: multi.teamId, linkId: multi.linkId, disabledTools: ["execute_sql"] });
  const call = (args: Record<string, unknown>) => mcpRequest(url(multi), multi.key, "2026-07-28", "tools/call", { name: "explain_query", arguments: args });
  await waitFor(() => mcpRequest(url(multi), multi.key, "2026-07-28", "tools/list"), (a) => !JSON.stringify(a.json).includes('"execute_sql"'), 10_000, 100);
  const refused = await call({ database: "crm", sql: "SELECT count(*) FROM accounts", analyze: true });
  expect(refused.json.result.structuredContent.refusal.ruleId).toBe("analyze_needs_execute_sql");
  const plain = await call({ database: "crm", sql: "SELECT count(*) FROM accounts" });
  expect(plain.json.result.structuredContent.plan).toContain("accounts");
});

describe("the Playground (the dashboard's Try it) reaches no switched-off tool", () => {
  type Answer = { status: number; text: string };
  const ask = async (l: LinkFixture, body: Record<string, unknown>): Promise<Answer> => {
    const r = await fetch(`${internal}/internal/links/${l.linkId}/playground`, {
      method: "POST",
      headers: { authorization: "Bearer internal-test-token", "content-type": "application/json" },
      body: JSON.stringify({ userId: world.userId, ...body }),
    });
    return { status: r.status, text: await r.text() };
  };

  test("schema tools off: named, they are 404 'switched off'; on, the same names are 422 (no rows to show) — nothing of the schema either way", async () => {
    for (const [tool, args] of [["get_schema", {}], ["describe_table", { table: "invoice" }], ["list_tables", {}], ["search_objects", { query: "invoice" }]] as const) {
      const answer = await ask(off, { tool, arguments: args });
      expect(answer.status, answer.text).toBe(404);
      expect(answer.text).toContain(`${tool} is switched off on this link`);
      const control = await ask(on, { tool, arguments: args });
      expect(control.status, control.text).toBe(422);
      expect(answer.text + control.text).not.toMatch(/invoice_id|billing_city/);
    }
  });

  test("execute_sql off: explain_query with analyze runs nothing through the Playground either", async () => {
    const l = await world.addLink(SCOPE);
    await setLinkDisabledTools(world.prisma, { teamId: l.teamId, linkId: l.linkId, disabledTools: ["execute_sql"] });
    const off404 = await waitFor(() => ask(l, { sql: "SELECT 1 AS one" }), (a) => a.status !== 200, 10_000, 100);
    expect(off404.status).toBe(404);
    const explained = await ask(l, { tool: "explain_query", arguments: { sql: "SELECT count(*) FROM invoice", analyze: true } });
    expect(explained.status).toBe(422);
    expect(explained.text).not.toMatch(/actual time|Execution Time|Aggregate/);
    const events = (await auditEvents(world)).filter((e) => e.linkId === l.linkId && e.tool === "explain_query" && e.verdict === "allowed");
    expect(events).toEqual([]);
  });
});
