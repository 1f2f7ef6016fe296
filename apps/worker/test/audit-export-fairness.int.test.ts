import { mkdtemp, readdir, rm } from "node:fs/promises";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AuditSinkView, MAX_SINKS_PER_TEAM, createAuditSink, getAuditSink } from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type AuditExportConfig, auditExportProcessor } from "../src/processors/audit-export.js";
import { sinkDirectory } from "../src/processors/audit-export-file.js";
import { insertChain, exportTestConfig, startReceiver } from "./audit-export-support.js";
import { createTeamRow, createWorkerFixture, SECRET_KEYS, waitFor } from "./support.js";

/**
 * Sinks of one team cannot starve another team's: idle sinks are never leased (they used to fill the
 * 8 slots of every claim forever, being the oldest due), a served sink goes to the back of the line,
 * and one claim takes at most two sinks of a team. File sinks, so each delivery is a real file
 * (webhooks where a receiver's pace is the point).
 */
let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let root: string;
const keyring = getKeyring(SECRET_KEYS);
const logger = pino({ level: "silent" });

const config = (over: Partial<AuditExportConfig> = {}): AuditExportConfig => exportTestConfig({ dir: root, batchesPerTurn: 1, ...over });

const row = (sink: AuditSinkView) => getAuditSink(fixture.pool, { teamId: sink.teamId, sinkId: sink.id });

async function sinks(teamId: string, n: number, prefix: string): Promise<AuditSinkView[]> {
  const out: AuditSinkView[] = [];
  for (let i = 0; i < n; i++) out.push((await createAuditSink(fixture.pool, { teamId, kind: "file", name: `${prefix}-${i}`, via: "cli" }, { keyring })).sink);
  // Older than anything created later: before the fix, the first in every claim.
  await fixture.pool.query("UPDATE audit_sinks SET next_attempt_at = now() - interval '1 day' WHERE id = ANY($1::uuid[])", [out.map((s) => s.id)]);
  return out;
}

beforeAll(async () => {
  fixture = await createWorkerFixture();
  root = await mkdtemp(join(tmpdir(), "pc-audit-fair-"));
}, 60_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await fixture?.close();
});

test("ten older idle sinks of team A do not keep team B's new sink from its events: B is served on the first tick", async () => {
  const teamA = await createTeamRow(fixture.pool);
  const teamB = await createTeamRow(fixture.pool);
  await insertChain(fixture.pool, teamA, 5);
  const idle = await sinks(teamA, 10, "idle");
  // Idle: every A sink has delivered the whole chain.
  await fixture.pool.query("UPDATE audit_sinks SET cursor_seq = 5 WHERE team_id = $1::uuid", [teamA]);
  await insertChain(fixture.pool, teamB, 3);
  const { sink: b } = await createAuditSink(fixture.pool, { teamId: teamB, kind: "file", name: "b", via: "cli" }, { keyring });

  await auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config() })();
  expect(await row(b)).toMatchObject({ cursorSeq: "3", deliveredCount: "3" });
  expect(await readdir(sinkDirectory(root, teamB, "b"))).toHaveLength(1);
  // The idle sinks were not leased at all (nothing to send: no attempt recorded).
  for (const s of idle) expect((await row(s)).lastAttemptAt).toBeNull();
});

test("ten busy sinks of team A (events keep coming) take at most two slots a claim: B is served on the first tick, and every A sink within a bounded number of ticks", async () => {
  const teamA = await createTeamRow(fixture.pool);
  const teamB = await createTeamRow(fixture.pool);
  await insertChain(fixture.pool, teamA, 5);
  const busy = await sinks(teamA, 10, "busy");
  await insertChain(fixture.pool, teamB, 2);
  const { sink: b } = await createAuditSink(fixture.pool, { teamId: teamB, kind: "file", name: "b", via: "cli" }, { keyring });
  const tick = auditExportProcessor({ pool: fixture.pool, keyring, logger, config: config({ sinksPerTick: 3 }) });

  await tick();
  expect((await row(b)).cursorSeq).toBe("2");
  // A's sinks rotate: with 2 of A per claim and new events before each tick, all 10 are served within 5 ticks.
  for (let i = 0; i < 4; i++) {
    await insertChain(fixture.pool, teamA, 1);
    await tick();
  }
  const cursors = await Promise.all(busy.map(async (s) => Number((await row(s)).cursorSeq)));
  expect(cursors.every((c) => c >= 5)).toBe(true);
});

test(`a team has at most ${MAX_SINKS_PER_TEAM} sinks; the next is refused with a clear error`, async () => {
  const team = await createTeamRow(fixture.pool);
  await sinks(team, MAX_SINKS_PER_TEAM, "s");
  await expect(createAuditSink(fixture.pool, { teamId: team, kind: "file", name: "one-more", via: "cli" }, { keyring })).rejects.toMatchObject({
    code: "conflict",
    message: expect.stringContaining(`at most ${MAX_SINKS_PER_TEAM} audit sinks`),
  });
  expect((await fixture.pool.query("SELECT count(*)::int AS n FROM audit_sinks WHERE team_id = $1", [team])).rows[0].n).toBe(MAX_SINKS_PER_TEAM);
});

/** A receiver that accepts every batch after `delayMs` (slow, never failing: no backoff ever starts). */
async function startSlowReceiver(delayMs: number): Promise<{ url: string; batches: () => number; inFlight: () => number; maxInFlight: () => number; close: () => Promise<void> }> {
  let batches = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const server: Server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    req.resume();
    req.on("end", () =>
      setTimeout(() => {
        inFlight--;
        batches++;
        res.writeHead(200).end("ok");
      }, delayMs),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/slow`,
    batches: () => batches,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * The attack: `slowSinks` webhook sinks of team A on a receiver answering 200 after 1.5 s (timeout
 * 2 s: nothing fails, nothing backs off), A's events trickling in, `ticks` ticks of one processor
 * back to back at once (the worker runs two). Then 3 events of team B, whose sink is on a fast
 * receiver: how long until they arrive, and how many of A's deliveries ever ran at once.
 */
async function slowReceiverAttack(input: { slowSinks: number; ticks: number }): Promise<{ waitedMs: number; maxSlowInFlight: number }> {
  process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP = "1";
  const teamA = await createTeamRow(fixture.pool);
  const teamB = await createTeamRow(fixture.pool);
  const slow = await startSlowReceiver(1500);
  const fast = await startReceiver();
  await insertChain(fixture.pool, teamA, 50);
  for (let i = 0; i < input.slowSinks; i++) await createAuditSink(fixture.pool, { teamId: teamA, kind: "webhook", name: `slow-${i}`, url: slow.url, via: "cli" }, { keyring });
  const created = await createAuditSink(fixture.pool, { teamId: teamB, kind: "webhook", name: "fast", url: fast.url, via: "cli" }, { keyring });
  fast.secret = created.secret!;
  // Batches of 5 against 3 new events per 100 ms: A always has more than one turn's worth waiting.
  const tick = auditExportProcessor({ pool: fixture.pool, keyring, logger, config: exportTestConfig({ timeoutMs: 2000, batchEvents: 5 }) });
  let running = true;
  const loop = async () => {
    while (running) {
      await tick();
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const trickle = (async () => {
    while (running) {
      await insertChain(fixture.pool, teamA, 3);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const loops = Array.from({ length: input.ticks }, loop);
  try {
    // The ticks had their chance to lease A's sinks; the slow receiver is working.
    await waitFor(async () => slow.inFlight() > 0, 5_000, "team A's slow deliveries");
    await new Promise((r) => setTimeout(r, 500));
    expect(slow.inFlight()).toBeGreaterThan(0);
    const t0 = Date.now();
    await insertChain(fixture.pool, teamB, 3);
    // Delivered: at the receiver, and the cursor moved past them (just after the receiver's answer).
    await waitFor(async () => fast.accepted().length === 3 && (await row(created.sink)).cursorSeq === "3", 8_000, "team B's events at its receiver");
    const waitedMs = Date.now() - t0;
    console.log(`slow-receiver attack (${input.slowSinks} slow sinks, ${input.ticks} tick(s)): B waited ${waitedMs} ms; at most ${slow.maxInFlight()} of A's deliveries at once`);
    expect(fast.accepted()).toEqual(["1", "2", "3"]);
    return { waitedMs, maxSlowInFlight: slow.maxInFlight() };
  } finally {
    running = false;
    await slow.close();
    await fast.close();
    await trickle;
    await Promise.all(loops);
  }
}

test("two ticks at once, four of team A's sinks on a receiver answering after 1.5 s: A holds at most two sinks across both ticks, and B's fast sink gets its events at once", async () => {
  const { waitedMs, maxSlowInFlight } = await slowReceiverAttack({ slowSinks: 4, ticks: 2 });
  // Before: the second tick leased A's other two sinks (the per-team cap was per claim), both ticks
  // sat on 20 batches of 1.5 s each, and B waited ~30 s.
  expect(maxSlowInFlight).toBeLessThanOrEqual(2);
  expect(waitedMs).toBeLessThan(3_000);
}, 60_000);

test("one tick at a time, two of team A's sinks on a receiver answering after 1.5 s: the tick's turn ends by the clock, and B's events follow within a few seconds", async () => {
  const { waitedMs } = await slowReceiverAttack({ slowSinks: 2, ticks: 1 });
  // Before: a turn was 20 batches whatever their pace (~30 s here, ~200 s at a 9 s receiver). Now a
  // turn starts no batch that would end past the 2 s budget: one 1.5 s batch, then B's tick.
  expect(waitedMs).toBeLessThan(4_000);
}, 60_000);
