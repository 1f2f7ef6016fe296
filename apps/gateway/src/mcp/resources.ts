import { ProtocolError, ProtocolErrorCode, ResourceNotFoundError } from "@modelcontextprotocol/server";
import { z } from "zod";
import type { CallOutcome, TypedTool } from "../calls/call-outcome.js";
import { SCHEMA_TEXT_NOTE, untrustedText } from "../calls/render-mcp.js";
import type { CallContext } from "../context.js";
import { describeConnectionFailure, isConnectionFailure } from "../execution/execute-checked.js";
import type { Services } from "../services.js";
import { catalogIndexFor, oneLine, type CatalogIndex } from "./catalog-index.js";
import { cursorBinding, decodeCursor, encodeCursor } from "./page-cursor.js";
import { DEFAULT_SCHEMA_BUDGET_BYTES, renderSchema } from "./tools/get-schema.js";
import { formatRelation, ident, SCHEMA_LEGEND } from "./tools/schema-format.js";

/**
 * The link's visible objects as MCP resources: the whole schema, one per schema, one per table or view.
 * The same index as search_objects and get_schema (visibleObjects + redacted descriptions), so a hidden
 * table has no URI, no list entry and no readable contents.
 *
 *   portcullis://schema                      get_schema's answer (full text or summary)
 *   portcullis://schemas/{schema}            get_schema({ schema })
 *   portcullis://tables/{schema}/{table}     describe_table's text
 */
export const RESOURCE_PAGE_SIZE = 200;
const SCHEMA_URI = "portcullis://schema";
const MIME = "text/plain";
const DESCRIPTION_CHARS = 200;

export interface ListedResource {
  uri: string;
  name: string;
  title: string;
  description?: string;
  mimeType: string;
  annotations: { audience: ["assistant"]; lastModified: string };
}

/** resources/list with a cursor that is malformed, altered, or from another link or catalog version: JSON-RPC -32602. */
export class InvalidResourceCursorError extends ProtocolError {
  constructor() {
    super(ProtocolErrorCode.InvalidParams, "Invalid cursor: list resources again from the first page (the schema may have changed).");
  }
}

export function tableUri(schema: string, table: string): string {
  return `portcullis://tables/${encodeURIComponent(schema)}/${encodeURIComponent(table)}`;
}

export function schemaUri(schema: string): string {
  return `portcullis://schemas/${encodeURIComponent(schema)}`;
}

function short(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const line = oneLine(text);
  return line.length > DESCRIPTION_CHARS ? `${line.slice(0, DESCRIPTION_CHARS - 1)}…` : line;
}

/** Every resource of the link in a fixed order: the schema, each schema, each table by key (code-unit order). */
function allResources(index: CatalogIndex): ListedResource[] {
  const annotations = { audience: ["assistant"] as ["assistant"], lastModified: index.loadedAt };
  const out: ListedResource[] = [
    { uri: SCHEMA_URI, name: "schema", title: `Schema of ${index.database}`, description: "Every table this link can see, or a summary on large databases (as get_schema).", mimeType: MIME, annotations },
  ];
  for (const schema of [...index.visible.schemas].sort()) {
    // Names are the database's words: escaped like in the schema text (a host may show them to the model).
    const name = ident(schema);
    out.push({ uri: schemaUri(schema), name, title: `Schema ${name}`, description: `Tables and views of schema ${name} (as get_schema({ schema }))`, mimeType: MIME, annotations });
  }
  for (const object of index.objects) {
    if (!object.relation) continue;
    const description = short(object.description);
    const name = `${ident(object.schema)}.${ident(object.name)}`;
    out.push({
      uri: tableUri(object.schema, object.name),
      name,
      title: `${object.kind === "table" ? "Table" : object.kind === "view" ? "View" : "Materialized view"} ${name}${object.access === "read" ? "" : ` (${object.access})`}`,
      ...(description ? { description } : {}),
      mimeType: MIME,
      annotations,
    });
  }
  return out;
}

/**
 * The link's index for resources/list, which is not a call (nothing to audit) and so does not go through
 * runCall's error mapping: a thrown error would reach the client with its message (a host, a port, a
 * metadata error). The same words as a tool call's instead.
 */
async function indexForListing(services: Services, ctx: CallContext): Promise<CatalogIndex> {
  try {
    return await catalogIndexFor(services, ctx.link);
  } catch (error) {
    if (isConnectionFailure(error)) throw new ProtocolError(ProtocolErrorCode.InternalError, describeConnectionFailure(error));
    services.logger.error({ err: error, requestId: ctx.requestId }, "resources/list failed");
    throw new ProtocolError(ProtocolErrorCode.InternalError, "The gateway could not list resources (internal error). It has been logged; try again.");
  }
}

/** resources/list: 200 per page, deterministic; throws InvalidResourceCursorError for a bad cursor. */
export async function listResources(services: Services, ctx: CallContext, cursor?: string): Promise<{ resources: ListedResource[]; nextCursor?: string }> {
  const index = await indexForListing(services, ctx);
  const binding = cursorBinding("resources/list", index.binding);
  let offset = 0;
  if (cursor !== undefined) {
    const decoded = decodeCursor(cursor, binding);
    if (decoded === null) throw new InvalidResourceCursorError();
    offset = decoded;
  }
  const all = allResources(index);
  const resources = all.slice(offset, offset + RESOURCE_PAGE_SIZE);
  const next = offset + resources.length;
  return next < all.length ? { resources, nextCursor: encodeCursor(binding, next) } : { resources };
}

export function listResourceTemplates(): { resourceTemplates: { uriTemplate: string; name: string; title: string; description: string; mimeType: string }[] } {
  return {
    resourceTemplates: [
      {
        uriTemplate: "portcullis://tables/{schema}/{table}",
        name: "table",
        title: "A table or view",
        description: "Columns, types, keys, foreign keys and descriptions of one table or view (as describe_table). Segments are percent-encoded.",
        mimeType: MIME,
      },
      { uriTemplate: "portcullis://schemas/{schema}", name: "schema", title: "A schema", description: "Tables and views of one schema (as get_schema({ schema })).", mimeType: MIME },
    ],
  };
}

type Target = { kind: "schema" } | { kind: "schemas"; schema: string } | { kind: "table"; schema: string; table: string };

function decodeSegment(segment: string): string | null {
  try {
    const decoded = decodeURIComponent(segment);
    return decoded.length > 0 && decoded.length <= 63 ? decoded : null;
  } catch {
    return null;
  }
}

/** The object a URI names, or null when it is not one of ours (malformed is answered like hidden). */
export function parseResourceUri(uri: string): Target | null {
  if (uri === SCHEMA_URI) return { kind: "schema" };
  let match = /^portcullis:\/\/schemas\/([^/?#]+)$/.exec(uri);
  if (match) {
    const schema = decodeSegment(match[1]!);
    return schema === null ? null : { kind: "schemas", schema };
  }
  match = /^portcullis:\/\/tables\/([^/?#]+)\/([^/?#]+)$/.exec(uri);
  if (match) {
    const [schema, table] = [decodeSegment(match[1]!), decodeSegment(match[2]!)];
    return schema === null || table === null ? null : { kind: "table", schema, table };
  }
  return null;
}

const readInput = z.object({ uri: z.string().max(4096) });
const readOutput = z.object({ uri: z.string(), mimeType: z.string(), text: z.string() });

function notFound(uri: string): CallOutcome {
  // One answer for hidden, nonexistent and malformed: the text names only what the caller sent (cut, so
  // the audit event stays within its error field; the SDK's error data carries the whole URI).
  const message = `Resource not found: ${uri.length > 512 ? `${uri.slice(0, 512)}…` : uri}`;
  return { kind: "failed", failure: { code: "not_found", message, retryable: false }, audit: { verdict: "error", error: message } };
}

/**
 * resources/read as a typed definition, so the protocol layer runs it through the one call path
 * (runTypedCall) and a read is checked and audited like a tool call (audit tool name 'resources/read').
 * A URI that does not name a visible object is a failed outcome with code 'not_found'.
 */
export const readResourceDefinition: TypedTool<typeof readInput> = {
  name: "resources/read",
  title: () => "Read a resource",
  description: () => "Contents of a portcullis:// resource.",
  input: readInput,
  output: readOutput,
  annotations: () => ({ readOnlyHint: true, idempotentHint: true, openWorldHint: false }),
  async run(args, ctx, services) {
    const target = parseResourceUri(args.uri);
    if (!target) return notFound(args.uri);
    const index = await catalogIndexFor(services, ctx.link);
    const budget = Math.min(services.schemaBudgetBytes ?? DEFAULT_SCHEMA_BUDGET_BYTES, services.maxResultBytes);
    let text: string;
    let tables: string[] | undefined;
    let rows: number;
    if (target.kind === "table") {
      const relation = index.relationsByKey.get(`${target.schema}.${target.table}`);
      if (!relation || relation.kind === "sequence") return notFound(args.uri);
      text = `${formatRelation(relation, index.descriptions, index.defaultSchema)}\n\n${SCHEMA_LEGEND}`;
      tables = [relation.key];
      rows = relation.columns.length;
    } else {
      if (target.kind === "schemas" && !index.visible.schemas.includes(target.schema)) return notFound(args.uri);
      const rendered = renderSchema(index, target.kind === "schemas" ? target.schema : undefined, budget);
      text = rendered.text;
      rows = rendered.rows;
    }
    return {
      kind: "ok",
      data: { uri: args.uri, mimeType: MIME, text },
      text,
      audit: { verdict: "allowed", ...(tables ? { tables } : {}), rows, bytes: Buffer.byteLength(text) },
    };
  },
};

/**
 * The resources/read result for an outcome of readResourceDefinition. Throws what the SDK turns into
 * JSON-RPC errors: ResourceNotFoundError (-32602 with data.uri, every era) for not_found, InvalidParams
 * for bad arguments, InternalError (with the outcome's already-safe message) otherwise.
 */
export function readResourceContents(outcome: CallOutcome, uri: string): { contents: { uri: string; mimeType: string; text: string }[] } {
  if (outcome.kind === "ok") {
    // The contents are schema text: the database's own words, marked as data like a schema tool's text.
    const text = untrustedText(outcome.text ?? String(outcome.data.text ?? ""), "schema text", SCHEMA_TEXT_NOTE);
    return { contents: [{ uri, mimeType: MIME, text }] };
  }
  if (outcome.kind === "failed" && outcome.failure.code === "not_found") throw new ResourceNotFoundError(uri, outcome.failure.message);
  if (outcome.kind === "failed" && outcome.failure.code === "invalid_arguments") throw new ProtocolError(ProtocolErrorCode.InvalidParams, outcome.failure.message);
  const message = outcome.kind === "failed" ? outcome.failure.message : outcome.kind === "pending" ? outcome.data.message : outcome.refusal.reason;
  throw new ProtocolError(ProtocolErrorCode.InternalError, message);
}
