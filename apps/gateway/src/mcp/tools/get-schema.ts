import { z } from "zod";
import type { CallOutcome, TypedTool } from "../../calls/call-outcome.js";
import { callIndexes, memo, oneLine, type CatalogIndex, type LabelledIndex } from "../catalog-index.js";
import { displayText, formatRelation, ident, SCHEMA_LEGEND } from "./schema-format.js";

const input = z.object({
  schema: z.string().max(63).optional().describe("Only this schema (default: every schema the link can see)"),
});

const KINDS = ["table", "partitioned_table", "view", "materialized_view", "foreign_table", "sequence"] as const;
const ACCESS = z.enum(["read", "write", "admin"]);

const section = z.object({
  mode: z.enum(["full", "summary"]).describe("full: every visible table is in `text`; summary: the schema is over the budget, see guidance"),
  database: z.string(),
  searchPath: z.array(z.string()),
  /** full: the relations by name with their column names (types, keys and descriptions are in the text). */
  relations: z.array(z.object({ name: z.string(), kind: z.enum(KINDS), access: ACCESS, columns: z.array(z.string()) })).optional(),
  /** summary: per schema, how many tables and views (views include materialized views). */
  schemas: z.array(z.object({ name: z.string(), tables: z.number().int(), views: z.number().int() })).optional(),
  /** summary: the schemas not listed in `schemas` (only past 200 schemas). */
  moreSchemas: z.number().int().optional(),
  /** summary: the most connected tables (foreign keys in and out), the usual starting points. */
  hubs: z.array(z.object({ name: z.string(), kind: z.enum(KINDS), access: ACCESS, foreignKeys: z.number().int(), description: z.string().optional() })).optional(),
  guidance: z.string().optional(),
});

const output = section.extend({
  /** Multi-database links: the link database (the `database` argument) each relation is in. */
  relations: z.array(z.object({ name: z.string(), kind: z.enum(KINDS), access: ACCESS, columns: z.array(z.string()), database: z.string().optional() })).optional(),
  /** Multi-database links without `database`: one section per database, in the link's order. */
  databases: z.array(section.extend({ name: z.string().describe("The `database` argument naming it") })).optional(),
});

type Data = z.infer<typeof section>;

export const DEFAULT_SCHEMA_BUDGET_BYTES = 32 * 1024;
const HUBS = 25;
const LISTED_SCHEMAS = 200;
const HUB_DESCRIPTION_CHARS = 120;

interface Rendered {
  data: Data;
  text: string;
  rows: number;
}

function databaseLine(index: CatalogIndex): string {
  return `Database ${ident(index.database)}; unqualified names resolve in: ${index.visible.searchPath.map(ident).join(", ")}.`;
}

function fullText(index: CatalogIndex, schema: string | undefined): { text: string; rows: number; relations: NonNullable<Data["relations"]> } {
  const { visible, descriptions, defaultSchema } = index;
  const relations = visible.relations.filter((r) => schema === undefined || r.schema === schema);
  const header = `${databaseLine(index)} ${SCHEMA_LEGEND}`;
  const text = relations.length
    ? [header, ...relations.map((r) => formatRelation(r, descriptions, defaultSchema))].join("\n\n")
    : `${header}\n\nNo tables are visible${schema !== undefined ? ` in schema ${ident(schema)}` : ""}.`;
  return {
    text,
    rows: relations.length,
    relations: relations.map((r) => ({ name: r.schema === defaultSchema ? r.name : r.key, kind: r.kind, access: r.access, columns: r.columns.map((c) => c.name) })),
  };
}

function summary(index: CatalogIndex, schema: string | undefined, fullBytes: number, budget: number): Rendered {
  const { visible, defaultSchema } = index;
  const relations = visible.relations.filter((r) => schema === undefined || r.schema === schema);
  const counts = new Map<string, { tables: number; views: number }>();
  for (const s of visible.schemas) if (schema === undefined || s === schema) counts.set(s, { tables: 0, views: 0 });
  const degree = new Map<string, number>();
  for (const r of relations) {
    const c = counts.get(r.schema) ?? { tables: 0, views: 0 };
    if (r.kind === "view" || r.kind === "materialized_view") c.views++;
    else if (r.kind !== "sequence") c.tables++;
    counts.set(r.schema, c);
    // Foreign keys here are only those between visible tables (visibleObjects drops the rest).
    degree.set(r.key, (degree.get(r.key) ?? 0) + r.foreignKeys.length);
    for (const fk of r.foreignKeys) if (fk.references !== r.key) degree.set(fk.references, (degree.get(fk.references) ?? 0) + 1);
  }
  const schemas = [...counts].map(([name, c]) => ({ name, ...c }));
  const hubRelations = relations
    .filter((r) => r.kind !== "sequence" && (degree.get(r.key) ?? 0) > 0)
    .sort((a, b) => (degree.get(b.key) ?? 0) - (degree.get(a.key) ?? 0) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, HUBS);
  const hubs = hubRelations.map((r) => {
    const described = index.objects.find((o) => o.key === r.key)?.description;
    const line = described ? oneLine(described) : undefined;
    return {
      name: r.schema === defaultSchema ? r.name : r.key,
      kind: r.kind,
      access: r.access,
      foreignKeys: degree.get(r.key) ?? 0,
      ...(line ? { description: line.length > HUB_DESCRIPTION_CHARS ? `${line.slice(0, HUB_DESCRIPTION_CHARS - 1)}…` : line } : {}),
    };
  });
  const tables = schemas.reduce((n, s) => n + s.tables, 0);
  const views = schemas.reduce((n, s) => n + s.views, 0);
  const guidance =
    `The full schema (${tables} tables, ${views} views, about ${Math.round(fullBytes / 1024)} KiB) is over this link's ${Math.round(budget / 1024)} KiB budget, so this is a summary. ` +
    `Find tables with search_objects({ query }) (by name, column or description; detail 'columns' for their columns), then describe_table for the one you need` +
    (schema === undefined ? `, or get_schema({ schema }) for one schema if it fits.` : ".");
  const listed = schemas.slice(0, LISTED_SCHEMAS);
  const data: Data = {
    mode: "summary",
    database: index.database,
    searchPath: visible.searchPath,
    schemas: listed,
    ...(schemas.length > listed.length ? { moreSchemas: schemas.length - listed.length } : {}),
    hubs,
    guidance,
  };
  const lines = [
    databaseLine(index),
    guidance,
    `Schemas (tables/views): ${listed.map((s) => `${ident(s.name)} ${s.tables}/${s.views}`).join(", ")}${data.moreSchemas ? `, and ${data.moreSchemas} more` : ""}.`,
    hubs.length ? `Most connected tables (foreign keys in+out):` : "No foreign keys between visible tables.",
    ...hubs.map((h, i) => `${displayText(hubRelations[i]!, defaultSchema)} (${h.foreignKeys})${h.access === "read" ? "" : ` ${h.access}`}${h.description ? ` — ${h.description}` : ""}`),
  ];
  return { data, text: lines.join("\n"), rows: relations.length };
}

/**
 * get_schema's answer for one link, schema filter and budget: the full compact text when it fits, else
 * a summary that says so and how to find the rest. Memoised on the index (catalog version and scope),
 * so a 3,000-table catalog is rendered once, not per call.
 */
export function renderSchema(index: CatalogIndex, schema: string | undefined, budget: number): Rendered {
  return memo(index, `get_schema\u0000${schema ?? ""}\u0000${budget}`, () => {
    const full = fullText(index, schema);
    const bytes = Buffer.byteLength(full.text);
    if (bytes <= budget) {
      return { data: { mode: "full", database: index.database, searchPath: index.visible.searchPath, relations: full.relations }, text: full.text, rows: full.rows };
    }
    return summary(index, schema, bytes, budget);
  });
}

/**
 * A multi-database link (issue 17): each database rendered from its own index (its own scope), under a
 * line naming it; relations labelled with their database. The budget is shared: when the full texts do
 * not fit together, each database gets an equal part (and may answer with its summary).
 */
function renderDatabases(indexes: LabelledIndex[], schema: string | undefined, budget: number): { data: z.infer<typeof output>; text: string; rows: number } {
  let parts = indexes.map(({ index }) => renderSchema(index, schema, budget));
  if (indexes.length > 1 && parts.reduce((n, p) => n + Buffer.byteLength(p.text), 0) > budget) {
    const share = Math.max(1024, Math.floor(budget / indexes.length));
    parts = indexes.map(({ index }) => renderSchema(index, schema, share));
  }
  const names = indexes.map((i) => i.database ?? "");
  const sections = parts.map((p, i) => ({ name: names[i]!, ...p.data }));
  const first = parts[0]!.data;
  const data: z.infer<typeof output> = {
    mode: parts.every((p) => p.data.mode === "full") ? "full" : "summary",
    database: first.database,
    searchPath: first.searchPath,
    relations: parts.flatMap((p, i) => (p.data.relations ?? []).map((r) => ({ ...r, database: names[i]! }))),
    databases: sections,
  };
  const text = parts
    .map((p, i) => `=== database ${JSON.stringify(names[i])} (pass "database": ${JSON.stringify(names[i])} to describe_table, execute_sql and the others) ===\n${p.text}`)
    .join("\n\n");
  return { data, text, rows: parts.reduce((n, p) => n + p.rows, 0) };
}

export const getSchemaTool: TypedTool<typeof input> = {
  name: "get_schema",
  title: () => "Database schema",
  description: () =>
    "The schema this link can see, compactly: every table and view with its columns, types, keys, foreign keys and descriptions — call it first to write correct SQL. On a large database it answers with a summary (schemas, most connected tables) and says to use search_objects.",
  input,
  output,
  annotations: () => ({ readOnlyHint: true, idempotentHint: true, openWorldHint: false }),
  async run(args, ctx, services): Promise<CallOutcome> {
    const indexes = await callIndexes(services, ctx);
    const budget = Math.min(services.schemaBudgetBytes ?? DEFAULT_SCHEMA_BUDGET_BYTES, services.maxResultBytes);
    if (indexes.length === 1 && indexes[0]!.database === undefined) {
      const rendered = renderSchema(indexes[0]!.index, args.schema, budget);
      return { kind: "ok", data: rendered.data, text: rendered.text, audit: { verdict: "allowed", rows: rendered.rows, bytes: Buffer.byteLength(rendered.text) } };
    }
    const rendered = renderDatabases(indexes, args.schema, budget);
    return { kind: "ok", data: rendered.data, text: rendered.text, audit: { verdict: "allowed", rows: rendered.rows, bytes: Buffer.byteLength(rendered.text) } };
  },
};
