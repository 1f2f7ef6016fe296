"use client";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import type { DescriptionsStatus } from "@portcullis/jobs";
import { Button } from "../../components/ui";
import { descriptionsStatusAction, regenerateDescriptionsAction } from "./actions";
import { describeStatus } from "./format";

const POLL_MS = 2000;

type State =
  | { kind: "idle" }
  | { kind: "queuing" }
  | { kind: "running"; jobId: string; status: DescriptionsStatus | null }
  | { kind: "done"; status: DescriptionsStatus }
  | { kind: "failed"; message: string };

/**
 * Queues a regeneration, then follows the job: polls its progress every 2 s until it completes or
 * fails, and refreshes the page so the new descriptions show. Polling a server action (not a socket)
 * keeps the dashboard stateless, like the Activity tab's live mode.
 */
export function RegenerateButton({ teamId, connectionId, tables, label = "Regenerate descriptions", small }: { teamId: string; connectionId: string; tables?: string[]; label?: string; small?: boolean }) {
  const router = useRouter();
  const [state, setState] = useState<State>({ kind: "idle" });
  const jobId = state.kind === "running" ? state.jobId : null;

  useEffect(() => {
    if (!jobId) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A chain of timeouts, not an interval: a slow answer never overlaps the next poll.
    const poll = async () => {
      const result = await descriptionsStatusAction({ teamId, connectionId, jobId });
      if (stopped) return;
      if (!result.ok) return setState({ kind: "failed", message: result.error });
      const status = result.data;
      if (status.state === "completed") {
        setState({ kind: "done", status });
        router.refresh();
      } else if (status.state === "failed") {
        setState({ kind: "failed", message: describeStatus(status) });
        // Tables finished before the failure are stored: show them.
        router.refresh();
      } else {
        setState({ kind: "running", jobId, status });
        timer = setTimeout(poll, POLL_MS);
      }
    };
    timer = setTimeout(poll, POLL_MS);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [jobId, teamId, connectionId, router]);

  const busy = state.kind === "queuing" || state.kind === "running";
  const progress = state.kind === "running" ? state.status?.progress : null;
  return (
    <span className="inline-flex flex-wrap items-center gap-2">
      <Button
        variant="secondary"
        className={small ? "px-2 py-0.5 text-xs" : undefined}
        disabled={busy}
        onClick={async () => {
          setState({ kind: "queuing" });
          const result = await regenerateDescriptionsAction({ teamId, connectionId, tables });
          setState(result.ok ? { kind: "running", jobId: result.data.jobId, status: null } : { kind: "failed", message: result.error });
        }}
      >
        {state.kind === "queuing" ? "Queuing…" : state.kind === "running" ? "Working…" : label}
      </Button>
      {progress && progress.total > 0 ? (
        <span className="h-1.5 w-20 rounded-full bg-zinc-100" role="progressbar" aria-label="Descriptions progress" aria-valuenow={progress.done} aria-valuemax={progress.total}>
          <span className="block h-1.5 rounded-full bg-brand-500 transition-all" style={{ width: `${Math.round((progress.done / progress.total) * 100)}%` }} />
        </span>
      ) : null}
      <span aria-live="polite" className="text-xs text-zinc-500" data-testid="descriptions-progress">
        {state.kind === "running" ? describeStatus(state.status) : state.kind === "done" ? <span className="text-emerald-700">{describeStatus(state.status)}</span> : state.kind === "failed" ? <span className="text-red-600">{state.message}</span> : null}
      </span>
    </span>
  );
}
