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

/**
 * The tool a link answers to under `name` (issue 17: a link may hide built-in tools and add curated
 * ones). The curated-tools slice owns this; until then, the built-in set.
 */
export function toolByName(link: LinkRecord, name: string): TypedTool | undefined {
  if (link.disabledTools?.includes(name)) return undefined;
  return TOOLS_BY_NAME.get(name);
}
