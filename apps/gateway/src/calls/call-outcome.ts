import type { AuditVerdict } from "@portcullis/jobs";
import type { AccessLevel } from "@portcullis/policy/scope";
import type { PendingWrite } from "./pending-write.js";

export type { PendingWrite, WritePreview } from "./pending-write.js";

/**
 * The contract between the protocol layer (http/mcp, mcp/handlers) and the one call path
 * (calls/run-call.ts). Every tool call — MCP in either era, or the dashboard's Playground — ends as one
 * CallOutcome; renderers (render-mcp.ts, render-playground.ts) only turn it into their wire shape.
 */
export type CallOutcome =
  /**
   * `data` is the structured result (validated by the tool's outputSchema); `text` the compact rendering
   * for the text block when it is not simply the JSON of `data` (schema tools use a denser format).
   */
  | { kind: "ok"; data: Record<string, unknown>; text?: string; audit: CallAudit }
  /**
   * A write that needs a person's decision (issue 15): dry-run, stored as a write request, not run.
   * Rendered as a successful result (the model acts on `data.message`); audited as blocked
   * (approval_required / confirmation_required) with the request's id. The protocol layer turns a
   * `data.kind` "confirm" into a confirmation round trip where the client can answer one.
   */
  | { kind: "pending"; data: PendingWrite; text?: string; audit: CallAudit }
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
  access: AccessLevel;
  /** Tables with an access other than the link's default, "schema.table" → access. */
  tables: Record<string, AccessLevel>;
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
  /** Statement classes the policy saw (read, write, ddl…), when a statement was checked; the Playground shows them. */
  classes?: string[];
  /** The statement that ran instead of `sql` when the policy rewrote it (row filters, masks, virtual catalog). */
  rewrittenSql?: string;
  /** Names of the member attributes the rewritten statement bound (never their values). */
  attributeNames?: readonly string[];
  /** The audit event's id, chosen before it is recorded so a write request can name it (issue 15). */
  eventId?: string;
  /** The write request this call created, executed or was refused about (issue 15). */
  writeRequestId?: string;
  /** The access grant that let this call through (issue 15 elevation; set by G2's path). */
  accessGrantId?: string;
  /**
   * Where the statement ran (issue 17): "primary" or the replica's name, as execution reports it
   * (CheckedExecution.targetServer); absent when no statement was sent.
   */
  targetServer?: string;
  /**
   * Issue 17: the link database the call ran on when it is not the call's own record's (an approved write
   * runs on the database it was asked on); null: the call covered every database. Absent: ctx.link's.
   */
  databaseName?: string | null;
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

/**
 * A tool in the typed shape every tool moves to (issue 13). The catalog (mcp/tool-catalog.ts) builds
 * the listed Tool from it: JSON Schema 2020-12 input, an outputSchema whose root is an object covering
 * the ok arm (`output`) plus the refusal and failure arms (1.x clients validate structuredContent even
 * on isError results), title/description/annotations from the link's scope.
 */
export interface TypedTool<Input extends import("zod").ZodType = import("zod").ZodType> {
  name: string;
  title(link: import("../context.js").LinkRecord): string;
  description(link: import("../context.js").LinkRecord): string;
  input: Input;
  /** Shape of `data` in an ok outcome. */
  output: import("zod").ZodObject;
  /** The tool may answer with a pending write request (its outputSchema lists that arm). */
  pending?: boolean;
  annotations(link: import("../context.js").LinkRecord): { readOnlyHint: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint: boolean };
  run(args: import("zod").output<Input>, ctx: import("../context.js").CallContext, services: import("../services.js").Services): Promise<CallOutcome>;
}
