import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { TypedTool } from "../calls/call-outcome.js";
import { inputJsonSchema, outputJsonSchema } from "../calls/outcome-schema.js";
import { DATABASE_ARGUMENT, withDatabaseInput } from "../access/link-database.js";
import type { LinkRecord } from "../context.js";
import { TOOLS, enabledBuiltIns, savedToolsOf } from "./tools/index.js";

/** A tool as tools/list gives it. */
export interface ListedTool {
  name: string;
  title: string;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown>;
  annotations: { title: string; readOnlyHint: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint: boolean };
}

interface Schemas {
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown>;
}

// JSON Schemas are the same for every link: computed once per tool definition, on first use.
const schemas = new WeakMap<TypedTool, Schemas>();

export function schemasOf(tool: TypedTool): Schemas {
  let s = schemas.get(tool);
  if (!s) schemas.set(tool, (s = { inputSchema: inputJsonSchema(tool.input), outputSchema: outputJsonSchema(tool.output, { pending: tool.pending === true }) }));
  return s;
}

// Scope objects are long-lived (one per cached link): hashed once each.
const scopeHashes = new WeakMap<LinkRecord["scope"], string>();

function scopeHash(scope: LinkRecord["scope"]): string {
  let hash = scopeHashes.get(scope);
  if (!hash) scopeHashes.set(scope, (hash = createHash("sha256").update(JSON.stringify(scope)).digest("base64url")));
  return hash;
}

// Saved tools and disabled built-ins are per link record load (frozen arrays, replaced on every edit):
// keyed by content once per array, so an edited tool, a renamed database or a hidden built-in lists anew.
const contentKeys = new WeakMap<object, string>();

function contentKey(value: object | undefined): string {
  if (!value) return "";
  let key = contentKeys.get(value);
  if (key === undefined) contentKeys.set(value, (key = createHash("sha256").update(JSON.stringify(value)).digest("base64url")));
  return key;
}

// The database names a multi-database link lists, once per (frozen) list of its records.
const databaseKeys = new WeakMap<readonly LinkRecord[], string>();

function databasesKey(link: LinkRecord): string {
  const all = link.databases;
  if (!all || all.length < 2) return "";
  let key = databaseKeys.get(all);
  if (key === undefined) databaseKeys.set(all, (key = JSON.stringify(all.map((d) => d.databaseName ?? ""))));
  return key;
}

function listingKey(link: LinkRecord): string {
  const names = databasesKey(link);
  return `${link.id}\0${scopeHash(link.scope)}\0${link.name}\0${contentKey(link.disabledTools)}\0${contentKey(link.savedTools)}\0${names}`;
}

const lists = new LRUCache<string, ListedTool[]>({ max: 5_000 });

/** The input without a `database` property (run-call reads it; the listing shows it only where it has a choice). */
function withoutDatabase(inputSchema: Record<string, unknown>): Record<string, unknown> {
  const properties = inputSchema.properties as Record<string, unknown> | undefined;
  if (!properties || !Object.hasOwn(properties, DATABASE_ARGUMENT)) return inputSchema;
  const { [DATABASE_ARGUMENT]: _database, ...rest } = properties;
  const required = Array.isArray(inputSchema.required) ? inputSchema.required.filter((n) => n !== DATABASE_ARGUMENT) : undefined;
  return { ...inputSchema, properties: rest, ...(required ? { required } : {}) };
}

function listed(link: LinkRecord, tool: TypedTool, builtIn: boolean): ListedTool {
  const title = tool.title(link);
  const { inputSchema, outputSchema } = schemasOf(tool);
  return {
    name: tool.name,
    title,
    description: tool.description(link),
    // A built-in takes `database` on a link with several (an enum of their names; absent on one); a
    // saved tool's database is part of it.
    inputSchema: builtIn ? withDatabaseInput(withoutDatabase(inputSchema), link, tool.name) : inputSchema,
    outputSchema,
    annotations: { title, ...tool.annotations(link) },
  };
}

/**
 * The tools a link lists, in the contract order (clients and the 2026-07-28 spec want a deterministic
 * order): the built-ins it does not hide, then its saved tools in name order, with titles, descriptions
 * and annotations derived from what this link's scope allows. Annotations are hints for the client's
 * UI; the policy still decides every statement.
 */
export function toolsFor(link: LinkRecord, tools?: readonly TypedTool[]): ListedTool[] {
  if (tools) return tools.map((tool) => listed(link, tool, TOOLS.includes(tool)));
  const key = listingKey(link);
  const cached = lists.get(key);
  if (cached) return cached;
  const all = [...enabledBuiltIns(link).map((tool) => listed(link, tool, true)), ...savedToolsOf(link).map((tool) => listed(link, tool, false))];
  lists.set(key, all);
  return all;
}
