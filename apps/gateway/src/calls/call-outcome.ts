import type { AuditVerdict } from "@portcullis/jobs";

/**
 * The contract between the protocol layer (http/mcp, mcp/handlers) and the one call path
 * (calls/run-call.ts). Every tool call — MCP in either era, or the dashboard's Playground — ends as one
 * CallOutcome; renderers (render-mcp.ts, render-playground.ts) only turn it into their wire shape.
 */
export type CallOutcome =
  | { kind: "ok"; data: Record<string, unknown>; audit: CallAudit }
  | { kind: "refused"; refusal: Refusal; audit: CallAudit }
  | { kind: "failed"; failure: CallFailure; audit: CallAudit };

/** Why a statement or call was refused, as data (the words are in `reason`). */
export interface Refusal {
  ruleId: string;
  reason: string;
  /** 1-based statement index, object (schema.table or column) and the permission it would need. */
  statementIndex?: number;
  object?: string;
  needs?: "read" | "write" | "admin";
  /** What the link does allow, for the model to adjust. */
  allows?: LinkAllowance;
  /** Set when the link allows it but the OAuth token's scopes do not: the scopes a client must ask for. */
  stepUpScopes?: string[];
}

export interface LinkAllowance {
  access: "none" | "read" | "write" | "admin";
  /** Tables with an access other than the link's default, "schema.table" → access. */
  tables: Record<string, "none" | "read" | "write" | "admin">;
  maxRows: number;
  statementTimeoutMs: number;
}

export interface CallFailure {
  code: "invalid_arguments" | "not_found" | "target_unavailable" | "statement_error" | "internal";
  message: string;
  retryable: boolean;
}

/** What a call contributes to its audit event (the builder adds who, when, how long, which client). */
export interface CallAudit {
  verdict: AuditVerdict;
  sql?: string;
  fingerprint?: string;
  tables?: string[];
  ruleId?: string;
  reason?: string;
  rows?: number;
  bytes?: number;
  error?: string;
  /** The statement ran and may have changed data: its call must not be retried blindly. */
  wrote?: boolean;
}

/** Thrown by runCall for a tool name that does not exist (a protocol error, -32602); already audited. */
export class UnknownToolError extends Error {
  constructor(readonly tool: string, readonly known: string[]) {
    super(`Unknown tool: ${tool}. Tools: ${known.join(", ")}`);
  }
}

/**
 * Thrown by runCall when the audit journal cannot record the call. `ranWrite` = a statement that may have
 * changed data ran (JSON-RPC -32051, not retryable); otherwise nothing ran or only a read did
 * (-32050, retryable).
 */
export class CallAuditUnavailableError extends Error {
  constructor(message: string, readonly ranWrite: boolean) {
    super(message);
  }
}
