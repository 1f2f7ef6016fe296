import type { Scope } from "@portcullis/policy";
import type { TargetConnectionRow } from "@portcullis/db/target";
import type { ActiveGrant } from "./access/grant-directory.js";
import type { CallAudit } from "./calls/call-outcome.js";

/** A link as the gateway needs it, with its connection row (secret still sealed). */
export interface LinkRecord {
  id: string;
  teamId: string;
  name: string;
  status: "active" | "disabled";
  scope: Scope;
  connection: TargetConnectionRow;
  /**
   * Why no admin access may reach this link's connection (its role reaches beyond its database, or its
   * role was never checked), null when it may. Read by elevation (issue 15): an admin grant applies only
   * where this is null. Absent is read as refused.
   */
  adminRefusal?: string | null;
  /**
   * The caller's access grants this record's scope includes (issue 15: `withGrants` of the link's own
   * scope), set only on a member's effective record; absent or empty on the link's own.
   */
  grants?: readonly ActiveGrant[];
  // Issue 17 (docs/design/reach.md). A record is always ONE database of the link: `scope` and
  // `connection` are that database's. The link's own record is its first database.
  /** The `database` argument naming this record's database (the link's `database_name` for the first). */
  databaseName?: string;
  /** Every database of the link, the first being the link's own record; absent: only this one. */
  databases?: readonly LinkRecord[];
  /** Built-in tools this link does not expose. */
  disabledTools?: readonly string[];
  /** The link's curated tools (saved queries), in name order. */
  savedTools?: readonly SavedToolRecord[];
}

/** A curated tool (issue 17): a saved, parameterised query; `parameters` bound in order to $1..$n. */
export interface SavedToolRecord {
  id: string;
  name: string;
  title: string | null;
  description: string;
  sql: string;
  parameters: readonly SavedToolParameter[];
  /** Which of the link's databases it runs on; null: the first. */
  databaseName: string | null;
  /** The connection that database had when the tool was saved; it runs only there (null: never). */
  connectionId: string | null;
}

export interface SavedToolParameter {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date" | "timestamp" | "uuid";
  description: string;
  required: boolean;
  default?: string | number | boolean | null;
}

/** Who is calling: resolved once per HTTP request by an authentication strategy. */
export interface Principal {
  kind: "api_key" | "oauth" | "internal";
  teamId: string;
  linkId: string;
  userId: string | null;
  apiKeyId: string | null;
  oauthClientId: string | null;
  /** Rate-limit bucket: the key or grant id. */
  subject: string;
  /** Name the principal's client registered with (OAuth), for audit when the session names none. */
  clientName?: string;
  /**
   * OAuth scopes granted to the token (`mcp:read`, `mcp:write`, `mcp:admin`; legacy `mcp` = all three);
   * null for API keys and internal callers, whose ceiling is the link's scope alone.
   */
  grantedScopes: string[] | null;
  /** The member's email (`{{member.email}}` in row filters); null for callers without a user. */
  email: string | null;
  /** Attributes an admin set for this member on this link (`{{member.attr.NAME}}`); `{}` when none. */
  attributes: Readonly<Record<string, string>>;
}

/** The protocol revision a request was served under ("playground" for the dashboard's own calls). */
export type ProtocolRevision = "2026-07-28" | "2025-11-25" | "2025-06-18" | "2025-03-26" | "playground";

/** Everything a tool call needs, resolved once per request by the protocol layer. */
export interface CallContext {
  requestId: string;
  principal: Principal;
  link: LinkRecord;
  /** Self-reported by the client (2026-07-28: per-request `_meta` clientInfo; 2025: `initialize`); audit only. */
  clientName: string | null;
  clientVersion: string | null;
  protocolVersion: ProtocolRevision | null;
  /** W3C trace id (32 hex) from a valid `traceparent` in `_meta`, for correlating logs and audit. */
  traceId: string | null;
  sourceIp: string | null;
  /** Aborted when the client goes away (closing the response stream cancels, per 2026-07-28). */
  signal?: AbortSignal;
  /**
   * Set by the call path when a statement the link allows needs OAuth scopes the token lacks: the
   * protocol layer answers HTTP 403 insufficient_scope with these scopes (step-up), not a tool result.
   */
  insufficientScope?: string[];
  /**
   * Issue 17, set by run-call: the database the caller named (`database` argument; absent: none), and
   * whether the tool answers for every database of the link (get_schema, list_tables, search_objects
   * without `database` on a multi-database link). `link` is then the named database's record.
   */
  databaseNamed?: string;
  allDatabases?: boolean;
  /**
   * Set by the call path in sync audit durability: journals the call's intent (its audit event as far
   * as it is known before the statement runs) and resolves once that is on disk. executeChecked calls it
   * right before the statement goes out, through the tool: a statement that may write waits for it, a
   * read runs while it is written (run-call waits for it before answering).
   */
  auditAhead?: (audit: CallAudit) => Promise<void>;
}
