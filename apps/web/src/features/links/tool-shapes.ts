import { z } from "zod";

/**
 * What the Tools tab shows and sends. The authoritative checks (names, SQL, placeholders, the policy)
 * are the db package's and run on save; these shapes only bound what the dashboard parses at all.
 */
export const BUILT_IN_TOOLS = [
  { name: "get_schema", words: "Tables, columns and descriptions the scope shows" },
  { name: "list_tables", words: "The visible tables, one line each" },
  { name: "describe_table", words: "One table's columns, keys and description" },
  { name: "execute_sql", words: "Any SQL the scope allows (turn off to offer only curated tools)" },
  { name: "explain_query", words: "The plan of a statement, without running it" },
  { name: "get_permissions", words: "The scope in plain words" },
  { name: "search_objects", words: "Search tables and columns by name (large schemas)" },
  { name: "get_write_request", words: "The state of a write waiting for approval" },
  { name: "request_access", words: "Ask for time-boxed elevation on a table" },
] as const;

export type BuiltInToolName = (typeof BUILT_IN_TOOLS)[number]["name"];
const BUILT_IN_NAMES: ReadonlySet<string> = new Set(BUILT_IN_TOOLS.map((t) => t.name));
export function isBuiltInToolName(name: string): name is BuiltInToolName {
  return BUILT_IN_NAMES.has(name);
}

export const PARAMETER_TYPES = ["string", "integer", "number", "boolean", "date", "timestamp", "uuid"] as const;
export type ParameterType = (typeof PARAMETER_TYPES)[number];

export interface ToolParameterDraft {
  name: string;
  type: ParameterType;
  description: string;
  required: boolean;
  /** As typed; empty means no default. */
  default: string;
}

export interface SavedToolView {
  id: string;
  name: string;
  title: string | null;
  description: string;
  sql: string;
  parameters: { name: string; type: ParameterType; description: string; required: boolean; default?: unknown }[];
  databaseName: string | null;
}

/** A value typed in the Try-it form, as the parameter's JSON type (the gateway binds it, never splices it). */
export function typedValue(type: ParameterType, text: string): { ok: true; value: string | number | boolean } | { ok: false; error: string } {
  const t = text.trim();
  if (type === "integer") return /^-?\d{1,18}$/.test(t) ? { ok: true, value: Number(t) } : { ok: false, error: "a whole number" };
  if (type === "number") return t !== "" && Number.isFinite(Number(t)) ? { ok: true, value: Number(t) } : { ok: false, error: "a number" };
  if (type === "boolean") return t === "true" || t === "false" ? { ok: true, value: t === "true" } : { ok: false, error: "true or false" };
  if (type === "uuid") return z.guid().safeParse(t).success ? { ok: true, value: t } : { ok: false, error: "a uuid" };
  if (type === "date") return /^\d{4}-\d{2}-\d{2}$/.test(t) ? { ok: true, value: t } : { ok: false, error: "a date like 2024-01-31" };
  if (type === "timestamp") return !Number.isNaN(Date.parse(t)) ? { ok: true, value: t } : { ok: false, error: "a date and time like 2024-01-31T12:00:00Z" };
  return { ok: true, value: text };
}
