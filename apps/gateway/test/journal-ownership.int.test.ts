import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { afterEach, expect, test } from "vitest";
import { AuditJournal, JOURNAL_DEFAULTS } from "../src/audit/journal.js";

/**
 * Who may take another instance's journal directory. Taking a LIVE owner's directory is the failure
 * that matters: the owner keeps appending into the moved file, and the adopter's retirement deletes
 * events it never read. Judged by effect: whether the segment moved.
 */
const hooks = { committed() {}, sealed() {}, synced() {} };
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const undo of cleanup.splice(0)) await undo().catch(() => {});
});

async function base(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "journal-owner-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function sleeper(): Promise<ChildProcess> {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  cleanup.push(async () => child.kill("SIGKILL"));
  return new Promise((resolve) => child.once("spawn", () => resolve(child)));
}

/** A directory as another instance leaves it: owner file (heartbeat `mtime`) and one segment. */
async function foreignDir(spool: string, owner: { pid: number; hostname: string; startedAt: string }, mtime: Date): Promise<string> {
  const instanceId = `${owner.pid}-0badc0de`;
  const dir = path.join(spool, instanceId);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "seg-1-0.jsonl"), JSON.stringify({ id: "00000000-0000-4000-8000-000000000001" }) + "\n");
  await writeFile(path.join(dir, "owner.json"), JSON.stringify({ instanceId, ...owner }));
  await utimes(path.join(dir, "owner.json"), mtime, mtime);
  return instanceId;
}

async function adoptedBy(spool: string, options = JOURNAL_DEFAULTS): Promise<{ moved: string[]; journal: AuditJournal }> {
  const journal = new AuditJournal(spool, hooks, options);
  cleanup.push(() => journal.close());
  return { moved: await journal.adopt(), journal };
}

const anHourAgo = () => new Date(Date.now() - 3_600_000);

test("a live owner on this host keeps its directory however old its heartbeat (paused process, clock step)", async () => {
  const spool = await base();
  const owner = await sleeper();
  await new Promise((r) => setTimeout(r, 50));
  const id = await foreignDir(spool, { pid: owner.pid!, hostname: hostname(), startedAt: new Date().toISOString() }, anHourAgo());
  const { moved } = await adoptedBy(spool);
  expect(moved).toEqual([]);
  expect(await readdir(path.join(spool, id))).toContain("seg-1-0.jsonl");
});

test("a dead owner's directory is adopted, and so is one whose pid now belongs to a newer process", async () => {
  const spool = await base();
  const gone = await sleeper();
  const deadPid = gone.pid!;
  gone.kill("SIGKILL");
  await new Promise((r) => gone.once("exit", r));
  await foreignDir(spool, { pid: deadPid, hostname: hostname(), startedAt: anHourAgo().toISOString() }, new Date());
  const reused = await sleeper();
  // Its journal started an hour before the process now holding that pid: the pid was reused.
  await foreignDir(spool, { pid: reused.pid!, hostname: hostname(), startedAt: anHourAgo().toISOString() }, new Date());
  const { moved } = await adoptedBy(spool);
  expect(moved).toHaveLength(2);
});

test("another host's owner is gone only once its heartbeat has stood still for the stale period by our clock", async () => {
  const spool = await base();
  // The other host's clock is far ahead: its heartbeat looks fresh by wall time, and must not matter.
  const future = new Date(Date.now() + 3_600_000);
  const id = await foreignDir(spool, { pid: 1, hostname: "another-host", startedAt: new Date().toISOString() }, future);
  const options = { ...JOURNAL_DEFAULTS, staleOwnerMs: 300 };
  const { journal } = await adoptedBy(spool, options);
  expect(await journal.adopt()).toEqual([]); // first look
  await new Promise((r) => setTimeout(r, 400));
  // It beat meanwhile: still alive.
  const beat = new Date(future.getTime() + 1000);
  await utimes(path.join(spool, id, "owner.json"), beat, beat);
  expect(await journal.adopt()).toEqual([]);
  await new Promise((r) => setTimeout(r, 400));
  expect(await journal.adopt()).toHaveLength(1);
});

test("adoption takes only real directories and regular files: symlinks planted in the spool are left alone", async () => {
  const spool = await base();
  const elsewhere = await base();
  // Files outside the spool that a symlink could otherwise pull in (and a retirement then delete).
  await writeFile(path.join(elsewhere, "seg-9-0.jsonl"), JSON.stringify({ id: "00000000-0000-4000-8000-000000000009" }) + "\n");
  await writeFile(path.join(elsewhere, "owner.json"), JSON.stringify({ instanceId: "1-deadbeef", pid: 999_999_999, hostname: hostname(), startedAt: anHourAgo().toISOString(), released: true }));
  await symlink(elsewhere, path.join(spool, "1-deadbeef"));
  await symlink(path.join(elsewhere, "seg-9-0.jsonl"), path.join(spool, "audit-1-2-3.jsonl"));
  // A real dead owner's directory holding a symlinked segment among a real one.
  const gone = await sleeper();
  const deadPid = gone.pid!;
  gone.kill("SIGKILL");
  await new Promise((r) => gone.once("exit", r));
  const id = await foreignDir(spool, { pid: deadPid, hostname: hostname(), startedAt: anHourAgo().toISOString() }, new Date());
  await symlink(path.join(elsewhere, "seg-9-0.jsonl"), path.join(spool, id, "seg-2-0.jsonl"));
  const { moved } = await adoptedBy(spool);
  expect(moved.map((f) => path.basename(f))).toEqual([`adopted-${id}-seg-1-0.jsonl`]);
  expect((await readdir(elsewhere)).sort()).toEqual(["owner.json", "seg-9-0.jsonl"]);
});
