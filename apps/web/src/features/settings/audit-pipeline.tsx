import type { ReactNode } from "react";
import { isPortcullisError } from "@portcullis/db/errors";
import { Alert, Badge, Card, CardHeader, timeAgo } from "../../components/ui";
import type { TeamContext } from "../../lib/authz";
import { ReplayDeadLettersButton } from "./replay-button";
import { teamDeadLetters } from "./operations";

const SECTION_DESCRIPTION = "Audit events the worker could not store after every retry wait here, never dropped. Fix the cause, then replay them: each event is stored once, however often it is replayed.";

/** Settings → "Audit pipeline" (owners and admins). Streamed under <Suspense>: it reads Redis. */
export async function AuditPipelineSection({ ctx }: { ctx: TeamContext }) {
  let data: Awaited<ReturnType<typeof teamDeadLetters>>;
  try {
    data = await teamDeadLetters(ctx);
  } catch (error) {
    // Redis down must not take the settings page with it; say what is missing instead.
    if (!isPortcullisError(error)) console.error("[web] reading dead letters failed", error);
    return (
      <AuditPipelineCard>
        <div className="p-5"><Alert tone="amber">Could not read the audit pipeline: {isPortcullisError(error) ? error.message : "the job queue (Redis) is unreachable"}.</Alert></div>
      </AuditPipelineCard>
    );
  }
  if (data.count === 0) {
    return (
      <AuditPipelineCard>
        <p className="px-5 py-4 text-sm text-zinc-600" data-testid="dead-letters-empty">No audit event has failed ingestion.</p>
      </AuditPipelineCard>
    );
  }
  return (
    <AuditPipelineCard actions={<ReplayDeadLettersButton teamId={ctx.team.id} count={data.count} />}>
      <p className="px-5 pt-4 text-sm text-zinc-700" data-testid="dead-letters-count">
        <Badge tone="red">{data.count.toLocaleString("en")}{data.truncated ? "+" : ""}</Badge> event{data.count === 1 ? "" : "s"} failed ingestion
        {data.count > data.letters.length ? <span className="text-zinc-500"> · the latest {data.letters.length} below</span> : null}
      </p>
      <div className="overflow-x-auto p-5 pt-3">
        <table className="w-full min-w-[40rem] table-fixed text-sm">
          <thead>
            <tr className="text-left text-xs uppercase tracking-wide text-zinc-500">
              <th className="w-28 py-1 pr-3 font-medium">Failed</th>
              <th className="py-1 pr-3 font-medium">Event</th>
              <th className="w-2/5 py-1 pr-3 font-medium">Reason</th>
              <th className="w-20 py-1 text-right font-medium">Attempts</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-zinc-100">
            {data.letters.map((l) => (
              <tr key={l.id} className="align-top">
                <td className="py-2 pr-3 text-xs text-zinc-500" title={l.failedAt}>{timeAgo(l.failedAt)}</td>
                <td className="truncate py-2 pr-3">
                  <span className="block truncate font-mono text-xs text-zinc-800" title={l.event.sql ?? undefined}>{l.event.sql ?? l.event.tool ?? l.event.kind ?? "(unreadable event)"}</span>
                  <span className="text-[11px] text-zinc-400">{[l.event.verdict, l.event.tool, l.event.time ? `at ${l.event.time}` : null].filter(Boolean).join(" · ")} · id {l.id}</span>
                </td>
                <td className="break-words py-2 pr-3 text-xs text-red-700">{l.failedReason}</td>
                <td className="py-2 text-right text-xs tabular-nums text-zinc-600">{l.attemptsMade}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </AuditPipelineCard>
  );
}

function AuditPipelineCard({ actions, children }: { actions?: ReactNode; children: ReactNode }) {
  return (
    <Card data-testid="audit-pipeline">
      <CardHeader title="Audit pipeline" description={SECTION_DESCRIPTION} actions={actions} />
      {children}
    </Card>
  );
}

export function AuditPipelinePending() {
  return (
    <AuditPipelineCard>
      <p className="px-5 py-4 text-sm text-zinc-400">Reading the dead-letter queue…</p>
    </AuditPipelineCard>
  );
}
