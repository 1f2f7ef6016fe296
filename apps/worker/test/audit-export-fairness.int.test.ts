import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AuditSinkView, MAX_SINKS_PER_TEAM, createAuditSink, getAuditSink } from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type AuditExportConfig, auditExportProcessor } from "../src/processors/audit-export.js";
import { sinkDirectory } from "../src/processors/audit-export-file.js";
import { insertChain, exportTestConfig } from "./audit-export-support.js";
import { createTeamRow, createWorkerFixture, SECRET_KEYS } from "./support.js";

/**
 * Sinks of one team cannot starve another team's: idle sinks are never leased (they used to fill the
 * 8 slots of every claim forever, being the oldest due), a served sink goes to the back of the line,
 * and one claim takes at most two sinks of a team. File sinks, so each delivery is a real file.
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
