import { randomUUID } from "node:crypto";
import { describe, expect, test } from "vitest";
import { createPrismaClient } from "../src/client.js";
import { GENESIS_HASH, type AuditEventInput, ingestAuditBatch, pruneAuditEvents, verifyAuditChain } from "../src/audit/index.js";
import { auditSuiteDatabase } from "./support/audit-suite.js";

const suite = auditSuiteDatabase(6);
const team = () => suite.team();

function event(teamId: string, i: number, extra: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    id: randomUUID(),
    time: new Date(Date.now() - 1000 + i).toISOString(),
    teamId,
    tool: "execute_sql",
    sql: `SELECT ${i}`,
    tables: ["public.t"],
    verdict: "allowed",
    durationMs: i / 3,
    ...extra,
  };
}

describe("the audit hash chain", () => {
  test("batches are idempotent on id and the chain verifies", async () => {
    const t = await team();
    const batch = Array.from({ length: 50 }, (_, i) => event(t, i));
    expect(await ingestAuditBatch(suite.pool, batch)).toMatchObject({ inserted: 50, duplicates: 0 });
    // The same events again, plus repeats inside one batch: nothing new, no gap in seq.
    const again = await ingestAuditBatch(suite.pool, [...batch.slice(0, 10), batch[0]!, event(t, 99)]);
    expect(again).toMatchObject({ inserted: 1, duplicates: 11 });
    const { rows } = await suite.pool.query(`SELECT min(seq)::int AS lo, max(seq)::int AS hi, count(*)::int AS n FROM audit_events WHERE team_id = $1`, [t]);
    expect(rows[0]).toEqual({ lo: 1, hi: 51, n: 51 });
    expect(await verifyAuditChain(suite.pool, t)).toMatchObject({ ok: true, checked: 51 });
    // The Prisma client (as the CLI passes it) and a URL work the same.
    const prisma = createPrismaClient(suite.db.url);
    try {
      expect(await verifyAuditChain(prisma, t)).toMatchObject({ ok: true, checked: 51 });
    } finally {
      await prisma.$disconnect();
    }
    expect(await verifyAuditChain(suite.db.url, t)).toMatchObject({ ok: true, checked: 51 });
  });

  test("concurrent batches for the same teams keep each chain linear", async () => {
    const [a, b] = [await team(), await team()];
    await Promise.all(Array.from({ length: 12 }, (_, k) => ingestAuditBatch(suite.pool, Array.from({ length: 40 }, (_, i) => event(i % 2 ? a : b, k * 40 + i)))));
    for (const t of [a, b]) expect(await verifyAuditChain(suite.pool, t)).toMatchObject({ ok: true, checked: 240 });
  });

  test("text a client controls (NUL bytes, lone surrogates) is stored and still verifies", async () => {
    const t = await team();
    await ingestAuditBatch(suite.pool, [event(t, 1, { sql: "SELECT 1\u0000; DROP TABLE x", reason: "bad \ud800 surrogate", tables: ['we"ird\\name', "a,b"] })]);
    expect(await verifyAuditChain(suite.pool, t)).toMatchObject({ ok: true, checked: 1 });
  });

  test("an event for a team that no longer exists is kept in audit_orphans, not in a chain", async () => {
    const gone = randomUUID();
    const late = event(gone, 1);
    const result = await ingestAuditBatch(suite.pool, [late]);
    expect(result.inserted).toBe(0);
    expect(result.unknownTeam).toEqual([late.id]);
    // A replay of the same event keeps one orphan row.
    await ingestAuditBatch(suite.pool, [late]);
    const { rows } = await suite.pool.query(`SELECT id, team_id, event, reason FROM audit_orphans WHERE team_id = $1`, [gone]);
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0].event)).toMatchObject({ id: late.id, sql: late.sql });
    expect(rows[0].reason).toMatch(/team does not exist/);
  });

  test("an edited row is the first broken link", async () => {
    const t = await team();
    await ingestAuditBatch(suite.pool, Array.from({ length: 30 }, (_, i) => event(t, i)));
    const { rows } = await suite.pool.query(`SELECT id FROM audit_events WHERE team_id = $1 AND seq = 17`, [t]);
    await suite.pool.query(`UPDATE audit_events SET sql = 'SELECT harmless' WHERE id = $1`, [rows[0].id]);
    const result = await verifyAuditChain(suite.pool, t);
    expect(result.ok).toBe(false);
    expect(result.firstBroken).toMatchObject({ seq: "17", id: rows[0].id });
    expect(result.firstBroken!.reason).toMatch(/edited/);
    expect(result.checked).toBe(17);
  });

  test("an edit that also recomputes the row's hash is caught at the next link", async () => {
    const t = await team();
    await ingestAuditBatch(suite.pool, Array.from({ length: 10 }, (_, i) => event(t, i)));
    await suite.pool.query(`UPDATE audit_events SET hash = repeat('a', 64) WHERE team_id = $1 AND seq = 4`, [t]);
    const result = await verifyAuditChain(suite.pool, t);
    expect(result.firstBroken?.seq).toBe("4");
  });

  test("a removed row, and removed newest rows, are found", async () => {
    const t = await team();
    await ingestAuditBatch(suite.pool, Array.from({ length: 20 }, (_, i) => event(t, i)));
    await suite.pool.query(`DELETE FROM audit_events WHERE team_id = $1 AND seq = 20`, [t]);
    expect((await verifyAuditChain(suite.pool, t)).firstBroken).toMatchObject({ seq: "20", id: "" });
    await suite.pool.query(`DELETE FROM audit_events WHERE team_id = $1 AND seq = 8`, [t]);
    const result = await verifyAuditChain(suite.pool, t);
    expect(result.firstBroken).toMatchObject({ seq: "9" });
    expect(result.firstBroken!.reason).toMatch(/removed/);
  });

  test("retention removes the oldest events in chunks and the rest still verifies; deleting beyond it is caught", async () => {
    const t = await team();
    const old = Array.from({ length: 25 }, (_, i) => event(t, i, { time: new Date(Date.now() - 40 * 86_400_000 + i).toISOString() }));
    const recent = Array.from({ length: 10 }, (_, i) => event(t, 100 + i));
    await ingestAuditBatch(suite.pool, old);
    await ingestAuditBatch(suite.pool, recent);
    const pruned = await pruneAuditEvents(suite.pool, t, new Date(Date.now() - 30 * 86_400_000), { chunkSize: 7, pauseMs: 0 });
    expect(pruned).toMatchObject({ deleted: 25, prunedThroughSeq: "25", more: false });
    expect(await verifyAuditChain(suite.pool, t)).toMatchObject({ ok: true, checked: 10, prunedThroughSeq: "25" });
    // Ingestion continues after retention.
    await ingestAuditBatch(suite.pool, [event(t, 200)]);
    expect(await verifyAuditChain(suite.pool, t)).toMatchObject({ ok: true, checked: 11 });
    // Someone deleting the oldest remaining event is not retention.
    await suite.pool.query(`DELETE FROM audit_events WHERE team_id = $1 AND seq = 26`, [t]);
    expect((await verifyAuditChain(suite.pool, t)).firstBroken).toMatchObject({ seq: "27" });
  });

  test("statement shapes are kept once per team, lead a text search to its events, and leave with the last event that used them", async () => {
    const t = await team();
    const other = await team();
    const oldTime = () => new Date(Date.now() - 40 * 86_400_000).toISOString();
    await ingestAuditBatch(suite.pool, [
      event(t, 1, { sql: "SELECT name FROM artist WHERE artist_id = 7", time: oldTime() }),
      event(t, 2, { sql: "SELECT email FROM customer", time: oldTime() }),
      event(t, 3, { sql: "SELECT name FROM artist WHERE artist_id = 12" }),
      event(t, 4, { sql: "SELECT name FROM artist WHERE artist_id = 1000 LIMIT 5" }),
      event(t, 5, { sql: null, tool: "list_tables" }),
      event(other, 1, { sql: "SELECT name FROM artist WHERE artist_id = 7" }),
    ]);
    const shapes = async (teamId: string) =>
      (await suite.pool.query<{ shape: string }>(`SELECT shape FROM audit_statements WHERE team_id = $1 ORDER BY shape`, [teamId])).rows.map((r) => r.shape);
    // Texts that differ only in their numbers share one shape.
    expect(await shapes(t)).toEqual([
      "SELECT email FROM customer",
      "SELECT name FROM artist WHERE artist_id = ?",
      "SELECT name FROM artist WHERE artist_id = ? LIMIT ?",
    ]);
    expect(await shapes(other)).toEqual(["SELECT name FROM artist WHERE artist_id = ?"]);
    // The Activity search: shapes containing the digit-free anchor, then events rechecked by text.
    const search = async (anchor: string, text: string) =>
      (
        await suite.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM audit_events WHERE team_id = $1 AND sql ILIKE $3 AND shape_hash IN
             (SELECT shape_hash FROM audit_statements s WHERE s.team_id = $1 AND s.shape ILIKE $2)`,
          [t, `%${anchor}%`, `%${text}%`],
        )
      ).rows[0]!.n;
    expect(await search("FROM artist", "FROM artist")).toBe(3);
    expect(await search("artist_id = ", "artist_id = 12")).toBe(1);
    expect(await search(" LIMIT ", "= 1000 LIMIT 5")).toBe(1);
    // Retention: the customer shape was used only by an old event and goes; the artist shape stays.
    await pruneAuditEvents(suite.pool, t, new Date(Date.now() - 30 * 86_400_000), { pauseMs: 0 });
    expect(await shapes(t)).toEqual(["SELECT name FROM artist WHERE artist_id = ?", "SELECT name FROM artist WHERE artist_id = ? LIMIT ?"]);
    expect(await shapes(other)).toEqual(["SELECT name FROM artist WHERE artist_id = ?"]);
    expect(await verifyAuditChain(suite.pool, t)).toMatchObject({ ok: true });
  });

  test("a team without events verifies trivially", async () => {
    expect(await verifyAuditChain(suite.pool, await team())).toMatchObject({ ok: true, checked: 0 });
    expect(GENESIS_HASH).toHaveLength(64);
  });

  test("deleting a team removes its events, including a batch that commits while the deletion waits", async () => {
    const t = await team();
    await ingestAuditBatch(suite.pool, [event(t, 1), event(t, 2)]);
    // A batch in flight: it holds the team's chain head, as ingestAuditBatch does until it commits.
    const batch = await suite.pool.connect();
    const remover = await suite.pool.connect();
    try {
      await batch.query("BEGIN");
      await batch.query(`SELECT 1 FROM audit_chain_heads WHERE team_id = $1 FOR UPDATE`, [t]);
      await batch.query(
        `INSERT INTO audit_events (id, team_id, time, seq, kind, tables, verdict, duration_ms, prev_hash, hash)
         VALUES ($1, $2, now(), 3, 'tool_call', '{}', 'allowed', 0, $3, $3)`,
        [randomUUID(), t, "0".repeat(64)],
      );
      const deletion = remover.query(`DELETE FROM teams WHERE id = $1`, [t]);
      await new Promise((r) => setTimeout(r, 200));
      await batch.query("COMMIT");
      await deletion;
    } finally {
      batch.release();
      remover.release();
    }
    const { rows } = await suite.pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE team_id = $1`, [t]);
    expect(rows[0].n).toBe(0);
  });

  test("team deletions racing real batches leave no event in the chain, and every event in audit_orphans", async () => {
    for (let round = 0; round < 10; round++) {
      const t = await team();
      const first = event(t, 0);
      await ingestAuditBatch(suite.pool, [first]);
      const sent = Array.from({ length: 3 }, (_, b) => Array.from({ length: 200 }, (_, i) => event(t, b * 200 + i)));
      const batches = sent.map((events) =>
        ingestAuditBatch(suite.pool, events).catch(async (error: { code?: string }) => {
          // The team went first: the batch's new chain head cannot reference it. The worker retries it.
          expect(error.code).toBe("23503");
          await ingestAuditBatch(suite.pool, events);
        }),
      );
      await new Promise((r) => setTimeout(r, round));
      await suite.pool.query(`DELETE FROM teams WHERE id = $1`, [t]);
      await Promise.all(batches);
      const { rows } = await suite.pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE team_id = $1`, [t]);
      expect(rows[0].n, `round ${round}`).toBe(0);
      // No call without its record: stored before the deletion or arriving after it, each is kept.
      const ids = [first, ...sent.flat()].map((e) => e.id);
      const kept = await suite.pool.query(`SELECT count(*)::int AS n FROM audit_orphans WHERE id = ANY($1::uuid[])`, [ids]);
      expect(kept.rows[0].n, `round ${round}`).toBe(ids.length);
    }
  });
});
