import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { AuditVerdict } from "@portcullis/jobs";
import type { z } from "zod";
import type { CallContext, LinkRecord } from "../../context.js";
import type { Services } from "../../services.js";

/** What a tool call contributes to its audit event (the dispatcher adds who, when and how long). */
export interface ToolAudit {
  verdict: AuditVerdict;
  sql?: string;
  fingerprint?: string;
  tables?: string[];
  ruleId?: string;
  reason?: string;
  rows?: number;
  bytes?: number;
  error?: string;
  /** The statement ran and may have changed data (not read-only): its call must not be retried blindly. */
  wrote?: boolean;
}

export interface ToolOutcome {
  result: CallToolResult;
  audit: ToolAudit;
}

export interface ToolDefinition<S extends z.ZodType = z.ZodType> {
  name: string;
  title: string;
  /** Per link: tool descriptions tell the model what this link allows. */
  description(link: LinkRecord): string;
  input: S;
  readOnlyHint: boolean;
  run(args: z.output<S>, ctx: CallContext, services: Services): Promise<ToolOutcome>;
}

export function textResult(text: string, isError = false): CallToolResult {
  return isError ? { content: [{ type: "text", text }], isError: true } : { content: [{ type: "text", text }] };
}
