import { randomUUID } from "node:crypto";
import { pruneAuditEvents } from "@portcullis/db/audit";
import {
  advanceAuditSinkCursor,
  claimDueAuditSinks,
  createAuditSink,
  listAuditSinks,
  readAuditExportBatch,
  readAuditEventsAfter,
} from "@portcullis/db/operations";
import { generateSecretKey, getKeyring } from "@portcullis/db/secrets";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import pg from "pg";
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { afterAll, beforeAll, expect, test } from "vitest";
import { SinkStatus } from "../src/features/audit-export/sinks-panel";

/**
 * A sink that retention overtook, as the dashboard shows it: the gap is delivered through the same
 * data operations the worker uses (lease, batch read, guarded cursor move), then the team's sink list
 * is rendered. Also the pull API's read, which goes past the anchor (and only past it).
 */
let meta: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  meta = await createMetadataDatabase();
  pool = new pg.Pool({ connectionString: meta.url, max: 3 });
}, 60_000);
afterAll(async () => {
  await pool?.end();
  await meta?.drop();
});

test("after a prune past its cursor the sink shows how many events it skipped and the last gap", async () => {
  const team = (await pool.query<{ id: string }>("INSERT INTO teams (name, slug, audit_retention_days) VALUES ('Gaps', $1, 0) RETURNING id::text", [`gaps-${randomUUID().slice(0, 8)}`])).rows[0]!.id;
  const old = Date.now() - 40 * 86_400_000;
  await pool.query(
    `INSERT INTO audit_events (id, team_id, time, seq, tool, sql, verdict, prev_hash, hash)
     SELECT gen_random_uuid(), $1::uuid, CASE WHEN g <= 4 THEN to_timestamp($2::float8 / 1000) + g * interval '1 s' ELSE now() END,
            g, 'execute_sql', 'SELECT ' || g, 'allowed', md5('e' || (g - 1)), md5('e' || g) FROM generate_series(1, 6) g`,
    [team, old],
  );
  await pool.query("INSERT INTO audit_chain_heads (team_id, last_seq, last_hash) VALUES ($1::uuid, 6, md5('e6'))", [team]);
  const { sink } = await createAuditSink(pool, { teamId: team, kind: "file", name: "archive", via: "cli" }, { keyring: getKeyring(generateSecretKey("test")) });
  const before = await listAuditSinks(pool, { teamId: team });
  expect(renderToStaticMarkup(createElement(SinkStatus, { sink: before[0]! }))).not.toContain("sink-gap");

  expect(await pruneAuditEvents(pool, team, new Date(Date.now() - 30 * 86_400_000), { pauseMs: 0 })).toMatchObject({ deleted: 4, prunedThroughSeq: "4" });
  // The pull API's read goes past the anchor: its first line links to the anchor's hash.
  const pulled = await readAuditEventsAfter(pool, { teamId: team, afterSeq: "0", limit: 10 });
  expect(pulled.map((l) => l.seq)).toEqual(["5", "6"]);
  expect(pulled[0]!.prev_hash).toBe((await pool.query("SELECT md5('e4') AS h")).rows[0].h);

  const owner = `test-${randomUUID()}`;
  const [claimed] = await claimDueAuditSinks(pool, { owner, leaseMs: 30_000, limit: 1 });
  expect(claimed!.id).toBe(sink.id);
  const batch = await readAuditExportBatch(pool, { teamId: team, afterSeq: claimed!.cursorSeq, limit: 10 });
  expect(batch.gap).toMatchObject({ from_seq: "1", to_seq: "4", events: 4 });
  const last = batch.lines.at(-1)!;
  expect(
    await advanceAuditSinkCursor(pool, { sinkId: sink.id, owner, fromSeq: "0", toSeq: last.seq, toHash: last.hash, count: batch.lines.length, gap: { fromSeq: "1", toSeq: "4" } }),
  ).toBe(true);

  const [row] = await listAuditSinks(pool, { teamId: team });
  expect(row).toMatchObject({ cursorSeq: "6", deliveredCount: "2", skippedEvents: "4", lastGapFrom: "1", lastGapTo: "4", lag: "0" });
  const html = renderToStaticMarkup(createElement(SinkStatus, { sink: row! }));
  expect(html).toContain("skipped 4");
  expect(html).toMatch(/data-testid="sink-gap"[^>]*>Retention removed 4 events before this sink received them; last gap: seq 1–4/);
});
