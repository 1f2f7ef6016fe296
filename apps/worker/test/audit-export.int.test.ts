import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import { getKeyring } from "@portcullis/db/secrets";
import { createAuditSink, getAuditSink, type AuditSinkView } from "@portcullis/db/operations";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { createLogger } from "../src/logger.js";
import { type AuditExportConfig, auditExportProcessor, backoffMs } from "../src/processors/audit-export.js";
import { type Receiver, insertChain, seqRange, startReceiver, exportTestConfig } from "./audit-export-support.js";
import { createTeamRow, createWorkerFixture, SECRET_KEYS, waitFor } from "./support.js";

/**
 * Audit sinks' webhook delivery, judged at a real receiver that checks every signature: order, the
 * cursor, retries (500, Retry-After), pauses (4xx, failing too long) and the address rules, with real
 * PostgreSQL. Ticks are driven by the test, as the worker's scheduler drives them.
 */
let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let teamA: string;
let teamB: string;
let receiver: Receiver;
const keyring = getKeyring(SECRET_KEYS);
const logger = createLogger(process.env.AUDIT_EXPORT_TEST_LOG ?? "silent");

const config = (over: Partial<AuditExportConfig> = {}): AuditExportConfig => exportTestConfig(over);

async function addSink(teamId: string, url: string, name = `s${Math.random().toString(36).slice(2, 8)}`): Promise<AuditSinkView> {
  process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP = "1";
  const { sink, secret } = await createAuditSink(fixture.pool, { teamId, kind: "webhook", name, url, via: "cli" }, { keyring });
  receiver.secret = secret!;
  return sink;
}

const sinkRow = (sink: AuditSinkView) => getAuditSink(fixture.pool, { teamId: sink.teamId, sinkId: sink.id });

/** Ticks until `done` holds (each tick as a scheduler job would run it). */
async function tickUntil(tick: () => Promise<void>, done: () => Promise<boolean> | boolean, timeoutMs = 15_000) {
  try {
    await waitFor(async () => {
      await tick();
      return done();
    }, timeoutMs, "the sink", 20);
  } catch (error) {
    const rows = (await fixture.pool.query("SELECT name, status, cursor_seq, last_error, paused_reason, failures FROM audit_sinks")).rows;
    throw new Error(`${(error as Error).message}; sinks: ${JSON.stringify(rows)}; receipts: ${JSON.stringify(receiver.receipts.map((r) => [r.status, r.key]))}`);
  }
}

beforeAll(async () => {
  fixture = await createWorkerFixture();
  teamA = await createTeamRow(fixture.pool);
  teamB = await createTeamRow(fixture.pool);
  await insertChain(fixture.pool, teamA, 1200);
  await insertChain(fixture.pool, teamB, 300);
}, 60_000);

afterEach(async () => {
  await receiver?.close();
  await fixture.pool.query("DELETE FROM audit_sinks");
});

afterAll(async () => {
  await fixture?.close();
});

describe("webhook sinks", () => {
  test("delivers exactly the team's events, in seq order, signed, in batches keyed first-last; the cursor ends at the head with its hash", async () => {
    receiver = await startReceiver();
    const sink = await addSink(teamA, receiver.url);
    const tick = auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config() });
    await tickUntil(tick, async () => (await sinkRow(sink)).cursorSeq === "1200");
    expect(receiver.receipts.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(receiver.receipts.map((r) => r.key)).toEqual([`${sink.id}:1-500`, `${sink.id}:501-1000`, `${sink.id}:1001-1200`]);
    expect(receiver.accepted()).toEqual(seqRange(1, 1200));
    const lines = receiver.receipts.flatMap((r) => r.lines);
    expect(lines.every((l) => l.team_id === teamA)).toBe(true);
    // The receiver can verify the chain's links: each prev_hash is the previous line's hash.
    for (let i = 1; i < lines.length; i++) expect(lines[i]!.prev_hash).toBe(lines[i - 1]!.hash);
    const row = await sinkRow(sink);
    expect(row).toMatchObject({ cursorSeq: "1200", cursorHash: lines.at(-1)!.hash, deliveredCount: "1200", lag: "0", status: "active", failures: 0 });
    // New events flow on from the cursor.
    await insertChain(fixture.pool, teamA, 5);
    await tickUntil(tick, async () => (await sinkRow(sink)).cursorSeq === "1205");
    expect(receiver.accepted()).toEqual(seqRange(1, 1205));
  });

  test("a 500 is retried with backoff: the receiver, deduplicating by seq, has every event once and no gap", async () => {
    receiver = await startReceiver();
    receiver.respond = (_req, n) => ({ status: n === 1 || n === 2 ? 500 : 200 });
    const sink = await addSink(teamA, receiver.url);
    const tick = auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config() });
    await tickUntil(tick, async () => (await sinkRow(sink)).cursorSeq === "1205");
    expect(receiver.receipts.map((r) => r.status)).toEqual([200, 500, 500, 200, 200]);
    // The failed batch is re-sent whole, with the same idempotency key; nothing is skipped.
    expect(receiver.receipts[1]!.key).toBe(receiver.receipts[3]!.key);
    expect(receiver.accepted()).toEqual(seqRange(1, 1205));
  });

  test("Retry-After is honoured before the next attempt", async () => {
    receiver = await startReceiver();
    receiver.respond = (_req, n) => (n === 0 ? { status: 429, headers: { "Retry-After": "2" } } : { status: 200 });
    const sink = await addSink(teamA, receiver.url);
    const tick = auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config({ batchEvents: 5000 }) });
    await tick();
    const waiting = await sinkRow(sink);
    expect(waiting).toMatchObject({ cursorSeq: "0", lastStatus: 429, failures: 1 });
    expect(waiting.nextAttemptAt!.getTime() - waiting.lastAttemptAt!.getTime()).toBeGreaterThanOrEqual(1900);
    await tickUntil(tick, async () => (await sinkRow(sink)).cursorSeq === "1205");
    expect(receiver.receipts[1]!.at - receiver.receipts[0]!.at).toBeGreaterThanOrEqual(1900);
    expect(receiver.accepted()).toEqual(seqRange(1, 1205));
  });

  test("a 400 pauses the sink with the reason and the cursor where it was; nothing more is sent", async () => {
    receiver = await startReceiver();
    receiver.respond = () => ({ status: 400 });
    const sink = await addSink(teamA, receiver.url);
    const tick = auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config() });
    await tickUntil(tick, async () => (await sinkRow(sink)).status === "paused");
    for (let i = 0; i < 5; i++) await tick();
    expect(receiver.receipts).toHaveLength(1);
    expect(await sinkRow(sink)).toMatchObject({ status: "paused", cursorSeq: "0", lastStatus: 400, deliveredCount: "0" });
    expect((await sinkRow(sink)).pausedReason).toMatch(/HTTP 400/);
  });

  test("a sink failing longer than the pause limit is paused and says why", async () => {
    receiver = await startReceiver();
    receiver.respond = () => ({ status: 503 });
    const sink = await addSink(teamA, receiver.url);
    const tick = auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config({ pauseAfterMs: 600 }) });
    await tickUntil(tick, async () => (await sinkRow(sink)).status === "paused");
    const row = await sinkRow(sink);
    expect(row.pausedReason).toMatch(/paused after failing .*HTTP 503/);
    expect(row.cursorSeq).toBe("0");
    expect(receiver.receipts.length).toBeGreaterThan(1);
  });

  test("backoff doubles with jitter and is capped", () => {
    expect(backoffMs(0, 1000, 300_000, () => 0.5)).toBe(1000);
    expect(backoffMs(3, 1000, 300_000, () => 0.5)).toBe(8000);
    expect(backoffMs(30, 1000, 300_000, () => 0.5)).toBe(300_000);
    expect(backoffMs(3, 1000, 300_000, () => 0)).toBe(4000);
    expect(backoffMs(3, 1000, 300_000, () => 0.999)).toBeLessThan(12_000);
  });
});

describe("where a sink may not go", () => {
  test("the metadata service and the stack's own services are refused at creation, even where private addresses are allowed", async () => {
    receiver = await startReceiver();
    process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP = "1";
    const stack = [{ host: "127.0.0.1", port: receiver.port }];
    const refused = async (url: string) => {
      try {
        await createAuditSink(fixture.pool, { teamId: teamA, kind: "webhook", name: "ssrf", url, via: "cli" }, { keyring, stack });
        return "created";
      } catch (error) {
        return (error as { code?: string }).code;
      }
    };
    expect(await refused("http://169.254.169.254/latest/meta-data/")).toBe("invalid_input");
    expect(await refused(`http://127.0.0.1:${receiver.port}/`)).toBe("invalid_input");
    expect(await refused(`http://localhost:${receiver.port}/`)).toBe("invalid_input");
    expect(await refused(`http://[::ffff:169.254.169.254]/`)).toBe("invalid_input");
    expect((await fixture.pool.query("SELECT count(*)::int AS n FROM audit_sinks")).rows[0].n).toBe(0);
  });

  test("at delivery: loopback without the operator's allowance, and the stack's own port with it, pause the sink before any byte is sent", async () => {
    receiver = await startReceiver();
    const a = await addSink(teamA, receiver.url, "loopback");
    await tickUntil(auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config({ allowPrivate: false }) }), async () => (await sinkRow(a)).status === "paused");
    expect((await sinkRow(a)).pausedReason).toMatch(/loopback address/);
    const b = await addSink(teamA, receiver.url.replace("127.0.0.1", "localhost"), "own-port");
    const stack = [{ host: "127.0.0.1", port: receiver.port }];
    await tickUntil(auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config({ stack }) }), async () => (await sinkRow(b)).status === "paused");
    expect((await sinkRow(b)).pausedReason).toMatch(/own services/);
    expect(receiver.receipts).toHaveLength(0);
  });

  test("this host through its own non-loopback address (an eth0 address, 0.0.0.0): the stack's ports are refused at creation and at delivery", async () => {
    const own = Object.values(networkInterfaces())
      .flatMap((nets) => nets ?? [])
      .find((n) => n.family === "IPv4" && !n.internal)?.address;
    // The attack needs one; a machine without any would make this test prove nothing.
    expect(own, "this machine has a non-loopback IPv4 address").toBeTruthy();
    // A stack service listening on every interface, as the gateway does.
    let hits = 0;
    const service = createServer((_req, res) => {
      hits++;
      res.writeHead(200).end("ok");
    });
    await new Promise<void>((resolve) => service.listen(0, "0.0.0.0", resolve));
    const port = (service.address() as AddressInfo).port;
    try {
      process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP = "1";
      const stack = [{ host: "localhost", port }];
      for (const url of [`http://${own}:${port}/hook/x`, `http://0.0.0.0:${port}/`]) {
        await expect(createAuditSink(fixture.pool, { teamId: teamA, kind: "webhook", name: "eth0", url, via: "cli" }, { keyring, stack })).rejects.toMatchObject({
          code: "invalid_input",
          message: expect.stringMatching(/own services/),
        });
      }
      // Created while the stack did not name that port (say, the gateway moved there later): refused at delivery.
      const { sink } = await createAuditSink(fixture.pool, { teamId: teamA, kind: "webhook", name: "eth0", url: `http://${own}:${port}/hook/x`, via: "cli" }, { keyring, stack: [] });
      await tickUntil(auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config({ stack }) }), async () => (await sinkRow(sink)).status === "paused");
      expect((await sinkRow(sink)).pausedReason).toMatch(/own services/);
      expect(hits).toBe(0);
    } finally {
      service.closeAllConnections();
      await new Promise((resolve) => service.close(resolve));
    }
  });
});
