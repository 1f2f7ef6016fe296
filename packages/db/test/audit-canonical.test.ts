import { createHash } from "node:crypto";
import { expect, test } from "vitest";
import { GENESIS_HASH, canonicalAuditContent, canonicalTime, chainHash, sanitizeText, type AuditRow } from "../src/audit/canonical.js";

const row: AuditRow = {
  id: "0b6c2f3e-1d2a-4c5b-9e8f-7a6b5c4d3e2f",
  teamId: "1b6c2f3e-1d2a-4c5b-9e8f-7a6b5c4d3e2f",
  seq: 1n,
  time: "2026-11-24T05:00:00.123Z",
  kind: "tool_call",
  linkId: null,
  apiKeyId: null,
  oauthClientId: null,
  userId: null,
  clientName: "cursor",
  clientVersion: "1.0",
  tool: "execute_sql",
  sql: "SELECT 1",
  fingerprint: null,
  tables: [],
  verdict: "allowed",
  ruleId: null,
  reason: null,
  durationMs: 1.5,
  rows: 1,
  bytes: 10,
  error: null,
  sourceIp: null,
  requestId: null,
  detail: null,
};

test("the hash commits to the previous hash and to every field", () => {
  const h = chainHash(GENESIS_HASH, row);
  expect(h).toMatch(/^[0-9a-f]{64}$/);
  expect(chainHash(GENESIS_HASH, row)).toBe(h);
  expect(chainHash("f".repeat(64), row)).not.toBe(h);
  for (const change of [{ sql: "SELECT 2" }, { seq: 2n }, { verdict: "blocked" as const }, { tables: ["x"] }, { durationMs: 1.25 }, { rows: null }]) {
    expect(chainHash(GENESIS_HASH, { ...row, ...change })).not.toBe(h);
  }
  // Field boundaries are unambiguous: moving text from one field to the next changes the content.
  expect(canonicalAuditContent({ ...row, clientName: "ab", clientVersion: "c" })).not.toBe(canonicalAuditContent({ ...row, clientName: "a", clientVersion: "bc" }));
});

test("the chain format is pinned: the content is one JSON array, seq as a string, in this order", () => {
  // Stored chains depend on these exact bytes: a refactor that changes them breaks every verification.
  const expected = JSON.stringify([
    "pc-audit-v1", row.id, row.teamId, "1", row.time, row.kind, null, null, null, null, "cursor", "1.0", "execute_sql",
    "SELECT 1", null, [], "allowed", null, null, 1.5, 1, 10, null, null, null,
  ]);
  expect(canonicalAuditContent(row)).toBe(expected);
  expect(chainHash(GENESIS_HASH, row)).toBe(createHash("sha256").update(`${GENESIS_HASH}\n${expected}`).digest("hex"));
  // Ids are compared lowercased wherever they come from.
  expect(canonicalAuditContent({ ...row, id: row.id.toUpperCase(), teamId: row.teamId.toUpperCase() })).toBe(expected);
});

test("times are one spelling: milliseconds, UTC", () => {
  expect(canonicalTime("2026-11-24T07:00:00.1234+02:00")).toBe("2026-11-24T05:00:00.123Z");
  expect(() => canonicalTime("yesterday")).toThrow(/invalid audit event time/);
});

test("text PostgreSQL cannot store faithfully is made storable", () => {
  expect(sanitizeText("a\u0000b")).toBe("a\uFFFDb");
  expect(sanitizeText("x\ud800y")).toBe("x\uFFFDy");
  expect(sanitizeText(null)).toBeNull();
});

test("the revision and trace id (issue 13) are committed to when set, and rows without them hash as before", () => {
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  // Pinned: a row that sets either field appends [detail, protocolVersion, traceId] after request_id.
  const base = ["pc-audit-v1", row.id, row.teamId, "1", row.time, row.kind, null, null, null, null, "cursor", "1.0", "execute_sql", "SELECT 1", null, [], "allowed", null, null, 1.5, 1, 10, null, null, null];
  expect(canonicalAuditContent({ ...row, protocolVersion: "2026-07-28", traceId })).toBe(JSON.stringify([...base, null, "2026-07-28", traceId]));
  expect(canonicalAuditContent({ ...row, protocolVersion: null, traceId })).toBe(JSON.stringify([...base, null, null, traceId]));
  // Absent (undefined, as rows built before these fields) and null are the same: the old content.
  expect(canonicalAuditContent({ ...row, protocolVersion: null, traceId: null })).toBe(JSON.stringify(base));
  expect(canonicalAuditContent({ ...row, protocolVersion: undefined })).toBe(JSON.stringify(base));
  expect(canonicalAuditContent({ ...row, detail: "{}" })).toBe(JSON.stringify([...base, "{}"]));

  const h = chainHash(GENESIS_HASH, { ...row, protocolVersion: "2025-11-25", traceId });
  for (const change of [{ protocolVersion: "2025-06-18" }, { protocolVersion: null }, { traceId: "5bf92f3577b34da6a3ce929d0e0e4736" }, { traceId: null }]) {
    expect(chainHash(GENESIS_HASH, { ...row, protocolVersion: "2025-11-25", traceId, ...change })).not.toBe(h);
  }
  // No value can pass for another field: an edit moving the revision into `detail` (or the trace id
  // into the revision) changes the content.
  const variants = [
    { detail: "2026-07-28", protocolVersion: null, traceId: null },
    { detail: null, protocolVersion: "2026-07-28", traceId: null },
    { detail: null, protocolVersion: null, traceId: "2026-07-28" },
  ];
  expect(new Set(variants.map((v) => canonicalAuditContent({ ...row, ...v }))).size).toBe(3);
});

test("the rewritten statement and attribute names (issue 14) are committed to when set; rows without them hash as before", () => {
  const base = ["pc-audit-v1", row.id, row.teamId, "1", row.time, row.kind, null, null, null, null, "cursor", "1.0", "execute_sql", "SELECT 1", null, [], "allowed", null, null, 1.5, 1, 10, null, null, null];
  const rewrittenSql = "SELECT 1 FROM (SELECT * FROM customer WHERE support_rep_id = $1 OFFSET 0) AS customer";
  // Pinned: either field appends all five optional fields in place.
  expect(canonicalAuditContent({ ...row, rewrittenSql, attributeNames: ["rep_id"] })).toBe(JSON.stringify([...base, null, null, null, rewrittenSql, ["rep_id"]]));
  expect(canonicalAuditContent({ ...row, protocolVersion: "2026-07-28", rewrittenSql })).toBe(JSON.stringify([...base, null, "2026-07-28", null, rewrittenSql, null]));
  // Absent, null and an empty name list are the old content.
  expect(canonicalAuditContent({ ...row, rewrittenSql: null, attributeNames: [] })).toBe(JSON.stringify(base));
  expect(canonicalAuditContent({ ...row, protocolVersion: "2026-07-28", attributeNames: [] })).toBe(JSON.stringify([...base, null, "2026-07-28", null]));

  const h = chainHash(GENESIS_HASH, { ...row, rewrittenSql, attributeNames: ["rep_id"] });
  for (const change of [{ rewrittenSql: "SELECT 2" }, { rewrittenSql: null }, { attributeNames: ["region"] }, { attributeNames: [] }, { attributeNames: ["rep_id", "region"] }]) {
    expect(chainHash(GENESIS_HASH, { ...row, rewrittenSql, attributeNames: ["rep_id"], ...change })).not.toBe(h);
  }
  // The rewritten text cannot pass for the trace id or detail.
  const variants = [
    { detail: "x", rewrittenSql: null, attributeNames: ["a"] },
    { detail: null, rewrittenSql: "x", attributeNames: ["a"] },
    { detail: null, traceId: "x", rewrittenSql: null, attributeNames: ["a"] },
  ];
  expect(new Set(variants.map((v) => canonicalAuditContent({ ...row, ...v }))).size).toBe(3);
});

test("the write request and access grant (issue 15) are committed to when set; rows without them hash as before", () => {
  const base = ["pc-audit-v1", row.id, row.teamId, "1", row.time, row.kind, null, null, null, null, "cursor", "1.0", "execute_sql", "SELECT 1", null, [], "allowed", null, null, 1.5, 1, 10, null, null, null];
  const wr = "2b6c2f3e-1d2a-4c5b-9e8f-7a6b5c4d3e2f";
  const ag = "3b6c2f3e-1d2a-4c5b-9e8f-7a6b5c4d3e2f";
  // Pinned: either id appends all seven optional fields in place (ids lower-cased).
  expect(canonicalAuditContent({ ...row, writeRequestId: wr.toUpperCase() })).toBe(JSON.stringify([...base, null, null, null, null, null, wr, null]));
  expect(canonicalAuditContent({ ...row, accessGrantId: ag, rewrittenSql: "x" })).toBe(JSON.stringify([...base, null, null, null, "x", null, null, ag]));
  // Absent and null are the old content.
  expect(canonicalAuditContent({ ...row, writeRequestId: null, accessGrantId: undefined })).toBe(JSON.stringify(base));
  const h = chainHash(GENESIS_HASH, { ...row, writeRequestId: wr });
  for (const change of [{ writeRequestId: ag }, { writeRequestId: null }, { writeRequestId: null, accessGrantId: wr }, { accessGrantId: ag }]) {
    expect(chainHash(GENESIS_HASH, { ...row, writeRequestId: wr, ...change })).not.toBe(h);
  }
  // The ids cannot pass for one another or for an earlier field.
  const variants = [{ writeRequestId: wr }, { accessGrantId: wr }, { rewrittenSql: wr }, { detail: wr }];
  expect(new Set(variants.map((v) => canonicalAuditContent({ ...row, ...v }))).size).toBe(4);
});
