/** Pure formatting for the Schema page (unit-tested; no I/O). */
import type { DescriptionsStatus } from "@portcullis/jobs";

/** One sentence for where the job is; the worker's progress names the table it is on. */
export function describeStatus(status: DescriptionsStatus | null): string {
  const p = status?.progress;
  if (!status || status.state === "waiting" || status.state === "unknown") return "Queued — waiting for the worker…";
  if (status.state === "delayed") return `Retrying after an error${status.failedReason ? `: ${status.failedReason}` : ""}…`;
  if (status.state === "completed") return p ? `Described ${p.done} of ${p.total} table${p.total === 1 ? "" : "s"}. Human edits were kept.` : "Descriptions updated. Human edits were kept.";
  if (status.state === "failed") return status.failedReason ?? "The descriptions job failed.";
  if (!p) return "Starting…";
  const retry = p.lastError ? ` (retrying: ${p.lastError})` : "";
  return p.current ? `Describing ${p.current} (${p.done}/${p.total})…${retry}` : `Describing (${p.done}/${p.total})…${retry}`;
}

/** The parts of the worker's SchemaDiff (apps/worker/src/schema/diff.ts) the page shows. */
export interface SnapshotDiff {
  initial: boolean;
  /** "3 tables added, 1 column dropped", "no changes", "first snapshot: 11 tables". */
  summary: string;
  /** Each changed object, grouped ("Tables added" → ["public.track"]), for the details under the summary. */
  changes: { label: string; items: string[] }[];
}

const DIFF_GROUPS = [
  ["tablesAdded", "Tables added"],
  ["tablesDropped", "Tables dropped"],
  ["columnsAdded", "Columns added"],
  ["columnsDropped", "Columns dropped"],
  ["columnsChanged", "Columns changed"],
  ["indexesAdded", "Indexes added"],
  ["indexesDropped", "Indexes dropped"],
  ["foreignKeysAdded", "Foreign keys added"],
  ["foreignKeysDropped", "Foreign keys dropped"],
] as const;

/** Reads the stored JSON defensively: snapshots taken before diffs existed have none. */
export function snapshotDiff(raw: unknown): SnapshotDiff | null {
  if (!raw || typeof raw !== "object") return null;
  const d = raw as Record<string, unknown>;
  if (typeof d.summary !== "string") return null;
  const list = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  // The first snapshot "adds" every table: listing them all says nothing.
  const initial = d.initial === true;
  const changes = initial ? [] : DIFF_GROUPS.map(([key, label]) => ({ label, items: list(d[key]) })).filter((g) => g.items.length > 0);
  return { initial, summary: d.summary, changes };
}
