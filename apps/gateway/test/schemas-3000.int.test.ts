import { createEmptyDatabase, withClient, type TestDatabase } from "@portcullis/db/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { GatewayWorld, type LinkFixture } from "./fixtures.js";
import { callTool, mcpRequest, type Era } from "./mcp-wire.js";

/**
 * Schemas of real size, measured on the wire: a generated 3,000-table database (30 schemas × 100
 * tables, a foreign key from each to the previous one, COMMENT ON every table) and Chinook, each behind a
 * real gateway. "Find table entity_2101 and its columns" three ways — the tools an agent had before
 * (get_schema → list_tables → describe_table), search_objects (names → columns of one), resources
 * (list pages until found → read) — in bytes of HTTP response bodies, printed for the note.
 */
const SCHEMAS = 30;
const PER_SCHEMA = 100;

function schemaName(i: number): string {
  return `s${String(Math.floor(i / PER_SCHEMA)).padStart(2, "0")}`;
}

/** One multi-statement script: 30 CREATE SCHEMA, 3,000 CREATE TABLE with PK/FK, 3,000 COMMENT ON. */
function generationSql(): string {
  const parts: string[] = [];
  for (let s = 0; s < SCHEMAS; s++) parts.push(`CREATE SCHEMA ${schemaName(s * PER_SCHEMA)};`);
  for (let i = 0; i < SCHEMAS * PER_SCHEMA; i++) {
    const table = `${schemaName(i)}.entity_${i}`;
    const parent = i > 0 ? ` REFERENCES ${schemaName(i - 1)}.entity_${i - 1}(id)` : "";
    parts.push(
      `CREATE TABLE ${table} (id integer PRIMARY KEY, name text NOT NULL, code varchar(20), parent_id integer${parent}, amount numeric(12,2), created_at timestamptz NOT NULL DEFAULT now(), note text);`,
      `COMMENT ON TABLE ${table} IS 'Entity ${i} of the generated model: one row per ${["order", "shipment", "invoice", "customer", "product"][i % 5]} variant, linked to its parent entity, with a code, an amount and free-text notes kept for audits.';`,
    );
  }
  return parts.join("\n");
}

interface Measure {
  label: string;
  bytes: number;
}

const rows: { database: string; era: Era; path: string; steps: Measure[] }[] = [];
const total = (steps: Measure[]) => steps.reduce((n, s) => n + s.bytes, 0);

async function todayPath(url: string, key: string, era: Era, table: string): Promise<Measure[]> {
  const schema = await callTool(url, key, era, "get_schema");
  const list = await callTool(url, key, era, "list_tables");
  const describe = await callTool(url, key, era, "describe_table", { table });
  expect(describe.text).toContain(table.split(".").pop());
  return [
    { label: `get_schema (${schema.data.mode})`, bytes: schema.bytes },
    { label: "list_tables", bytes: list.bytes },
    { label: "describe_table", bytes: describe.bytes },
  ];
}

async function searchPath(url: string, key: string, era: Era, name: string): Promise<Measure[]> {
  const names = await callTool(url, key, era, "search_objects", { query: name });
  const hit = names.data.results[0] as { name: string; kind: string };
  expect(hit.name.endsWith(name)).toBe(true);
  const columns = await callTool(url, key, era, "search_objects", { query: hit.name, detail: "columns", limit: 1 });
  expect(columns.data.results[0].columns.length).toBeGreaterThan(1);
  return [
    { label: "search_objects names", bytes: names.bytes },
    { label: "search_objects columns (1)", bytes: columns.bytes },
  ];
}

async function resourcesPath(url: string, key: string, era: Era, uri: string): Promise<Measure[]> {
  let listBytes = 0;
  let pages = 0;
  let cursor: string | undefined;
  let found = false;
  do {
    const page = await mcpRequest(url, key, era, "resources/list", cursor ? { cursor } : {});
    expect(page.status, JSON.stringify(page.json).slice(0, 300)).toBe(200);
    listBytes += page.bytes;
    pages++;
    found = (page.json.result.resources as { uri: string }[]).some((r) => r.uri === uri);
    cursor = page.json.result.nextCursor;
  } while (!found && cursor);
  expect(found).toBe(true);
  const read = await mcpRequest(url, key, era, "resources/read", { uri });
  expect(read.json.result.contents[0].text).toContain("## ");
  return [
    { label: `resources/list (${pages} page${pages === 1 ? "" : "s"})`, bytes: listBytes },
    { label: "resources/read", bytes: read.bytes },
  ];
}

let world: GatewayWorld;
let big: TestDatabase;
let url: string;
let bigLink: LinkFixture;
let hidingLink: LinkFixture;
let chinookLink: LinkFixture;

beforeAll(async () => {
  [world, big] = await Promise.all([GatewayWorld.create(), createEmptyDatabase("schemas3000")]);
  const started = Date.now();
  await withClient(big.url, (c) => c.query(generationSql()));
  const generatedMs = Date.now() - started;
  const bigTeam = await world.addTeam("big", big.url);
  const gateway = await world.startGateway();
  url = gateway.url;
  bigLink = await world.addLink({ access: "read" }, bigTeam);
  hidingLink = await world.addLink({ access: "read", tables: { "s21.entity_2102": { access: "none" }, "s21.entity_2101": { hiddenColumns: ["note"] } } }, bigTeam);
  chinookLink = await world.addLink({ access: "read" });
  console.log(`generated 3,000 tables (one multi-statement script) in ${generatedMs} ms`);
  expect(generatedMs).toBeLessThan(30_000);
}, 120_000);

afterAll(async () => {
  await world?.close();
  await big?.drop();
  if (rows.length) {
    const lines = rows.map((r) => `| ${r.database} | ${r.era} | ${r.path} | ${r.steps.map((s) => `${s.label} ${s.bytes.toLocaleString("en")}`).join(" + ")} | **${total(r.steps).toLocaleString("en")}** |`);
    console.log(["| database | era | path | steps (bytes) | total bytes |", "| --- | --- | --- | --- | ---: |", ...lines].join("\n"));
  }
}, 60_000);

describe.each(["2026-07-28", "2025-11-25"] as const)("finding one table, %s", (era) => {
  test("3,000 tables: get_schema is a summary; search_objects finds entity_2101 and its columns in ≤ 4 KB", async () => {
    const url3000 = `${url}/mcp/${bigLink.linkId}`;
    const coldStart = performance.now();
    const before = await todayPath(url3000, bigLink.key, era, "s21.entity_2101");
    if (era === "2026-07-28") console.log(`first get_schema → list_tables → describe_table on 3,000 tables (catalog load, index build included): ${Math.round(performance.now() - coldStart)} ms`);
    const oneSchema = await callTool(url3000, bigLink.key, era, "get_schema", { schema: "s21" });
    rows.push({ database: "3,000 tables", era, path: "get_schema({ schema }) of one schema", steps: [{ label: `get_schema s21 (${oneSchema.data.mode})`, bytes: oneSchema.bytes }] });
    const search = await searchPath(url3000, bigLink.key, era, "entity_2101");
    const resources = await resourcesPath(url3000, bigLink.key, era, "portcullis://tables/s21/entity_2101");
    rows.push({ database: "3,000 tables", era, path: "get_schema → list_tables → describe_table", steps: before });
    rows.push({ database: "3,000 tables", era, path: "search_objects names → columns", steps: search });
    rows.push({ database: "3,000 tables", era, path: "resources/list → resources/read", steps: resources });
    expect(before[0]!.label).toBe("get_schema (summary)");
    expect(before[0]!.bytes).toBeLessThan(16 * 1024);
    expect(total(search)).toBeLessThanOrEqual(4096);
  }, 120_000);

  test("Chinook: get_schema is the full text, and the right first call", async () => {
    const chinook = `${url}/mcp/${chinookLink.linkId}`;
    const schema = await callTool(chinook, chinookLink.key, era, "get_schema");
    expect(schema.data.mode).toBe("full");
    expect(schema.text).toContain("## invoice_line");
    rows.push({ database: "Chinook", era, path: "get_schema (full: enough alone)", steps: [{ label: "get_schema (full)", bytes: schema.bytes }] });
    rows.push({ database: "Chinook", era, path: "get_schema → list_tables → describe_table", steps: await todayPath(chinook, chinookLink.key, era, "invoice_line") });
    rows.push({ database: "Chinook", era, path: "search_objects names → columns", steps: await searchPath(chinook, chinookLink.key, era, "invoice_line") });
    rows.push({ database: "Chinook", era, path: "resources/list → resources/read", steps: await resourcesPath(chinook, chinookLink.key, era, "portcullis://tables/public/invoice_line") });
  }, 60_000);
});

describe("attack over the wire: a hidden table and a hidden column on the 3,000-table link", () => {
  const era = "2026-07-28";
  test("never found, never counted, never listed, not readable — answered exactly like an absent table", async () => {
    const link = `${url}/mcp/${hidingLink.linkId}`;
    const hidden = await callTool(link, hidingLink.key, era, "search_objects", { query: "entity_2102" });
    expect(hidden.data).toMatchObject({ results: [], total: 0 });
    const prefix = await callTool(link, hidingLink.key, era, "search_objects", { query: "entity_210", limit: 50 });
    expect(prefix.data.total).toBe(10); // entity_210 and entity_2100..2109 without 2102
    expect(JSON.stringify(prefix.data)).not.toContain("entity_2102");
    const column = await callTool(link, hidingLink.key, era, "search_objects", { query: "s21.entity_2101.note", kinds: ["column"] });
    expect(column.data.total).toBe(0);
    const open = await callTool(`${url}/mcp/${bigLink.linkId}`, bigLink.key, era, "search_objects", { query: "s21.entity_2101.note", kinds: ["column"] });
    expect(open.data.total).toBe(1);
    const summary = await callTool(link, hidingLink.key, era, "get_schema");
    expect(summary.data.schemas.find((s: { name: string }) => s.name === "s21")).toEqual({ name: "s21", tables: 99, views: 0 });
    const reads = await Promise.all(
      ["portcullis://tables/s21/entity_2102", "portcullis://tables/s21/entity_9999", "portcullis://tables/s21/%ZZ"].map((uri) => mcpRequest(link, hidingLink.key, era, "resources/read", { uri })),
    );
    const shapes = reads.map((r, i) => JSON.stringify({ status: r.status, error: r.json.error }).replaceAll(["entity_2102", "entity_9999", "%ZZ"][i]!, "X"));
    expect(new Set(shapes).size).toBe(1);
    expect(reads[0]!.json.error.code).toBe(-32602);
    expect(reads[0]!.json.error.message).toContain("Resource not found: portcullis://tables/s21/entity_2102");
  }, 60_000);
});
