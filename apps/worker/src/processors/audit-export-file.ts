import { randomBytes } from "node:crypto";
import { mkdir, open, rename, unlink } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { type AuditExportLine, auditSinkNameSchema } from "@portcullis/db/operations";

/**
 * A file sink's directory: AUDIT_EXPORT_DIR/<team id>/<sink name>. The team chooses only the name,
 * which the schema (and the table's CHECK) keeps to [a-z0-9-], and the result is checked to lie under
 * the root anyway — whatever reaches this function, nothing is written outside the operator's tree.
 */
export function sinkDirectory(root: string, teamId: string, name: string): string {
  if (!/^[0-9a-f-]{36}$/.test(teamId) || !auditSinkNameSchema.safeParse(name).success) throw new Error("refused: not a sink directory name");
  const base = resolve(root);
  const dir = resolve(base, teamId, name);
  if (!dir.startsWith(base + sep)) throw new Error("refused: the sink directory is outside AUDIT_EXPORT_DIR");
  return dir;
}

/** Chain order is name order: zero-padded first and last seq (19 digits hold any bigint). */
export function batchFileName(first: string, last: string): string {
  return `audit-${first.padStart(19, "0")}-${last.padStart(19, "0")}.jsonl`;
}

const hourOf = (line: AuditExportLine) => line.time.slice(0, 13);

/**
 * The lines of the next file: at most `maxBytes` (at least one line), and never two UTC hours of event
 * time in one file, so each file is a size- and hour-bounded piece of the chain.
 */
export function cutFileBatch(lines: AuditExportLine[], maxBytes: number): { lines: AuditExportLine[]; text: string } {
  let text = "";
  const taken: AuditExportLine[] = [];
  for (const line of lines) {
    const json = `${JSON.stringify(line)}\n`;
    if (taken.length > 0 && (hourOf(line) !== hourOf(taken[0]!) || Buffer.byteLength(text) + Buffer.byteLength(json) > maxBytes)) break;
    taken.push(line);
    text += json;
  }
  return { lines: taken, text };
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `text` as `name` in `dir` atomically: a hidden .tmp file (agents tailing *.jsonl never see
 * it), fsynced, renamed into place, and the directory fsynced so the rename survives a crash. A file
 * of that name already there (a batch re-sent after a crash between rename and cursor) is replaced
 * by the same lines.
 */
export async function writeFileAtomically(dir: string, name: string, text: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const tmp = join(dir, `.${name}.${randomBytes(4).toString("hex")}.tmp`);
  const handle = await open(tmp, "wx", 0o640);
  try {
    await handle.writeFile(text, "utf8");
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(tmp).catch(() => {});
    throw error;
  }
  await handle.close();
  const target = join(dir, name);
  await rename(tmp, target);
  await fsyncDirectory(dir);
  return target;
}

/** The test of a file sink: the directory can be created and written (nothing is left in it). */
export async function probeDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const tmp = join(dir, `.probe.${randomBytes(4).toString("hex")}.tmp`);
  const handle = await open(tmp, "wx", 0o640);
  try {
    await handle.writeFile("probe\n");
    await handle.sync();
  } finally {
    await handle.close();
    await unlink(tmp);
  }
}
