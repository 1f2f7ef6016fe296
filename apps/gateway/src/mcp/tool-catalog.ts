import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { TypedTool } from "../calls/call-outcome.js";
import { inputJsonSchema, outputJsonSchema } from "../calls/outcome-schema.js";
import type { LinkRecord } from "../context.js";
import { TOOLS } from "./tools/index.js";

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

const lists = new LRUCache<string, ListedTool[]>({ max: 5_000 });

/**
 * The tools a link lists, in the contract order (clients and the 2026-07-28 spec want a deterministic
 * order), with titles, descriptions and annotations derived from what this link's scope allows.
 * Annotations are hints for the client's UI; the policy still decides every statement.
 */
export function toolsFor(link: LinkRecord, tools: readonly TypedTool[] = TOOLS): ListedTool[] {
  const key = `${link.id}\0${scopeHash(link.scope)}\0${link.name}`;
  const cached = tools === TOOLS ? lists.get(key) : undefined;
  if (cached) return cached;
  const listed = tools.map((tool) => {
    const title = tool.title(link);
    return {
      name: tool.name,
      title,
      description: tool.description(link),
      ...schemasOf(tool),
      annotations: { title, ...tool.annotations(link) },
    };
  });
  if (tools === TOOLS) lists.set(key, listed);
  return listed;
}
