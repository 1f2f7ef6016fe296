import { createHash } from "node:crypto";

/**
 * The canonical content of an audit event, as committed to by its hash. The worker computes it from
 * the values it is about to insert and `verifyAuditChain` from the values it reads back, so every
 * field here must survive a PostgreSQL round trip unchanged:
 *  - `time` is millisecond ISO-8601 UTC (the column is timestamptz(3); the worker inserts exactly
 *    this string, so PostgreSQL never rounds it);
 *  - strings are well-formed UTF-16 without NUL (see `sanitizeText`);
 *  - `durationMs` is a float8 (shortest round-trip text both ways), `rows`/`bytes` int4.
 * The field order is the format: changing it breaks every stored chain, hence the version tag.
 */
export const CHAIN_FORMAT = "pc-audit-v1";

/** prev_hash of a team's first event. */
export const GENESIS_HASH = "0".repeat(64);

export interface AuditRow {
  id: string;
  teamId: string;
  seq: bigint;
  time: string;
  kind: string;
  linkId: string | null;
  apiKeyId: string | null;
  oauthClientId: string | null;
  userId: string | null;
  clientName: string | null;
  clientVersion: string | null;
  tool: string | null;
  sql: string | null;
  fingerprint: string | null;
  tables: string[];
  verdict: "allowed" | "blocked" | "error";
  ruleId: string | null;
  reason: string | null;
  durationMs: number;
  rows: number | null;
  bytes: number | null;
  error: string | null;
  sourceIp: string | null;
  requestId: string | null;
}

export function canonicalAuditContent(row: AuditRow): string {
  return JSON.stringify([
    CHAIN_FORMAT,
    row.id.toLowerCase(),
    row.teamId.toLowerCase(),
    row.seq.toString(),
    row.time,
    row.kind,
    row.linkId?.toLowerCase() ?? null,
    row.apiKeyId?.toLowerCase() ?? null,
    row.oauthClientId,
    row.userId?.toLowerCase() ?? null,
    row.clientName,
    row.clientVersion,
    row.tool,
    row.sql,
    row.fingerprint,
    row.tables,
    row.verdict,
    row.ruleId,
    row.reason,
    row.durationMs,
    row.rows,
    row.bytes,
    row.error,
    row.sourceIp,
    row.requestId,
  ]);
}

/** hash = SHA-256(prev_hash ‖ "\n" ‖ canonical content), hex. */
export function chainHash(prevHash: string, row: AuditRow): string {
  return createHash("sha256").update(prevHash).update("\n").update(canonicalAuditContent(row)).digest("hex");
}

/**
 * PostgreSQL text cannot hold NUL, and a lone UTF-16 surrogate is stored as U+FFFD: either would make
 * the stored event differ from what was hashed, or fail the whole batch. A client controls the SQL
 * text, so without this an attacker could keep a statement out of the audit trail.
 */
export function sanitizeText<T extends string | null | undefined>(value: T): T {
  if (typeof value !== "string") return value;
  // String.prototype.toWellFormed is Node 20+, but not in the ES2023 lib this repo compiles against.
  const wellFormed = (value as unknown as { toWellFormed(): string }).toWellFormed();
  return wellFormed.replaceAll("\u0000", "\uFFFD") as T;
}

/** Milliseconds, UTC, `Z`: the one spelling of a time the chain accepts. */
export function canonicalTime(value: string | Date): string {
  const date = typeof value === "string" ? new Date(value) : value;
  if (Number.isNaN(date.getTime())) throw new Error(`invalid audit event time: ${String(value)}`);
  return date.toISOString();
}
