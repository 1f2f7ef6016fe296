import { hash } from "node:crypto";
import { type ChainKey, KEYED_PREFIX, hmacHex } from "./chain-key.js";

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
  /** Configuration changes only; absent from the content when null, so older rows hash as they did. */
  detail: string | null;
  /**
   * MCP revision and W3C trace id (issue 13). Optional so rows built before they existed still type;
   * undefined and null are the same value. See `canonicalParts` for how they enter the content.
   */
  protocolVersion?: string | null;
  traceId?: string | null;
  /**
   * The statement that ran when the policy rewrote it, and the member attribute names it bound (issue
   * 14). Optional like the two above; an empty name list is the same as none.
   */
  rewrittenSql?: string | null;
  attributeNames?: readonly string[] | null;
  /**
   * The write request and access grant the event belongs to (issue 15). Optional like the fields
   * above; lower-case uuids.
   */
  writeRequestId?: string | null;
  accessGrantId?: string | null;
  /**
   * Which of the link's databases the call ran on, and which server ran it ("primary" or a replica's
   * name) (issue 17). Optional like the fields above.
   */
  databaseName?: string | null;
  targetServer?: string | null;
}

/**
 * The canonical content split around `seq`, the one field only known under the team's chain lock:
 * `head + JSON.stringify(seq) + tail` is the content. The worker computes the parts before it takes
 * the lock, so the locked section only hashes.
 */
export interface CanonicalParts {
  head: string;
  tail: string;
}

export function canonicalParts(row: Omit<AuditRow, "seq">): CanonicalParts {
  const head = JSON.stringify([CHAIN_FORMAT, row.id.toLowerCase(), row.teamId.toLowerCase()]);
  const tail = JSON.stringify([
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
    ...optionalTail(row),
  ]);
  // `[a,b,c]` and `[d,…]` → `[a,b,c,` and `,d,…]`, so that head + "\"seq\"" + tail is one JSON array.
  return { head: `${head.slice(0, -1)},`, tail: `,${tail.slice(1)}` };
}

/**
 * Fields added after the format was fixed, appended so that every row written before them keeps its
 * content: nothing (21 fields), `[detail]` (22, rows since configuration changes), once the
 * revision or trace id is set, all three in place `[detail, protocolVersion, traceId]` (24), and once a
 * rewritten statement or attribute names are set, all five (26), and once a write request or access
 * grant is set, all seven (28), and once a database name or target server is set, all nine (30). Each shape
 * has its own length, so no value can be read as another field's (a `detail` of "2026-07-28" and a
 * protocol version of "2026-07-28" hash differently).
 */
function optionalTail(row: Omit<AuditRow, "seq">): (string | readonly string[] | null)[] {
  const protocolVersion = row.protocolVersion ?? null;
  const traceId = row.traceId ?? null;
  const rewrittenSql = row.rewrittenSql ?? null;
  const attributeNames = row.attributeNames?.length ? row.attributeNames : null;
  const writeRequestId = row.writeRequestId?.toLowerCase() ?? null;
  const accessGrantId = row.accessGrantId?.toLowerCase() ?? null;
  const databaseName = row.databaseName ?? null;
  const targetServer = row.targetServer ?? null;
  // Issue 17 (30 fields): all nine once the database or the server is named.
  if (databaseName !== null || targetServer !== null) {
    return [row.detail, protocolVersion, traceId, rewrittenSql, attributeNames, writeRequestId, accessGrantId, databaseName, targetServer];
  }
  // Issue 15 (28 fields): all seven once a write request or access grant is set.
  if (writeRequestId !== null || accessGrantId !== null) {
    return [row.detail, protocolVersion, traceId, rewrittenSql, attributeNames, writeRequestId, accessGrantId];
  }
  // Issue 14 (26 fields): `[detail, protocolVersion, traceId, rewrittenSql, attributeNames]` once either
  // of the last two is set; older shapes unchanged.
  if (rewrittenSql !== null || attributeNames !== null) return [row.detail, protocolVersion, traceId, rewrittenSql, attributeNames];
  if (protocolVersion !== null || traceId !== null) return [row.detail, protocolVersion, traceId];
  return row.detail == null ? [] : [row.detail];
}

export function canonicalAuditContent(row: AuditRow): string {
  const { head, tail } = canonicalParts(row);
  return `${head}"${row.seq.toString()}"${tail}`;
}

/**
 * hash = SHA-256(prev_hash ‖ "\n" ‖ canonical content), hex; with a chain key,
 * "k1:" ‖ HMAC-SHA-256(key, prev_hash ‖ "\n" ‖ canonical content), hex. Chains written before the key
 * existed keep their SHA-256 links; the first keyed event is the upgrade point, and after it every
 * event must be keyed (verifyAuditChain refuses a downgrade).
 */
export function chainHash(prevHash: string, row: AuditRow, key?: ChainKey): string {
  return chainHashOfParts(prevHash, canonicalParts(row), row.seq, key);
}

export function chainHashOfParts(prevHash: string, parts: CanonicalParts, seq: bigint, key?: ChainKey): string {
  const data = `${prevHash}\n${parts.head}"${seq.toString()}"${parts.tail}`;
  if (key) return `${KEYED_PREFIX}${hmacHex(key, data)}`;
  // crypto.hash: the one-shot form, without a Hash object per event (ingestion hashes every row).
  return hash("sha256", data, "hex");
}

/**
 * PostgreSQL text cannot hold NUL, and a lone UTF-16 surrogate is stored as U+FFFD: either would make
 * the stored event differ from what was hashed, or fail the whole batch. A client controls the SQL
 * text, so without this an attacker could keep a statement out of the audit trail.
 */
export function sanitizeText<T extends string | null | undefined>(value: T): T {
  if (typeof value !== "string") return value;
  // String.prototype.{is,to}WellFormed are Node 20+, but not in the ES2023 lib this repo compiles against.
  const s = value as unknown as { isWellFormed(): boolean; toWellFormed(): string } & string;
  // Nearly every value is already clean: checking is cheaper than copying (ingestion calls this ~15 times per event).
  if (s.isWellFormed() && !s.includes("\u0000")) return value;
  return s.toWellFormed().replaceAll("\u0000", "\uFFFD") as T;
}

/** Milliseconds, UTC, `Z`: the one spelling of a time the chain accepts. */
const CANONICAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function canonicalTime(value: string | Date): string {
  // Producers already send this spelling; PostgreSQL then stores exactly it (or refuses a date that
  // does not exist, such as February 30th, rather than have it silently moved).
  if (typeof value === "string" && CANONICAL_TIME.test(value)) return value;
  const date = typeof value === "string" ? new Date(value) : value;
  if (Number.isNaN(date.getTime())) throw new Error(`invalid audit event time: ${String(value)}`);
  return date.toISOString();
}
