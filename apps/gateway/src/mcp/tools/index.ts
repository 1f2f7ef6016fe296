import type { TypedTool } from "../../calls/call-outcome.js";
import type { LinkRecord } from "../../context.js";
import { describeTableTool } from "./describe-table.js";
import { executeSqlTool } from "./execute-sql.js";
import { explainQueryTool } from "./explain-query.js";
import { getPermissionsTool } from "./get-permissions.js";
import { getSchemaTool } from "./get-schema.js";
import { getWriteRequestTool } from "./get-write-request.js";
import { listTablesTool } from "./list-tables.js";
import { requestAccessTool } from "./request-access.js";
import { savedTool } from "./saved-tool.js";
import { searchObjectsTool } from "./search-objects.js";

/** The tool names and this order are part of the public contract (PRODUCT.md): clients and prompts refer to them. */
export const TOOLS: readonly TypedTool[] = [
  getSchemaTool,
  listTablesTool,
  describeTableTool,
  executeSqlTool,
  explainQueryTool,
  getPermissionsTool,
  searchObjectsTool,
  getWriteRequestTool,
  requestAccessTool,
] as TypedTool[];

export const TOOLS_BY_NAME: ReadonlyMap<string, TypedTool> = new Map(TOOLS.map((t) => [t.name, t]));

/** The built-in tools a link exposes, in the contract order: all of them but its `disabledTools`. */
export function enabledBuiltIns(link: LinkRecord): readonly TypedTool[] {
  const disabled = link.disabledTools;
  return disabled && disabled.length > 0 ? TOOLS.filter((t) => !disabled.includes(t.name)) : TOOLS;
}

/**
 * The tool a link answers to under `name` (issue 17): a built-in it does not hide, else one of its
 * curated tools. Built-ins win: a saved tool cannot take a built-in's name (refused at save), and one
 * stored by hand is shadowed, never the other way round. Another link's tools are not in `link`.
 */
export function toolByName(link: LinkRecord, name: string): TypedTool | undefined {
  const builtIn = TOOLS_BY_NAME.get(name);
  if (builtIn) return link.disabledTools?.includes(name) ? undefined : builtIn;
  const record = link.savedTools?.find((t) => t.name === name);
  return record ? savedTool(record) : undefined;
}

/** Every name a link answers to (the unknown-tool error lists them). */
export function toolNames(link: LinkRecord): string[] {
  return [...enabledBuiltIns(link).map((t) => t.name), ...savedToolsOf(link).map((t) => t.name)];
}

/** The link's curated tools that can be listed: in name order, none named like a built-in. */
export function savedToolsOf(link: LinkRecord): readonly TypedTool[] {
  const records = link.savedTools;
  if (!records || records.length === 0) return [];
  return records
    .filter((r) => !TOOLS_BY_NAME.has(r.name))
    .map(savedTool)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
