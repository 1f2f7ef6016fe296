import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditSink, getAuditSink, requestAuditSinkTest } from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createLogger } from "../src/logger.js";
import { auditExportProcessor } from "../src/processors/audit-export.js";
import { sinkDirectory } from "../src/processors/audit-export-file.js";
import { insertChain, seqRange } from "./audit-export-support.js";
import { createTeamRow, createWorkerFixture, SECRET_KEYS, waitFor } from "./support.js";

/**
 * File sinks: JSON-lines files under AUDIT_EXPORT_DIR/<team>/<sink name>, each written atomically,
 * cut by size and by the hour, named so that name order is chain order. Judged by reading the files.
 */
let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let root: string;
let teamId: string;
const keyring = getKeyring(SECRET_KEYS);
const MAX_BYTES = 40_000;

beforeAll(async () => {
  fixture = await createWorkerFixture();
  root = await mkdtemp(join(tmpdir(), "pc-audit-export-"));
  teamId = await createTeamRow(fixture.pool);
  // 700 events, the last 200 an hour later than the first 500.
  await insertChain(fixture.pool, teamId, 700, { hourSplitAt: 500 });
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await fixture?.close();
});

test("files rotate by size and hour, are named in chain order, hold every event once with its seq, hash and prev_hash, and leave no temporary file", async () => {
  const { sink } = await createAuditSink(fixture.pool, { teamId, kind: "file", name: "siem", via: "cli" }, { keyring });
  const tick = auditExportProcessor({
    pool: fixture.pool,
    keyring,
    logger: createLogger("silent"),
    config: { dir: root, batchEvents: 300, fileMaxBytes: MAX_BYTES, timeoutMs: 2000, retryBaseMs: 20, retryMaxMs: 200, pauseAfterMs: 60_000, allowPrivate: false, stack: [], sinksPerTick: 4, batchesPerTurn: 50 },
  });
  await waitFor(async () => {
    await tick();
    return (await getAuditSink(fixture.pool, { teamId, sinkId: sink.id })).cursorSeq === "700";
  }, 20_000, "the file sink to catch up", 20);

  const dir = join(root, teamId, "siem");
  const names = await readdir(dir);
  expect(names.filter((n) => !n.endsWith(".jsonl"))).toEqual([]);
  expect(names.length).toBeGreaterThan(3);
  expect([...names].sort()).toEqual(names.sort());
  const seqs: string[] = [];
  let previousHash: unknown;
  for (const name of [...names].sort()) {
    const text = await readFile(join(dir, name), "utf8");
    expect((await stat(join(dir, name))).size).toBeLessThanOrEqual(MAX_BYTES);
    const lines = text.trimEnd().split("\n").map((l) => JSON.parse(l) as { seq: string; time: string; hash: string; prev_hash: string; team_id: string });
    expect(name).toBe(`audit-${lines[0]!.seq.padStart(19, "0")}-${lines.at(-1)!.seq.padStart(19, "0")}.jsonl`);
    expect(new Set(lines.map((l) => l.time.slice(0, 13))).size).toBe(1);
    for (const line of lines) {
      expect(line.team_id).toBe(teamId);
      if (previousHash !== undefined) expect(line.prev_hash).toBe(previousHash);
      previousHash = line.hash;
      seqs.push(line.seq);
    }
  }
  expect(seqs).toEqual(seqRange(1, 700));
  // The hour boundary cut a file at 500/501.
  expect(names.some((n) => n.endsWith("-0000000000000000500.jsonl"))).toBe(true);

  // A test of a file sink checks the directory is writable and leaves nothing in it.
  const { requestedAt } = await requestAuditSinkTest(fixture.pool, { teamId, sinkId: sink.id, via: "cli" });
  await waitFor(async () => {
    await tick();
    const row = await getAuditSink(fixture.pool, { teamId, sinkId: sink.id });
    return row.lastTestAt && row.lastTestAt >= requestedAt && !row.testRequestedAt ? row : undefined;
  }, 10_000, "the test");
  expect((await getAuditSink(fixture.pool, { teamId, sinkId: sink.id })).lastTestOk).toBe(true);
  expect((await readdir(dir)).sort()).toEqual(names.sort());
});

test("a sink name cannot leave the export root: refused by the data layer and by the writer", async () => {
  for (const name of ["../escape", "..", "a/b", ".hidden", "UPPER", "x".repeat(41), "a\u0000b"]) {
    const outcome = await createAuditSink(fixture.pool, { teamId, kind: "file", name, via: "cli" }, { keyring }).then(
      () => "created",
      (error: { code?: string }) => error.code,
    );
    expect(outcome, name).toBe("invalid_input");
    expect(() => sinkDirectory(root, teamId, name), name).toThrow(/refused/);
  }
  expect(() => sinkDirectory(root, "../../etc", "siem")).toThrow(/refused/);
  // And the table refuses such a name even written past the data layer.
  await expect(fixture.pool.query("INSERT INTO audit_sinks (team_id, name, kind) VALUES ($1::uuid, '../x', 'file')", [teamId])).rejects.toThrow(/audit_sinks_name_check/);
});
