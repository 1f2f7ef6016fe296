import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect, test } from "vitest";
import {
  type AuditEventInput,
  dropExpiredPartitions,
  ensurePartitions,
  ingestAuditBatch,
  listAuditPartitions,
  parseAuditChainKey,
  pruneAuditEvents,
  verifyAuditChain,
} from "../src/audit/index.js";
import { anchorMac } from "../src/audit/chain-key.js";
import { auditSuiteDatabase } from "./support/audit-suite.js";

// Each test works in months of its own (2025, 2030, 2031, 1999/2999), so they share one database.
const suite = auditSuiteDatabase(6);
const key = parseAuditChainKey(randomBytes(32).toString("hex"));

const ev = (teamId: string, time: string, sql = `SELECT ${randomUUID()}`): AuditEventInput => ({
  id: randomUUID(),
  time,
  teamId,
  tool: "execute_sql",
  sql,
  verdict: "allowed",
});
const recent = (offsetMs = 0) => new Date(Date.now() - 60_000 + offsetMs).toISOString();

async function whereIs(ids: string[]): Promise<Map<string, string>> {
  const { rows } = await suite.pool.query<{ id: string; part: string }>(
    `SELECT id::text, tableoid::regclass::text AS part FROM audit_events WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.part]));
}

async function anchor(teamId: string) {
  const { rows } = await suite.pool.query<{ seq: string; hash: string; mac: string | null; count: string }>(
    `SELECT pruned_through_seq::text AS seq, pruned_through_hash AS hash, pruned_mac AS mac, pruned_count::text AS count
     FROM audit_chain_anchors WHERE team_id = $1`,
    [teamId],
  );
  return rows[0];
}

async function seqs(teamId: string): Promise<number[]> {
  const { rows } = await suite.pool.query<{ seq: number }>(`SELECT seq::int FROM audit_events WHERE team_id = $1 ORDER BY seq`, [teamId]);
  return rows.map((r) => r.seq);
}

describe("audit_events partitioned by month", () => {
  test("a replay across a month boundary is stored once, each event in its month", async () => {
    await ensurePartitions(suite.pool, { now: new Date("2030-11-15T00:00:00Z"), ahead: 1 });
    const t = await suite.team();
    const before = ev(t, "2030-11-30T23:59:59.999Z");
    const after = ev(t, "2030-12-01T00:00:00.000Z");
    expect(await ingestAuditBatch(suite.pool, [before, after], { key })).toMatchObject({ inserted: 2, duplicates: 0 });
    // The worker crashed after the commit and its queue delivers again, with a new event behind.
    const next = ev(t, "2030-12-01T00:00:01.000Z");
    expect(await ingestAuditBatch(suite.pool, [after, before, next], { key })).toMatchObject({ inserted: 1, duplicates: 2 });
    expect(await ingestAuditBatch(suite.pool, [before], { key })).toMatchObject({ inserted: 0, duplicates: 1 });
    const where = await whereIs([before.id, after.id, next.id]);
    expect(where.get(before.id)).toBe("audit_events_p203011");
    expect(where.get(after.id)).toBe("audit_events_p203012");
    expect(where.get(next.id)).toBe("audit_events_p203012");
    expect(await seqs(t)).toEqual([1, 2, 3]);
    expect(await verifyAuditChain(suite.pool, t, { key })).toMatchObject({ ok: true, checked: 3 });
  });

  test("an event far in the past or future lands in DEFAULT, and moves to its month when that is created", async () => {
    const t = await suite.team();
    const past = ev(t, "1999-03-04T05:06:07.089Z");
    const future = ev(t, "2999-01-02T03:04:05.678Z");
    const now = ev(t, recent());
    await ingestAuditBatch(suite.pool, [past, now, future], { key });
    let where = await whereIs([past.id, future.id, now.id]);
    expect(where.get(past.id)).toBe("audit_events_default");
    expect(where.get(future.id)).toBe("audit_events_default");
    expect(where.get(now.id)).toMatch(/^audit_events_p\d{6}$/);

    const made = await ensurePartitions(suite.pool, { now: new Date("2999-01-20T00:00:00Z"), ahead: 0 });
    expect(made).toEqual({ created: ["audit_events_p299901"], moved: 1 });
    where = await whereIs([past.id, future.id]);
    expect(where.get(future.id)).toBe("audit_events_p299901");
    expect(where.get(past.id)).toBe("audit_events_default");
    // Moved with every column intact: the chain (which hashes all of them) still holds, replays are still refused.
    expect(await verifyAuditChain(suite.pool, t, { key })).toMatchObject({ ok: true, checked: 3 });
    expect(await ingestAuditBatch(suite.pool, [future], { key })).toMatchObject({ inserted: 0, duplicates: 1 });
    const { rows } = await suite.pool.query(`SELECT count(*)::int AS n FROM audit_statements WHERE team_id = $1`, [t]);
    expect(rows[0].n).toBe(3);
  });

  test("ensurePartitions is idempotent with two concurrent callers", async () => {
    const now = new Date("2031-05-09T00:00:00Z");
    const [a, b] = await Promise.all([ensurePartitions(suite.pool, { now, ahead: 2 }), ensurePartitions(suite.pool, { now, ahead: 2 })]);
    expect([...a.created, ...b.created].sort()).toEqual(["audit_events_p203105", "audit_events_p203106", "audit_events_p203107"]);
    expect(await ensurePartitions(suite.pool, { now, ahead: 2 })).toEqual({ created: [], moved: 0 });
    const names = (await listAuditPartitions(suite.pool)).map((p) => p.name);
    expect(names.filter((n) => n.startsWith("audit_events_p2031"))).toEqual(["audit_events_p203105", "audit_events_p203106", "audit_events_p203107"]);
  });

  test("dropping expired months moves anchors (signed), keeps stragglers, and every chain still verifies", async () => {
    await ensurePartitions(suite.pool, { now: new Date("2025-01-10T00:00:00Z"), ahead: 2 });
    const [a, b, c, d] = [await suite.team(), await suite.team(), await suite.team(), await suite.team()];
    const jan = (day: number) => `2025-01-${String(day).padStart(2, "0")}T10:00:00.000Z`;
    const feb = (day: number) => `2025-02-${String(day).padStart(2, "0")}T10:00:00.000Z`;
    // A: 1..5 in January, 6..8 in February, 9..10 now, then 11: an outbox replayed after an outage
    // with January's time but the next seq.
    await ingestAuditBatch(suite.pool, [1, 2, 3, 4, 5].map((i) => ev(a, jan(i))), { key });
    await ingestAuditBatch(suite.pool, [1, 2, 3].map((i) => ev(a, feb(i))), { key });
    await ingestAuditBatch(suite.pool, [ev(a, recent()), ev(a, recent(1))], { key });
    const straggler = ev(a, jan(20));
    await ingestAuditBatch(suite.pool, [straggler], { key });
    // B: 1 now, 2 with January's time: no prefix in January at all.
    await ingestAuditBatch(suite.pool, [ev(b, recent()), ev(b, jan(3))], { key });
    // C: its whole chain in January.
    await ingestAuditBatch(suite.pool, [1, 2, 3].map((i) => ev(c, jan(i))), { key });
    // D: 1 in February, 2 in January (dropped first, so 2 is a straggler until 1 goes).
    await ingestAuditBatch(suite.pool, [ev(d, feb(9)), ev(d, jan(9))], { key });
    const march = ev(a, "2025-03-05T00:00:00.000Z");
    const { rows: totalBefore } = await suite.pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE team_id = ANY($1::uuid[])`, [[a, b, c, d]]);

    const dropped = await dropExpiredPartitions(suite.pool, { before: new Date("2025-03-01T00:00:00Z"), key });
    expect(dropped.map((p) => p.name)).toEqual(["audit_events_p202501", "audit_events_p202502"]);
    // January: A 1..5, C 1..3 dropped; A's 11, B's 2, D's 2 moved. February: A 6..8 and D 1.
    expect(dropped[0]).toMatchObject({ events: 8, stragglers: 3, anchors: 2 });
    expect(dropped[1]).toMatchObject({ events: 4, stragglers: 0, anchors: 2 });
    const names = (await listAuditPartitions(suite.pool)).map((p) => p.name);
    expect(names).not.toContain("audit_events_p202501");
    expect(names).toContain("audit_events_p202503");
    expect((await whereIs([straggler.id])).get(straggler.id)).toBe("audit_events_default");

    // Nothing within retention (or above a team's prefix) is lost.
    expect(await seqs(a)).toEqual([9, 10, 11]);
    expect(await seqs(b)).toEqual([1, 2]);
    expect(await seqs(c)).toEqual([]);
    expect(await seqs(d)).toEqual([2]);
    const { rows: totalAfter } = await suite.pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE team_id = ANY($1::uuid[])`, [[a, b, c, d]]);
    expect(totalAfter[0].n).toBe(totalBefore[0].n - 12);

    for (const [team, seq, count] of [[a, "8", "8"], [c, "3", "3"], [d, "1", "1"]] as const) {
      const an = await anchor(team);
      expect(an).toMatchObject({ seq, count });
      expect(an!.mac).toBe(anchorMac(key, team, an!.seq, an!.hash));
    }
    expect(await anchor(b)).toMatchObject({ seq: "0", count: "0" });
    for (const team of [a, b, c, d]) expect(await verifyAuditChain(suite.pool, team, { key })).toMatchObject({ ok: true });
    // Activity's rollups of the dropped months count exactly what is left there (the stragglers), per
    // team, in every slice: no chart keeps counting dropped events.
    const { rows: rolled } = await suite.pool.query<{ team: string; dim: string; n: number }>(
      `SELECT team_id::text AS team, dim, sum(n)::int AS n FROM audit_rollups
        WHERE team_id = ANY($1::uuid[]) AND hour >= '2025-01-01' AND hour < '2025-03-01' AND dim IN ('', 'l') GROUP BY 1, 2 ORDER BY 1, 2`,
      [[a, b, c, d]],
    );
    const { rows: left } = await suite.pool.query<{ team: string; n: number }>(
      `SELECT team_id::text AS team, count(*)::int AS n FROM audit_events
        WHERE team_id = ANY($1::uuid[]) AND time >= '2025-01-01' AND time < '2025-03-01' GROUP BY 1`,
      [[a, b, c, d]],
    );
    expect(left.map((r) => r.n).reduce((x, y) => x + y, 0)).toBe(3);
    expect(rolled.filter((r) => r.dim === "")).toEqual(left.map((r) => ({ team: r.team, dim: "", n: r.n })).sort((x, y) => x.team.localeCompare(y.team)));

    // D's straggler now leads its chain: the chunked pruner removes it, signed, and D still verifies.
    expect(await pruneAuditEvents(suite.pool, d, new Date("2025-03-01T00:00:00Z"), { key, pauseMs: 0 })).toMatchObject({ deleted: 1, prunedThroughSeq: "2" });
    expect(await verifyAuditChain(suite.pool, d, { key })).toMatchObject({ ok: true, checked: 0 });

    // Later events still chain on after the drop.
    await ingestAuditBatch(suite.pool, [march, ev(c, recent())], { key });
    expect(await verifyAuditChain(suite.pool, a, { key })).toMatchObject({ ok: true, checked: 4 });
    expect(await verifyAuditChain(suite.pool, c, { key })).toMatchObject({ ok: true, checked: 1 });

    // Tampering after the drop is still found: a straggler deleted, an anchor moved without the key.
    await suite.pool.query(`DELETE FROM audit_events WHERE id = $1`, [straggler.id]);
    expect(await verifyAuditChain(suite.pool, a, { key })).toMatchObject({ ok: false, firstBroken: { reason: expect.stringMatching(/removed/) } });
    const { rows: b1 } = await suite.pool.query(`SELECT hash FROM audit_events WHERE team_id = $1 AND seq = 1`, [b]);
    await suite.pool.query(`UPDATE audit_chain_anchors SET pruned_through_seq = 1, pruned_through_hash = $2 WHERE team_id = $1`, [b, b1[0].hash]);
    await suite.pool.query(`DELETE FROM audit_events WHERE team_id = $1 AND seq = 1`, [b]);
    expect(await verifyAuditChain(suite.pool, b, { key })).toMatchObject({ ok: false, firstBroken: { reason: expect.stringMatching(/not signed/) } });
  });

  test("deleting a team files its events from every partition in audit_orphans", async () => {
    await ensurePartitions(suite.pool, { now: new Date("2030-11-15T00:00:00Z"), ahead: 1 });
    const t = await suite.team();
    const batch = [ev(t, "2030-11-02T00:00:00.000Z"), ev(t, "2030-12-02T00:00:00.000Z"), ev(t, "1998-01-01T00:00:00.000Z"), ev(t, recent())];
    await ingestAuditBatch(suite.pool, batch, { key });
    expect(new Set((await whereIs(batch.map((e) => e.id))).values()).size).toBe(4);
    await suite.pool.query(`DELETE FROM teams WHERE id = $1`, [t]);
    const { rows } = await suite.pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE team_id = $1`, [t]);
    expect(rows[0].n).toBe(0);
    const { rows: orphans } = await suite.pool.query(`SELECT id::text FROM audit_orphans WHERE team_id = $1`, [t]);
    expect(orphans.map((o) => o.id).sort()).toEqual(batch.map((e) => e.id).sort());
  });
});
