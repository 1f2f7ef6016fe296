"use client";
import { useState } from "react";
import { Alert, Button, Select, cx } from "../../components/ui";
import { replayScopeAction } from "./actions";
import type { ReplayDays, ReplayResult } from "./replay";
import type { ScopeDoc } from "./scope-doc";

type Group = ReplayResult["becameBlocked"][number];

/** What the save button needs to know: how many calls passing today the replayed draft would block. */
export interface ReplayVerdict {
  scope: string;
  blockedCalls: number;
}

const DAYS: ReplayDays[] = [1, 7, 30];

const SECTIONS: { key: "becameBlocked" | "becameAllowed" | "ruleChanged" | "approvalChanged"; title: string; help: string; tone: string }[] = [
  { key: "becameBlocked", title: "Would become blocked", help: "Allowed under the saved scope, refused under the draft (by the draft's rule).", tone: "text-red-700" },
  { key: "becameAllowed", title: "Would become allowed", help: "Refused under the saved scope (by its rule), allowed under the draft.", tone: "text-amber-700" },
  { key: "ruleChanged", title: "Rule changes", help: "Refused under both, for a different reason.", tone: "text-zinc-700" },
  { key: "approvalChanged", title: "Approval changes", help: "Allowed under both, but what must be decided before they run changes.", tone: "text-blue-700" },
];

const n = (v: number) => v.toLocaleString("en");
const plural = (v: number, word: string) => `${n(v)} ${word}${v === 1 ? "" : "s"}`;
const total = (groups: Group[]) => groups.reduce((s, g) => s + g.calls, 0);

function GroupList({ groups }: { groups: Group[] }) {
  return (
    <ul className="mt-1 space-y-2">
      {groups.map((g) => (
        <li key={g.ruleId} className="rounded-md bg-white p-2 ring-1 ring-zinc-200" data-testid={`replay-group-${g.ruleId}`}>
          <p className="text-xs">
            <code className="font-mono font-medium text-zinc-900">{g.ruleId}</code>
            <span className="ml-2 text-zinc-600">{plural(g.calls, "call")} · {plural(g.statements, "statement")}</span>
          </p>
          <ul className="mt-1 space-y-1">
            {g.examples.map((e, i) => (
              <li key={i} className="text-xs">
                <code className="block truncate font-mono text-zinc-800" title={e.sql}>{e.sql}</code>
                <span className="text-zinc-500">{plural(e.calls, "call")} — {e.reason}</span>
              </li>
            ))}
          </ul>
        </li>
      ))}
    </ul>
  );
}

/**
 * Replay before save: the draft against the link's audited statements. The server checks every
 * distinct text under the saved scope and the draft with one catalog; this only shows the groups.
 */
export function ReplayPanel({ teamId, linkId, scope, onResult }: { teamId: string; linkId: string; scope: ScopeDoc; onResult: (verdict: ReplayVerdict | null) => void }) {
  const [days, setDays] = useState<ReplayDays>(7);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string>();
  const [result, setResult] = useState<{ scope: string; report: ReplayResult }>();
  const stale = !!result && result.scope !== JSON.stringify(scope);

  async function replay() {
    setRunning(true);
    setError(undefined);
    const replayed = JSON.stringify(scope);
    const answer = await replayScopeAction({ teamId, linkId, scope, days });
    setRunning(false);
    if (!answer.ok) {
      setResult(undefined);
      onResult(null);
      return setError(answer.error);
    }
    setResult({ scope: replayed, report: answer.data });
    onResult({ scope: replayed, blockedCalls: total(answer.data.becameBlocked) });
  }

  const report = result?.report;
  return (
    <section aria-labelledby="replay-title" className="space-y-3 rounded-lg bg-zinc-50 p-4 ring-1 ring-zinc-200">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <div>
          <h3 id="replay-title" className="text-sm font-medium text-zinc-800">Replay before save</h3>
          <p className="text-xs text-zinc-500">Checks this link&apos;s audited statements (up to 100,000 calls) against the draft. Nothing runs on the database and nothing is saved.</p>
        </div>
        <div className="flex items-center gap-2">
          <label htmlFor="replay-days" className="sr-only">Days to replay</label>
          <Select id="replay-days" className="!w-28 py-1 text-xs" value={days} onChange={(e) => setDays(Number(e.target.value) as ReplayDays)}>
            {DAYS.map((d) => (
              <option key={d} value={d}>{d === 1 ? "1 day" : `${d} days`}</option>
            ))}
          </Select>
          <Button type="button" variant="secondary" className="text-xs" disabled={running} onClick={replay}>
            {running ? "Replaying…" : `Replay last ${days === 1 ? "day" : `${days} days`}`}
          </Button>
        </div>
      </div>
      {error ? <Alert>{error}</Alert> : null}
      {report ? (
        <div data-testid="replay-result" className={cx("space-y-3", stale && "opacity-60")}>
          <p className="text-sm text-zinc-800" data-testid="replay-summary">
            Replayed {plural(report.calls, "call")} ({plural(report.statements, "distinct statement")}) of the last {plural(report.days, "day")} in {n(report.totalMs)} ms
            <span className="text-zinc-500"> (policy {n(Math.round(report.durationMs))} ms, reading the audit {n(report.loadMs)} ms)</span>. {plural(report.unchanged, "call")} unchanged.
          </p>
          {report.truncated ? <Alert tone="amber">Only the newest 100,000 calls were replayed; older calls of the window were not.</Alert> : null}
          {stale ? <Alert tone="amber">The draft changed since this replay: replay again to see the effect of the current draft.</Alert> : null}
          {report.calls === 0 ? <p className="text-xs text-zinc-500">No audited execute_sql or explain_query call on this link in that window.</p> : null}
          {SECTIONS.map((s) => {
            const groups = report[s.key];
            if (groups.length === 0) return null;
            return (
              <div key={s.key} data-testid={`replay-${s.key}`}>
                <h4 className={cx("text-xs font-semibold uppercase tracking-wide", s.tone)}>{s.title}: {plural(total(groups), "call")}</h4>
                <p className="text-xs text-zinc-500">{s.help}</p>
                <GroupList groups={groups} />
              </div>
            );
          })}
        </div>
      ) : null}
    </section>
  );
}
