import { describeTableTool } from "./describe-table.js";
import { executeSqlTool } from "./execute-sql.js";
import { explainQueryTool } from "./explain-query.js";
import { getPermissionsTool } from "./get-permissions.js";
import { getSchemaTool } from "./get-schema.js";
import { listTablesTool } from "./list-tables.js";
import type { ToolDefinition } from "./types.js";

/** The tool names are part of the public contract: clients and prompts refer to them. */
export const TOOLS: ToolDefinition[] = [
  getSchemaTool,
  listTablesTool,
  describeTableTool,
  executeSqlTool,
  explainQueryTool,
  getPermissionsTool,
] as ToolDefinition[];

export const TOOLS_BY_NAME = new Map(TOOLS.map((t) => [t.name, t]));
