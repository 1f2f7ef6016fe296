import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect, test } from "vitest";
import {
  type AuditEventInput,
  type Checkpoint,
  ingestAuditBatch,
  parseAuditChainKey,
  pruneAuditEvents,
  signCheckpoint,
  verifyAuditChain,
} from "../src/audit/index.js";
import { chainHash, type AuditRow } from "../src/audit/canonical.js";
import { auditSuiteDatabase } from "./support/audit-suite.js";

const suite = auditSuiteDatabase(4);
const team = () => suite.team();
const key = parseAuditChainKey(randomBytes(32).toString("hex"));
const otherKey = parseAuditChainKey(randomBytes(32).toString("hex"));

const event = (teamId: string, i: number): AuditEventInput => ({
  id: randomUUID(),
  time: new Date(Date.now() - 10_000 + i).toISOString(),
  teamId,
  tool: "execute_sql",
  sql: `SELECT ${i}`,
  verdict: "allowed",
});
const events = (teamId: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => event(teamId, from + i));

async function head(teamId: string): Promise<{ seq: string; hash: string }> {
  const { rows } = await suite.pool.query(`SELECT last_seq::text AS seq, last_hash AS hash FROM audit_chain_heads WHERE team_id = $1`, [teamId]);
  return rows[0];
}

/** What the worker signs after a batch: the head as it committed it. */
async function checkpointNow(teamId: string, k = key): Promise<Checkpoint> {
  const h = await head(teamId);
  return signCheckpoint(k, { teamId, seq: h.seq, hash: h.hash, at: new Date().toISOString() });
}

/** The attack of issue 12: delete the newest N events and set the head back to the new last one. */
async function truncateAndRewind(teamId: string, n: number): Promise<void> {
  await suite.pool.query(`DELETE FROM audit_events WHERE team_id = $1 AND seq > (SELECT max(seq) - $2 FROM audit_events WHERE team_id = $1)`, [teamId, n]);
  await suite.pool.query(
    `UPDATE audit_chain_heads h SET last_seq = e.seq, last_hash = e.hash FROM
       (SELECT seq, hash FROM audit_events WHERE team_id = $1 ORDER BY seq DESC LIMIT 1) e WHERE h.team_id = $1`,
    [teamId],
  );
}

describe("the keyed chain", () => {
  test("a SHA-256 chain upgrades to HMAC at a verifiable point, and the report says which part is keyed", async () => {
    const t = await team();
    await ingestAuditBatch(suite.pool, events(t, 10));
    await ingestAuditBatch(suite.pool, events(t, 15, 10), { key });
    const { rows } = await suite.pool.query(`SELECT seq::int, hash FROM audit_events WHERE team_id = $1 ORDER BY seq`, [t]);
    expect(rows.slice(0, 10).every((r) => /^[0-9a-f]{64}$/.test(r.hash))).toBe(true);
    expect(rows.slice(10).every((r) => /^k1:[0-9a-f]{64}$/.test(r.hash))).toBe(true);
    expect(await verifyAuditChain(suite.pool, t, { key })).toMatchObject({ ok: true, checked: 25, keyedFromSeq: "11", keyChecked: true });
    // Without the key the keyed part cannot be vouched for, and with another key it does not hold.
    expect(await verifyAuditChain(suite.pool, t)).toMatchObject({ ok: false, firstBroken: { seq: "11", reason: expect.stringContaining("needs AUDIT_CHAIN_KEY") } });
    expect(await verifyAuditChain(suite.pool, t, { key: otherKey })).toMatchObject({ ok: false, firstBroken: { seq: "11" } });
  });

  test("an edited keyed event cannot be re-hashed without the key, not even by downgrading the tail to SHA-256", async () => {
    const t = await team();
    await ingestAuditBatch(suite.pool, events(t, 5));
    await ingestAuditBatch(suite.pool, events(t, 5, 5), { key });
    // The attacker edits seq 8 and recomputes seq 8..10 as plain SHA-256 (all they can compute), head included.
    const { rows } = await suite.pool.query(
      `SELECT id::text, team_id::text AS "teamId", seq, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS time, kind, tool, sql, tables, verdict::text AS verdict, duration_ms AS "durationMs", prev_hash
       FROM audit_events WHERE team_id = $1 AND seq >= 7 ORDER BY seq`,
      [t],
    );
    let prev: string = rows[0].prev_hash;
    for (const r of rows) {
      const row: AuditRow = {
        id: r.id, teamId: r.teamId, seq: BigInt(r.seq), time: r.time, kind: r.kind, linkId: null, apiKeyId: null, oauthClientId: null, userId: null,
        clientName: null, clientVersion: null, tool: r.tool, sql: r.seq === "8" ? "SELECT 'innocent'" : r.sql, fingerprint: null, tables: r.tables,
        verdict: r.verdict, ruleId: null, reason: null, durationMs: Number(r.durationMs), rows: null, bytes: null, error: null, sourceIp: null, requestId: null, detail: null,
      };
      const hash = chainHash(prev, row);
      await suite.pool.query(`UPDATE audit_events SET sql = $2, prev_hash = $3, hash = $4 WHERE id = $1`, [r.id, row.sql, prev, hash]);
      prev = hash;
    }
    await suite.pool.query(`UPDATE audit_chain_heads SET last_hash = $2 WHERE team_id = $1`, [t, prev]);
    expect(await verifyAuditChain(suite.pool, t, { key })).toMatchObject({ ok: false, firstBroken: { seq: "7", reason: expect.stringContaining("unkeyed event after keyed ones") } });
  });
});

describe("the head checkpointed outside the database", () => {
  test("deleting the newest events and rewinding the head passes without a checkpoint and fails with one", async () => {
    const t = await team();
    await ingestAuditBatch(suite.pool, events(t, 20), { key });
    const checkpoint = await checkpointNow(t);
    expect(await verifyAuditChain(suite.pool, t, { key, checkpoint })).toMatchObject({ ok: true, checked: 20, checkpoint: { seq: "20", status: "matched" } });

    await truncateAndRewind(t, 5);
    // The hole issue 12 reports: the database alone is consistent again.
    expect(await verifyAuditChain(suite.pool, t, { key })).toMatchObject({ ok: true, checked: 15 });
    const result = await verifyAuditChain(suite.pool, t, { key, checkpoint });
    expect(result.ok).toBe(false);
    expect(result.firstBroken?.reason).toMatch(/events 16\.\.20 are missing: the checkpoint signed at .* recorded the chain at seq 20, the database ends at seq 15/);
  });

  test("a rewritten chain behind the checkpoint, a forged or foreign checkpoint are refused", async () => {
    const t = await team();
    await ingestAuditBatch(suite.pool, events(t, 10), { key });
    const checkpoint = await checkpointNow(t);
    // A checkpoint moved forward by someone without the key.
    const forged: Checkpoint = { ...checkpoint, seq: "5" };
    expect(await verifyAuditChain(suite.pool, t, { key, checkpoint: forged })).toMatchObject({ ok: false, firstBroken: { reason: expect.stringContaining("signature is not valid") } });
    expect(await verifyAuditChain(suite.pool, t, { key, checkpoint: await checkpointNow(t, otherKey) })).toMatchObject({ ok: false });
    // Another team's valid checkpoint does not vouch for this one.
    const other = await team();
    await ingestAuditBatch(suite.pool, events(other, 10), { key });
    expect(await verifyAuditChain(suite.pool, t, { key, checkpoint: await checkpointNow(other) })).toMatchObject({ ok: false });
    // Delete the last 3 events and write 3 new ones in their place (the worker does it with the key): same seq, other hash.
    await truncateAndRewind(t, 3);
    await ingestAuditBatch(suite.pool, events(t, 3, 100), { key });
    expect(await verifyAuditChain(suite.pool, t, { key })).toMatchObject({ ok: true });
    expect(await verifyAuditChain(suite.pool, t, { key, checkpoint })).toMatchObject({ ok: false, firstBroken: { seq: "10", reason: expect.stringContaining("chain was rewritten") } });
  });
});

describe("the retention anchor", () => {
  test("retention's signed cut verifies; deleting everything and moving the anchor to the newest event does not", async () => {
    const t = await team();
    const old = events(t, 10).map((e, i) => ({ ...e, time: new Date(Date.now() - 100 * 86_400_000 + i).toISOString() }));
    await ingestAuditBatch(suite.pool, old, { key });
    await ingestAuditBatch(suite.pool, events(t, 5, 10), { key });
    const checkpoint = await checkpointNow(t);
    await pruneAuditEvents(suite.pool, t, new Date(Date.now() - 30 * 86_400_000), { pauseMs: 0, key });
    expect(await verifyAuditChain(suite.pool, t, { key, checkpoint })).toMatchObject({ ok: true, checked: 5, prunedThroughSeq: "10" });

    // The attacker deletes the recent events too and "explains" it as retention, anchor and head consistent.
    await suite.pool.query(`DELETE FROM audit_events WHERE team_id = $1`, [t]);
    await suite.pool.query(`UPDATE audit_chain_anchors SET pruned_through_seq = 15, pruned_through_hash = $2 WHERE team_id = $1`, [t, checkpoint.hash]);
    const v = await verifyAuditChain(suite.pool, t, { key, checkpoint });
    expect(v).toMatchObject({ ok: false, firstBroken: { seq: "15", reason: expect.stringContaining("not signed with the chain key") } });
  });
});

describe("a head that does not match its events", () => {
  test("a rewound head does not stall ingestion: the chain continues after an explicit break event", async () => {
    const t = await team();
    await ingestAuditBatch(suite.pool, events(t, 10), { key });
    await suite.pool.query(`UPDATE audit_chain_heads SET last_seq = 4, last_hash = (SELECT hash FROM audit_events WHERE team_id = $1 AND seq = 4) WHERE team_id = $1`, [t]);
    const result = await ingestAuditBatch(suite.pool, events(t, 5, 10), { key });
    expect(result).toMatchObject({ inserted: 5, breaks: [{ teamId: t, head: { seq: "4" }, stored: { seq: "10" }, continuedFrom: { seq: "10" } }] });
    const { rows } = await suite.pool.query(`SELECT seq::int, kind, reason FROM audit_events WHERE team_id = $1 AND seq > 10 ORDER BY seq`, [t]);
    expect(rows.map((r) => r.kind)).toEqual(["chain_break", "tool_call", "tool_call", "tool_call", "tool_call", "tool_call"]);
    expect(rows[0].reason).toMatch(/set back from seq 10 to seq 4/);
    expect(await head(t)).toMatchObject({ seq: "16" });
    // Every link holds (nothing was lost), and the verification still reports the break.
    const v = await verifyAuditChain(suite.pool, t, { key });
    expect(v).toMatchObject({ ok: false, checked: 16, breaks: [{ seq: "11" }], firstBroken: { seq: "11", reason: expect.stringContaining("chain break") } });
    // …and the next batch is ordinary.
    expect(await ingestAuditBatch(suite.pool, events(t, 2, 20), { key })).toMatchObject({ inserted: 2, breaks: [] });
  });

  test("newest events deleted under an unchanged head: events keep landing, the gap stays visible", async () => {
    const t = await team();
    await ingestAuditBatch(suite.pool, events(t, 10), { key });
    await suite.pool.query(`DELETE FROM audit_events WHERE team_id = $1 AND seq > 7`, [t]);
    const result = await ingestAuditBatch(suite.pool, events(t, 3, 10), { key });
    expect(result).toMatchObject({ inserted: 3, breaks: [{ head: { seq: "10" }, stored: { seq: "7" }, continuedFrom: { seq: "10" } }] });
    const { rows } = await suite.pool.query(`SELECT seq::int, kind, reason FROM audit_events WHERE team_id = $1 AND seq > 7 ORDER BY seq`, [t]);
    expect(rows.map((r) => r.seq)).toEqual([11, 12, 13, 14]);
    expect(rows[0]).toMatchObject({ kind: "chain_break", reason: expect.stringContaining("events 8..10 are missing") });
    expect(await verifyAuditChain(suite.pool, t, { key })).toMatchObject({ ok: false, firstBroken: { seq: "11", reason: expect.stringContaining("3 event(s) before this one were removed") } });
  });
});
