import { randomBytes } from "node:crypto";
import { createAuditSink, getAuditSink, loadAuditExportBatchBytes, readAuditExportBatch } from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { auditExportProcessor } from "../src/processors/audit-export.js";
import { insertChain, seqRange, startReceiver } from "./audit-export-support.js";
import { createTeamRow, createWorkerFixture, SECRET_KEYS, waitFor } from "./support.js";

/**
 * Batches are bounded by bytes, not only by events: 500 events of ~200 KB used to be one 100 MB POST
 * (and a 198 MB pull page). Real ~200 KB events (incompressible SQL text), a real signature-checking
 * receiver; the pull route and the CLI page through the same read.
 */
let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
const keyring = getKeyring(SECRET_KEYS);
const BIG = 200 * 1024;

beforeAll(async () => {
  fixture = await createWorkerFixture();
}, 60_000);
afterAll(async () => {
  await fixture?.close();
});

async function bigChain(teamId: string, n: number): Promise<void> {
  await insertChain(fixture.pool, teamId, n);
  // Random hex: the stored text does not compress away, as an attacker's would not.
  await fixture.pool.query("UPDATE audit_events SET sql = 'SELECT ' || $2::text || seq WHERE team_id = $1::uuid", [teamId, randomBytes(BIG / 2).toString("hex")]);
}

test("a webhook batch of ~200 KB events stays within AUDIT_EXPORT_BATCH_BYTES, every event still delivered in order", async () => {
  const team = await createTeamRow(fixture.pool);
  await bigChain(team, 30);
  const receiver = await startReceiver();
  const sizes: number[] = [];
  receiver.respond = (req) => {
    sizes.push(Number(req.headers["content-length"]));
    return { status: 200 };
  };
  try {
    process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP = "1";
    const { sink, secret } = await createAuditSink(fixture.pool, { teamId: team, kind: "webhook", name: "siem", url: receiver.url, via: "cli" }, { keyring });
    receiver.secret = secret!;
    const budget = 1024 * 1024;
    const tick = auditExportProcessor({
      pool: fixture.pool,
      keyring,
      logger: pino({ level: "silent" }),
      config: { dir: undefined, batchEvents: 500, batchBytes: budget, fileMaxBytes: 1 << 20, timeoutMs: 5000, retryBaseMs: 20, retryMaxMs: 200, pauseAfterMs: 60_000, allowPrivate: true, stack: [], sinksPerTick: 8, batchesPerTurn: 20 },
    });
    await waitFor(async () => {
      await tick();
      return (await getAuditSink(fixture.pool, { teamId: team, sinkId: sink.id })).cursorSeq === "30";
    }, 20_000, "all 30 big events delivered", 20);
    expect(receiver.accepted()).toEqual(seqRange(1, 30));
    expect(sizes.length).toBeGreaterThanOrEqual(6);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(budget + 2);
    // Full batches, not one event each: the budget is used.
    expect(Math.max(...sizes)).toBeGreaterThan(budget * 0.7);
  } finally {
    await receiver.close();
  }
});

test("the pull/CLI read: one event larger than the budget still comes alone (never stuck); a page never holds more than the budget otherwise", async () => {
  const team = await createTeamRow(fixture.pool);
  await bigChain(team, 12);
  const small = await readAuditExportBatch(fixture.pool, { teamId: team, afterSeq: "0", limit: 10_000 }, { maxBytes: 64 * 1024, key: null });
  expect(small.lines.map((l) => l.seq)).toEqual(["1"]);
  const page = await readAuditExportBatch(fixture.pool, { teamId: team, afterSeq: "0", limit: 10_000 }, { maxBytes: 1024 * 1024, key: null });
  const bytes = page.lines.reduce((n, l) => n + Buffer.byteLength(JSON.stringify(l)) + 1, 0);
  expect(page.lines.map((l) => l.seq)).toEqual(seqRange(1, page.lines.length));
  expect(page.lines.length).toBeGreaterThanOrEqual(3);
  expect(bytes).toBeLessThanOrEqual(1024 * 1024);
  // The CLI's setting (the worker and the dashboard parse the same name in their env.ts).
  const fromEnv = loadAuditExportBatchBytes({ AUDIT_EXPORT_BATCH_BYTES: String(512 * 1024) });
  expect((await readAuditExportBatch(fixture.pool, { teamId: team, afterSeq: "0", limit: 10_000 }, { maxBytes: fromEnv, key: null })).lines).toHaveLength(2);
  expect(loadAuditExportBatchBytes({})).toBe(4 * 1024 * 1024);
  expect(() => loadAuditExportBatchBytes({ AUDIT_EXPORT_BATCH_BYTES: "lots" })).toThrow(/AUDIT_EXPORT_BATCH_BYTES/);
});
