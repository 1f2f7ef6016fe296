import { ProtocolError, ProtocolErrorCode, ResourceNotFoundError } from "@modelcontextprotocol/server";
import { z } from "zod";
import type { CallOutcome, TypedTool } from "../calls/call-outcome.js";
import { SCHEMA_TEXT_NOTE, untrustedText } from "../calls/render-mcp.js";
import { isMultiDatabase, linkDatabases } from "../access/link-database.js";
import type { CallContext, LinkRecord } from "../context.js";
import { describeConnectionFailure, isConnectionFailure } from "../execution/execute-checked.js";
import type { Services } from "../services.js";
import { catalogIndexFor, oneLine, type CatalogIndex } from "./catalog-index.js";
import { cursorBinding, decodeCursor, encodeCursor } from "./page-cursor.js";
import { DEFAULT_SCHEMA_BUDGET_BYTES, getSchemaTool, renderSchema } from "./tools/get-schema.js";
import { toolByName } from "./tools/index.js";
import { formatRelation, ident, SCHEMA_LEGEND } from "./tools/schema-format.js";

/**
 * The link's visible objects as MCP resources: the whole schema, one per schema, one per table or view.
 * The same index as search_objects and get_schema (visibleObjects + redacted descriptions), so a hidden
 * table has no URI, no list entry and no readable contents.
 *
 *   portcullis://schema                      get_schema's answer (full text or summary)
 *   portcullis://schemas/{schema}            get_schema({ schema })
 *   portcullis://tables/{schema}/{table}     describe_table's text
 *
 * A resource answers what a built-in tool answers, so it exists only while that tool is switched on for
 * the link (links.disabled_tools): a switched-off capability is off on every path.
 *
 *   portcullis://schema, portcullis://schemas/…   get_schema
 *   reading portcullis://tables/…                 describe_table
 *   listing portcullis://tables/… (their names)   describe_table and list_tables (the list is list_tables' answer)
 *
 * With the tool off the resource is not listed, not templated, and reads as "Resource not found" like a
 * hidden table. On a link with several databases each database has its own resources, the URI naming it
 * with a `?database=NAME` suffix (each listed from that database's own scope); portcullis://schema reads
 * every database (as get_schema without `database`), and a URI without the suffix reads the first
 * database (as the other tools' default). A single-database link's URIs are unchanged.
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

/** Which resources the link offers: each follows the built-in tool that answers the same thing. */
interface Offered {
  schema: boolean;
  readTable: boolean;
  listTables: boolean;
}

function offered(link: LinkRecord): Offered {
  const on = (name: string) => toolByName(link, name) !== undefined;
  const readTable = on("describe_table");
  return { schema: on("get_schema"), readTable, listTables: readTable && on("list_tables") };
}

function withDatabase(uri: string, database: string | undefined): string {
  return database === undefined ? uri : `${uri}?database=${encodeURIComponent(database)}`;
}

/** One database's resources in a fixed order: its schema, each schema, each table by key (code-unit order). */
function indexResources(index: CatalogIndex, offer: Offered, database: string | undefined): ListedResource[] {
  const annotations = { audience: ["assistant"] as ["assistant"], lastModified: index.loadedAt };
  const out: ListedResource[] = [];
  // The database's name is shown as the schema text shows it (a host may show it to the model).
  const label = database === undefined ? "" : ` (database ${ident(database)})`;
  if (offer.schema) {
    const description = database === undefined ? "Every table this link can see, or a summary on large databases (as get_schema)." : `Every table this link can see in database ${ident(database)}, or a summary on large databases (as get_schema({ database })).`;
    out.push({ uri: withDatabase(SCHEMA_URI, database), name: database === undefined ? "schema" : `schema ${ident(database)}`, title: `Schema of ${index.database}${label}`, description, mimeType: MIME, annotations });
    for (const schema of [...index.visible.schemas].sort()) {
      // Names are the database's words: escaped like in the schema text.
      const name = ident(schema);
      out.push({ uri: withDatabase(schemaUri(schema), database), name, title: `Schema ${name}${label}`, description: `Tables and views of schema ${name}${label} (as get_schema({ schema }))`, mimeType: MIME, annotations });
    }
  }
  if (!offer.listTables) return out;
  for (const object of index.objects) {
    if (!object.relation) continue;
    const description = short(object.description);
    const name = `${ident(object.schema)}.${ident(object.name)}`;
    out.push({
      uri: withDatabase(tableUri(object.schema, object.name), database),
      name,
      title: `${object.kind === "table" ? "Table" : object.kind === "view" ? "View" : "Materialized view"} ${name}${label}${object.access === "read" ? "" : ` (${object.access})`}`,
      ...(description ? { description } : {}),
      mimeType: MIME,
      annotations,
    });
  }
  return out;
}

interface Listing {
  binding: string;
  all: ListedResource[];
}

/** Every resource of the link: one database as before; several: the whole schema, then each database's own. */
async function allResources(services: Services, ctx: CallContext): Promise<Listing> {
  const offer = offered(ctx.link);
  const flags = `${+offer.schema}${+offer.readTable}${+offer.listTables}`;
  if (!offer.schema && !offer.listTables) return { binding: cursorBinding("resources/list", flags), all: [] };
  if (!isMultiDatabase(ctx.link)) {
    const index = await catalogIndexFor(services, ctx.link);
    return { binding: cursorBinding("resources/list", index.binding, flags), all: indexResources(index, offer, undefined) };
  }
  const records = linkDatabases(ctx.link);
  const indexes = await Promise.all(records.map((record) => catalogIndexFor(services, record)));
  const all: ListedResource[] = [];
  if (offer.schema) {
    const annotations = { audience: ["assistant"] as ["assistant"], lastModified: indexes.map((i) => i.loadedAt).sort().at(-1)! };
    all.push({ uri: SCHEMA_URI, name: "schema", title: "Schema of every database of this link", description: "Every table this link can see in each of its databases, or summaries (as get_schema).", mimeType: MIME, annotations });
  }
  indexes.forEach((index, i) => all.push(...indexResources(index, offer, records[i]!.databaseName ?? "")));
  const names = records.map((r) => r.databaseName ?? "");
  return { binding: cursorBinding("resources/list", indexes.map((i) => i.binding), names, flags), all };
}

/**
 * The link's index for resources/list, which is not a call (nothing to audit) and so does not go through
 * runCall's error mapping: a thrown error would reach the client with its message (a host, a port, a
 * metadata error). The same words as a tool call's instead.
 */
async function listingFor(services: Services, ctx: CallContext): Promise<Listing> {
  try {
    return await allResources(services, ctx);
  } catch (error) {
    if (isConnectionFailure(error)) throw new ProtocolError(ProtocolErrorCode.InternalError, describeConnectionFailure(error));
    services.logger.error({ err: error, requestId: ctx.requestId }, "resources/list failed");
    throw new ProtocolError(ProtocolErrorCode.InternalError, "The gateway could not list resources (internal error). It has been logged; try again.");
  }
}

/** resources/list: 200 per page, deterministic; throws InvalidResourceCursorError for a bad cursor. */
export async function listResources(services: Services, ctx: CallContext, cursor?: string): Promise<{ resources: ListedResource[]; nextCursor?: string }> {
  const { binding, all } = await listingFor(services, ctx);
  let offset = 0;
  if (cursor !== undefined) {
    const decoded = decodeCursor(cursor, binding);
    if (decoded === null) throw new InvalidResourceCursorError();
    offset = decoded;
  }
  const resources = all.slice(offset, offset + RESOURCE_PAGE_SIZE);
  const next = offset + resources.length;
  return next < all.length ? { resources, nextCursor: encodeCursor(binding, next) } : { resources };
}

type ResourceTemplate = { uriTemplate: string; name: string; title: string; description: string; mimeType: string };

/** The templates of the resources the link offers; on several databases each takes `?database=` (RFC 6570 `{?database}`). */
export function listResourceTemplates(link: LinkRecord): { resourceTemplates: ResourceTemplate[] } {
  const offer = offered(link);
  const multi = isMultiDatabase(link);
  const query = multi ? "{?database}" : "";
  const which = multi ? ` Add ?database=NAME for one of the link's databases (${linkDatabases(link).map((d) => d.databaseName).join(", ")}; default: the first).` : "";
  const resourceTemplates: ResourceTemplate[] = [];
  if (offer.readTable) {
    resourceTemplates.push({
      uriTemplate: `portcullis://tables/{schema}/{table}${query}`,
      name: "table",
      title: "A table or view",
      description: `Columns, types, keys, foreign keys and descriptions of one table or view (as describe_table). Segments are percent-encoded.${which}`,
      mimeType: MIME,
    });
  }
  if (offer.schema) {
    resourceTemplates.push({ uriTemplate: `portcullis://schemas/{schema}${query}`, name: "schema", title: "A schema", description: `Tables and views of one schema (as get_schema({ schema })).${which}`, mimeType: MIME });
  }
  return { resourceTemplates };
}

type Target = ({ kind: "schema" } | { kind: "schemas"; schema: string } | { kind: "table"; schema: string; table: string }) & { database?: string };

function decodeSegment(segment: string): string | null {
  try {
    const decoded = decodeURIComponent(segment);
    return decoded.length > 0 && decoded.length <= 63 ? decoded : null;
  } catch {
    return null;
  }
}

function parsePath(uri: string): Target | null {
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

/** The object a URI names (with the database its `?database=` suffix names), or null when it is not one of ours (malformed is answered like hidden). */
export function parseResourceUri(uri: string): Target | null {
  const query = /^([^?#]+)\?database=([^?#&=]+)$/.exec(uri);
  if (!query) return parsePath(uri);
  const [target, database] = [parsePath(query[1]!), decodeSegment(query[2]!)];
  return target === null || database === null ? null : { ...target, database };
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
    // A resource whose tool is switched off does not exist for this link: the same answer as a hidden table.
    const offer = offered(ctx.link);
    if (!(target.kind === "table" ? offer.readTable : offer.schema)) return notFound(args.uri);
    const multi = isMultiDatabase(ctx.link);
    // The suffix only where the link has several databases: on one, a URI with it names nothing.
    if (target.database !== undefined && !multi) return notFound(args.uri);
    if (multi && target.kind === "schema" && target.database === undefined) return wholeSchema(args.uri, ctx, services);
    const record = target.database === undefined ? ctx.link : linkDatabases(ctx.link).find((d) => d.databaseName === target.database);
    if (!record) return notFound(args.uri);
    const index = await catalogIndexFor(services, record);
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
      audit: { verdict: "allowed", ...(tables ? { tables } : {}), rows, bytes: Buffer.byteLength(text), ...(multi ? { databaseName: record.databaseName ?? null } : {}) },
    };
  },
};

/** portcullis://schema on a link with several databases: get_schema's own answer for every database. */
async function wholeSchema(uri: string, ctx: CallContext, services: Services): Promise<CallOutcome> {
  const outcome = await getSchemaTool.run({}, { ...ctx, allDatabases: true }, services);
  if (outcome.kind !== "ok") return outcome;
  const text = outcome.text ?? "";
  return { kind: "ok", data: { uri, mimeType: MIME, text }, text, audit: { ...outcome.audit, databaseName: null } };
}

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
