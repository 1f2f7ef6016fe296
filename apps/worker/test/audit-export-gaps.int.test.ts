import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AuditEventInput, dropExpiredPartitions, ensurePartitions, ingestAuditBatch, parseAuditChainKey, pruneAuditEvents } from "@portcullis/db/audit";
import { type AuditSinkView, createAuditSink, getAuditSink } from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { type AuditExportConfig, auditExportProcessor } from "../src/processors/audit-export.js";
import { sinkDirectory } from "../src/processors/audit-export-file.js";
import { type Receiver, startReceiver, exportTestConfig } from "./audit-export-support.js";
import { createTeamRow, createWorkerFixture, SECRET_KEYS, waitFor } from "./support.js";

/**
 * Retention against the export cursor: a prune or a partition DROP can move a team's anchor past a
 * sink's cursor. The exporter skips to the anchor only then, says so to the receiver (a signed gap
 * record first in the batch, and the Portcullis-Gap header; a gap line in files), records it on the
 * sink and logs it; a seq missing for any other reason is waited for, never skipped.
 */
let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let receiver: Receiver | undefined;
let root: string;
const keyring = getKeyring(SECRET_KEYS);
const chainKey = parseAuditChainKey(randomBytes(32).toString("hex"));
const DAY = 86_400_000;

const config = (over: Partial<AuditExportConfig> = {}): AuditExportConfig => exportTestConfig({ chainKey, holeGraceMs: 20, ...over });

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

const ev = (teamId: string, time: Date): AuditEventInput => ({ id: randomUUID(), time: time.toISOString(), teamId, tool: "execute_sql", sql: `SELECT ${randomUUID()}`, verdict: "allowed" });
const sinkRow = (sink: AuditSinkView) => getAuditSink(fixture.pool, { teamId: sink.teamId, sinkId: sink.id });
const monthsAgo = (n: number, day = 10) => {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - n, day, 12));
};

beforeAll(async () => {
  fixture = await createWorkerFixture();
  root = await mkdtemp(join(tmpdir(), "pc-audit-gaps-"));
}, 60_000);
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await fixture?.close();
});

test("webhook: a prune past the cursor is delivered as a signed gap record and a Portcullis-Gap header, recorded on the sink and logged; the chain continues from the anchor's hash", async () => {
  const team = await createTeamRow(fixture.pool);
  await fixture.pool.query("UPDATE teams SET audit_retention_days = 0 WHERE id = $1", [team]);
  // 1..5 forty days old, 6..8 recent.
  const old = Date.now() - 40 * DAY;
  await ingestAuditBatch(fixture.pool, [1, 2, 3, 4, 5].map((i) => ev(team, new Date(old + i * 1000))), { key: chainKey });
  await ingestAuditBatch(fixture.pool, [1, 2, 3].map((i) => ev(team, new Date(Date.now() - i * 1000))), { key: chainKey });

  receiver = await startReceiver();
  const headers: (string | undefined)[] = [];
  receiver.respond = (req) => {
    headers.push(req.headers["portcullis-gap"] as string | undefined);
    return { status: 200 };
  };
  process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP = "1";
  const created = await createAuditSink(fixture.pool, { teamId: team, kind: "webhook", name: "siem", url: receiver.url, via: "cli" }, { keyring });
  receiver.secret = created.secret!;
  const sink = created.sink;
  const { logger, lines: logs } = capturingLogger();

  // The sink delivers 1..2, then its receiver is away while retention prunes 1..5.
  await auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config({ batchEvents: 2, batchesPerTurn: 1 }) })();
  expect((await sinkRow(sink)).cursorSeq).toBe("2");
  const pruned = await pruneAuditEvents(fixture.pool, team, new Date(Date.now() - 30 * DAY), { key: chainKey, pauseMs: 0 });
  expect(pruned).toMatchObject({ deleted: 5, prunedThroughSeq: "5" });
  const anchor = (await fixture.pool.query<{ hash: string }>("SELECT pruned_through_hash AS hash FROM audit_chain_anchors WHERE team_id = $1", [team])).rows[0]!;

  const tick = auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config() });
  await waitFor(async () => {
    await tick();
    return (await sinkRow(sink)).cursorSeq === "8";
  }, 15_000, "the sink past the gap", 20);

  const batches = receiver.receipts.filter((r) => r.status === 200);
  expect(batches).toHaveLength(2);
  expect(headers).toEqual([undefined, "3-5"]);
  const [gap, ...events] = batches[1]!.lines;
  expect(gap).toEqual({ type: "portcullis.audit_gap", team_id: team, from_seq: "3", to_seq: "5", events: 5 - 3 + 1, reason: "retention", anchor_hash: anchor.hash });
  expect(events.map((l) => l.seq)).toEqual(["6", "7", "8"]);
  // A receiver checking the chain carries on from the anchor's hash.
  expect(events[0]!.prev_hash).toBe(anchor.hash);
  expect(batches[1]!.key).toBe(`${sink.id}:3-8`);

  const row = await sinkRow(sink);
  expect(row).toMatchObject({ cursorSeq: "8", deliveredCount: "5", skippedEvents: "3", lastGapFrom: "3", lastGapTo: "5", lag: "0" });
  expect(row.lastGapAt).toBeInstanceOf(Date);
  expect(logs.filter((l) => l.msg === "audit sink skipped events removed by retention")).toEqual([
    expect.objectContaining({ sink: sink.id, fromSeq: "3", toSeq: "5", events: 3 }),
  ]);
});

/** Rows as an ingester's commit leaves them, with seqs of the test's choosing (a later commit may fill a hole). */
async function rawEvents(teamId: string, seqs: number[]): Promise<void> {
  await fixture.pool.query(
    `INSERT INTO audit_events (id, team_id, time, seq, tool, sql, verdict, prev_hash, hash)
     SELECT gen_random_uuid(), $1::uuid, now(), s, 'execute_sql', 'SELECT ' || s, 'allowed', md5('e' || (s - 1)), md5('e' || s) FROM unnest($2::int8[]) AS s`,
    [teamId, seqs],
  );
  await fixture.pool.query(
    `INSERT INTO audit_chain_heads (team_id, last_seq, last_hash) VALUES ($1::uuid, $2::int8, 'h')
     ON CONFLICT (team_id) DO UPDATE SET last_seq = GREATEST(audit_chain_heads.last_seq, EXCLUDED.last_seq)`,
    [teamId, Math.max(...seqs)],
  );
}

test("a seq deleted below a visible seq (no retention) is delivered as a 'missing' gap, recorded on the sink and logged; the stream goes on", async () => {
  const team = await createTeamRow(fixture.pool);
  receiver = await startReceiver();
  process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP = "1";
  const created = await createAuditSink(fixture.pool, { teamId: team, kind: "webhook", name: "siem", url: receiver.url, via: "cli" }, { keyring });
  receiver.secret = created.secret!;
  await rawEvents(team, [1, 2]);
  const { logger, lines: logs } = capturingLogger();
  const tick = auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config() });
  await tick();
  expect((await sinkRow(created.sink)).cursorSeq).toBe("2");
  // 3..5 committed (seqs commit in order under the head lock), then 3 deleted behind the exporter's back.
  await rawEvents(team, [3, 4, 5]);
  await fixture.pool.query("DELETE FROM audit_events WHERE team_id = $1 AND seq = 3", [team]);
  await waitFor(async () => {
    await tick();
    return (await sinkRow(created.sink)).cursorSeq === "5";
  }, 15_000, "the sink past the missing event", 20);
  const batches = receiver.receipts.filter((r) => r.status === 200);
  expect(batches).toHaveLength(2);
  const [gap, ...events] = batches[1]!.lines;
  expect(gap).toEqual({ type: "portcullis.audit_gap", team_id: team, from_seq: "3", to_seq: "3", events: 1, reason: "missing", anchor_hash: events[0]!.prev_hash });
  expect(events.map((l) => l.seq)).toEqual(["4", "5"]);
  expect(await sinkRow(created.sink)).toMatchObject({ skippedEvents: "1", lastGapFrom: "3", lastGapTo: "3", lastError: "events 3..3 missing from the chain: run `portcullis audit verify`" });
  expect(logs.filter((l) => String(l.msg).startsWith("audit sink skipped events missing from the chain"))).toEqual([expect.objectContaining({ fromSeq: "3", toSeq: "3", reason: "missing" })]);
  // The next delivered batch keeps the warning (only a failure replaces it).
  await rawEvents(team, [6]);
  await waitFor(async () => {
    await tick();
    return (await sinkRow(created.sink)).cursorSeq === "6";
  }, 15_000, "the next batch", 20);
  expect((await sinkRow(created.sink)).lastError).toContain("events 3..3 missing");
  // The tail deleted too (nothing visible above, but the head says 7..8 were committed): a gap up to the head.
  await rawEvents(team, [7, 8]);
  await fixture.pool.query("DELETE FROM audit_events WHERE team_id = $1 AND seq >= 7", [team]);
  await waitFor(async () => {
    await tick();
    return (await sinkRow(created.sink)).cursorSeq === "8";
  }, 15_000, "the sink past the deleted tail", 20);
  const last = receiver.receipts.filter((r) => r.status === 200).at(-1)!;
  expect(last.lines).toEqual([expect.objectContaining({ type: "portcullis.audit_gap", from_seq: "7", to_seq: "8", reason: "missing" })]);
});

test("an anchor moved without the chain key (no valid MAC) is not trusted as retention: the deleted events are a 'missing' gap", async () => {
  const team = await createTeamRow(fixture.pool);
  await ingestAuditBatch(fixture.pool, [1, 2, 3, 4, 5, 6].map((i) => ev(team, new Date(Date.now() - i * 1000))), { key: chainKey });
  const { sink } = await createAuditSink(fixture.pool, { teamId: team, kind: "file", name: "archive", via: "cli" }, { keyring });
  const tick = auditExportProcessor({ pool: fixture.pool, keyring, logger: capturingLogger().logger, config: config({ dir: root, batchEvents: 2, batchesPerTurn: 1, chainKey }) });
  await tick();
  expect((await sinkRow(sink)).cursorSeq).toBe("2");
  // Someone with database access deletes 3..5 and moves the anchor to 5 with its real hash, unsigned.
  const five = (await fixture.pool.query<{ hash: string }>("SELECT hash FROM audit_events WHERE team_id = $1 AND seq = 5", [team])).rows[0]!;
  await fixture.pool.query("DELETE FROM audit_events WHERE team_id = $1 AND seq BETWEEN 3 AND 5", [team]);
  await fixture.pool.query(
    "INSERT INTO audit_chain_anchors (team_id, pruned_through_seq, pruned_through_hash, pruned_mac) VALUES ($1, 5, $2, 'forged') ON CONFLICT (team_id) DO UPDATE SET pruned_through_seq = 5, pruned_through_hash = $2, pruned_mac = 'forged'",
    [team, five.hash],
  );
  await waitFor(async () => {
    await tick();
    return (await sinkRow(sink)).cursorSeq === "6";
  }, 15_000, "the sink past the forged anchor", 20);
  const dir = sinkDirectory(root, team, "archive");
  const text = (await Promise.all((await readdir(dir)).sort().map((n) => readFile(join(dir, n), "utf8")))).join("");
  const lines = text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines.find((l) => l.type === "portcullis.audit_gap")).toMatchObject({ from_seq: "3", to_seq: "5", reason: "missing" });
  expect(lines.filter((l) => l.seq !== undefined).map((l) => l.seq)).toEqual(["1", "2", "6"]);
  expect((await sinkRow(sink)).lastError).toBe("events 3..5 missing from the chain: run `portcullis audit verify`");
});

test("an anchor whose hash does not look keyed, or that is moved over live events, is not retention either (attack round 2)", async () => {
  const team = await createTeamRow(fixture.pool);
  await ingestAuditBatch(fixture.pool, [1, 2, 3, 4, 5, 6, 7, 8].map((i) => ev(team, new Date(Date.now() - i * 1000))), { key: chainKey });
  const { sink } = await createAuditSink(fixture.pool, { teamId: team, kind: "file", name: "forged", via: "cli" }, { keyring });
  const tick = auditExportProcessor({ pool: fixture.pool, keyring, logger: capturingLogger().logger, config: config({ dir: root, batchEvents: 2, batchesPerTurn: 1, chainKey }) });
  await tick();
  expect((await sinkRow(sink)).cursorSeq).toBe("2");
  const anchorAt = (seq: number, hash: string) =>
    fixture.pool.query(
      `INSERT INTO audit_chain_anchors (team_id, pruned_through_seq, pruned_through_hash, pruned_mac) VALUES ($1, $2, $3, NULL)
       ON CONFLICT (team_id) DO UPDATE SET pruned_through_seq = $2, pruned_through_hash = $3, pruned_mac = NULL`,
      [team, seq, hash],
    );
  // Moved over live events (nothing deleted), with a hash that does not look keyed: nothing is skipped.
  await anchorAt(6, "0".repeat(64));
  await tick();
  expect((await sinkRow(sink)).cursorSeq).toBe("4");
  // Then 5..6 deleted and the same unkeyed-looking anchor: the chain does not continue from it.
  await fixture.pool.query("DELETE FROM audit_events WHERE team_id = $1 AND seq BETWEEN 5 AND 6", [team]);
  await waitFor(async () => {
    await tick();
    return (await sinkRow(sink)).cursorSeq === "8";
  }, 15_000, "the sink past the forged anchor", 20);
  const dir = sinkDirectory(root, team, "forged");
  const text = (await Promise.all((await readdir(dir)).sort().map((n) => readFile(join(dir, n), "utf8")))).join("");
  const lines = text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines.filter((l) => l.type === "portcullis.audit_gap")).toEqual([expect.objectContaining({ from_seq: "5", to_seq: "6", reason: "missing" })]);
  expect(lines.filter((l) => l.seq !== undefined).map((l) => l.seq)).toEqual(["1", "2", "3", "4", "7", "8"]);
});

test("files: a partition DROP past the cursor writes a gap line first in the next file, its name spans the gap; a straggler kept in DEFAULT still follows", async () => {
  await ensurePartitions(fixture.pool, { now: monthsAgo(20), ahead: 15 });
  const team = await createTeamRow(fixture.pool);
  await fixture.pool.query("UPDATE teams SET audit_retention_days = 0 WHERE id = $1", [team]);
  // 1..3 twenty months old, 4 five months old, 5 a straggler of the old month (a late replay).
  await ingestAuditBatch(fixture.pool, [ev(team, monthsAgo(20, 1)), ev(team, monthsAgo(20, 2)), ev(team, monthsAgo(20, 3)), ev(team, monthsAgo(5))], { key: chainKey });
  await ingestAuditBatch(fixture.pool, [ev(team, monthsAgo(20, 20))], { key: chainKey });
  const { sink } = await createAuditSink(fixture.pool, { teamId: team, kind: "file", name: "archive", via: "cli" }, { keyring });
  const { logger, lines: logs } = capturingLogger();
  await auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config({ dir: root, batchEvents: 1, batchesPerTurn: 1 }) })();
  expect((await sinkRow(sink)).cursorSeq).toBe("1");

  const dropped = await dropExpiredPartitions(fixture.pool, { before: new Date(Date.now() - 400 * DAY), key: chainKey });
  expect(dropped.length).toBeGreaterThan(0);
  const anchor = (await fixture.pool.query<{ seq: string; hash: string }>("SELECT pruned_through_seq::text AS seq, pruned_through_hash AS hash FROM audit_chain_anchors WHERE team_id = $1", [team])).rows[0]!;
  expect(anchor.seq).toBe("3");

  const tick = auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config({ dir: root }) });
  await waitFor(async () => {
    await tick();
    return (await sinkRow(sink)).cursorSeq === "5";
  }, 15_000, "the file sink past the gap", 20);
  const dir = sinkDirectory(root, team, "archive");
  const names = (await readdir(dir)).sort();
  expect(names[0]).toBe(`audit-${"1".padStart(19, "0")}-${"1".padStart(19, "0")}.jsonl`);
  // The gap line opens the file after it; 4 and 5 lie in different hours, so 5 has a file of its own.
  expect(names[1]).toBe(`audit-${"2".padStart(19, "0")}-${"4".padStart(19, "0")}.jsonl`);
  const second = (await readFile(join(dir, names[1]!), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(second[0]).toEqual({ type: "portcullis.audit_gap", team_id: team, from_seq: "2", to_seq: "3", events: 2, reason: "retention", anchor_hash: anchor.hash });
  expect(second.slice(1).map((l) => l.seq)).toEqual(["4"]);
  expect(second[1]!.prev_hash).toBe(anchor.hash);
  const all = (await Promise.all(names.map((n) => readFile(join(dir, n), "utf8")))).join("").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(all.filter((l) => l.seq !== undefined).map((l) => l.seq)).toEqual(["1", "4", "5"]);
  expect(await sinkRow(sink)).toMatchObject({ skippedEvents: "2", lastGapFrom: "2", lastGapTo: "3", deliveredCount: "3" });
  expect(logs.filter((l) => l.msg === "audit sink skipped events removed by retention")).toHaveLength(1);
});
