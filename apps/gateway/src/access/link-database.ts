import type { CallOutcome } from "../calls/call-outcome.js";
import { linkAllowance } from "../calls/link-allowance.js";
import type { LinkRecord } from "../context.js";
import { escapeUnsafe } from "../mcp/tools/schema-format.js";

/**
 * Several databases per link (issue 17, docs/design/reach.md): every tool call may name one of the
 * link's databases with a `database` argument; the call then runs under that database's record (its own
 * scope and connection), so the policy, the catalog and the pools see exactly one database as before.
 */

export const DATABASE_ARGUMENT = "database";
export const DATABASE_NOT_FOUND = "database_not_found";

/** Tools that, without `database`, answer for every database of the link (each object labelled). */
export const ALL_DATABASE_TOOLS: ReadonlySet<string> = new Set(["get_schema", "list_tables", "search_objects"]);

/**
 * The link's databases, its own record first. A single-database link answers with the record itself:
 * the caller's record (grants applied) is the one to run under, not the stored list's.
 */
export function linkDatabases(link: LinkRecord): readonly LinkRecord[] {
  return link.databases && link.databases.length > 1 ? link.databases : [link];
}

export function isMultiDatabase(link: LinkRecord): boolean {
  return (link.databases?.length ?? 1) > 1;
}

/** The names the `database` argument takes, in the link's order. */
export function databaseNames(link: LinkRecord): string[] {
  return linkDatabases(link).flatMap((d) => (d.databaseName === undefined ? [] : [d.databaseName]));
}

/**
 * The JSON Schema property tools/list adds to a tool's inputSchema on a multi-database link (absent on a
 * single-database link, whose listing stays as it was). For the listing's owner (mcp/tool-catalog.ts).
 */
export function databaseInputProperty(link: LinkRecord, coversAll: boolean): Record<string, unknown> | null {
  if (!isMultiDatabase(link)) return null;
  const names = databaseNames(link);
  return {
    type: "string",
    enum: names,
    description: coversAll
      ? `Only this database of the link (default: every database, each object labelled with its database): ${names.join(", ")}`
      : `Which of the link's databases (default: ${names[0]}): ${names.join(", ")}`,
  };
}

/** `inputSchema` with the `database` property when the link has more than one database; else the same object. */
export function withDatabaseInput(inputSchema: Record<string, unknown>, link: LinkRecord, toolName: string): Record<string, unknown> {
  const property = databaseInputProperty(link, ALL_DATABASE_TOOLS.has(toolName));
  if (!property) return inputSchema;
  const properties = (inputSchema.properties ?? {}) as Record<string, unknown>;
  return { ...inputSchema, properties: { ...properties, [DATABASE_ARGUMENT]: property } };
}

export type DatabaseSelection =
  | {
      ok: true;
      /** The record the call runs under. */
      link: LinkRecord;
      /** The name the caller gave; undefined when it named none. */
      named: string | undefined;
      /** No database named, the tool covers all and the link has several: the tool answers for each. */
      all: boolean;
      /** The arguments without `database` (what the tool's own input parses). */
      args: unknown;
    }
  | { ok: false; outcome: CallOutcome };

function auditSql(args: unknown): { sql?: string } {
  const sql = (args as { sql?: unknown } | null)?.sql;
  return typeof sql === "string" ? { sql: sql.slice(0, 100_000) } : {};
}

/**
 * The record a call runs under. `link` is the caller's record of the link's first database (with the
 * caller's grants applied per database). An unknown name is refused the way a missing table is: nothing
 * runs, the call is audited as blocked. The names listed are the link's own (every key holder may use
 * them); another link's or team's databases are never looked at.
 */
export function selectDatabase(link: LinkRecord, toolName: string, args: unknown): DatabaseSelection {
  const all = ALL_DATABASE_TOOLS.has(toolName) && isMultiDatabase(link);
  if (typeof args !== "object" || args === null || Array.isArray(args) || !Object.hasOwn(args, DATABASE_ARGUMENT)) return { ok: true, link, named: undefined, all, args };
  const { [DATABASE_ARGUMENT]: wanted, ...rest } = args as Record<string, unknown>;
  if (wanted === undefined) return { ok: true, link, named: undefined, all, args: rest };
  if (typeof wanted !== "string" || wanted.length === 0 || wanted.length > 63) {
    const message = `Invalid arguments for ${toolName}: database: expected the name of one of this link's databases (${databaseNames(link).join(", ")})`;
    return { ok: false, outcome: { kind: "failed", failure: { code: "invalid_arguments", message, retryable: false }, audit: { verdict: "error", error: message, ...auditSql(args) } } };
  }
  const record = linkDatabases(link).find((d) => d.databaseName === wanted);
  if (!record) {
    const ruleId = DATABASE_NOT_FOUND;
    const reason = `this link has no database named "${escapeUnsafe(wanted)}"; it has: ${databaseNames(link).join(", ")}. Nothing was run. [rule ${ruleId}]`;
    return { ok: false, outcome: { kind: "refused", refusal: { ruleId, reason, allows: linkAllowance(link) }, audit: { verdict: "blocked", ruleId, reason, ...auditSql(args) } } };
  }
  return { ok: true, link: record, named: wanted, all: false, args: rest };
}

/** The record of the database named `name` (null: the first), or null when the link has none of that name. */
export function databaseRecord(link: LinkRecord, name: string | null): LinkRecord | null {
  const all = linkDatabases(link);
  if (name === null) return all[0]!;
  return all.find((d) => d.databaseName === name) ?? null;
}

/**
 * What a write request or an access grant made under `record` stores as its database: null for the
 * link's first database (as rows made before a link had several: they keep following the link's own
 * database through a rename), else the database's name.
 */
export function storedDatabaseName(record: LinkRecord): string | null {
  return linkDatabases(record)[0] === record ? null : (record.databaseName ?? null);
}
