import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { AuditEventInput } from "@portcullis/jobs";

const ACTIVE_SUFFIX = ".jsonl";

/**
 * Durable local spool for audit events while Redis is unreachable: JSON lines, fdatasync'd before
 * `append` resolves, so an acknowledged event survives a crash. Files are claimed for replay by an
 * atomic rename, so instances sharing a directory never replay the same file twice at once.
 * Replaying can still send an event twice (a batch half-accepted before a failure); the worker's
 * inserts are idempotent on event id, so nothing is duplicated downstream.
 */
export class AuditSpool {
  private handle: FileHandle | undefined;
  private currentFile: string | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly instance = `${process.pid}-${randomBytes(4).toString("hex")}`;
  private fileSeq = 0;
  private pendingCount = 0;

  constructor(private readonly dir: string) {}

  /** Events appended and not yet replayed by this instance (files of other instances not counted). */
  get pending(): number {
    return this.pendingCount;
  }

  append(events: AuditEventInput[]): Promise<void> {
    const text = events.map((e) => JSON.stringify(e)).join("\n") + "\n";
    const run = this.chain.then(async () => {
      if (!this.handle) {
        await mkdir(this.dir, { recursive: true });
        this.currentFile = path.join(this.dir, `audit-${this.instance}-${Date.now()}-${this.fileSeq++}${ACTIVE_SUFFIX}`);
        this.handle = await open(this.currentFile, "a", 0o600);
      }
      await this.handle.write(text);
      await this.handle.datasync();
      this.pendingCount += events.length;
    });
    this.chain = run.catch(() => {});
    return run;
  }

  /** Whether any spool file exists (this instance's or another's). */
  async hasFiles(): Promise<boolean> {
    try {
      return (await readdir(this.dir)).some((f) => f.endsWith(ACTIVE_SUFFIX));
    } catch {
      return false;
    }
  }

  /**
   * Sends every spooled event through `send` (in order, in chunks) and deletes each file once all of
   * it was accepted. Stops at the first failure, leaving the rest for the next attempt.
   */
  replay(send: (events: AuditEventInput[]) => Promise<void>, chunkSize = 500): Promise<number> {
    const run = this.chain.then(async () => {
      // New appends go to a fresh file while this one is replayed.
      if (this.handle) {
        await this.handle.close();
        this.handle = undefined;
      }
      let files: string[];
      try {
        files = (await readdir(this.dir)).filter((f) => f.endsWith(ACTIVE_SUFFIX)).sort();
      } catch {
        return 0;
      }
      let sent = 0;
      for (const file of files) {
        const source = path.join(this.dir, file);
        const claimed = `${source}.replaying-${this.instance}`;
        try {
          await rename(source, claimed);
        } catch {
          continue; // another instance claimed it
        }
        const events: AuditEventInput[] = [];
        for (const line of (await readFile(claimed, "utf8")).split("\n")) {
          if (!line.trim()) continue;
          try {
            events.push(JSON.parse(line) as AuditEventInput);
          } catch {
            // A torn last line from a crash mid-write was never acknowledged; skip it.
          }
        }
        try {
          for (let i = 0; i < events.length; i += chunkSize) await send(events.slice(i, i + chunkSize));
        } catch (error) {
          await rename(claimed, source).catch(() => {});
          throw error;
        }
        await unlink(claimed);
        sent += events.length;
        if (file.includes(this.instance)) this.pendingCount = Math.max(0, this.pendingCount - events.length);
      }
      return sent;
    });
    this.chain = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    await this.chain;
    if (this.handle) {
      await this.handle.close();
      this.handle = undefined;
    }
  }
}
