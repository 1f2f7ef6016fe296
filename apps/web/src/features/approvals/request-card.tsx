import Link from "next/link";
import { Badge, Card, cx, formatDate, timeAgo } from "../../components/ui";
import { SqlView } from "../activity/sql-view";
import { DecisionForm } from "./decision-form";
import type { WriteRequestView } from "./operations";
import { timeLeft } from "./preview-diff";
import { PreviewView } from "./preview-view";

const STATUS_TONE: Record<string, "zinc" | "green" | "red" | "amber" | "brand" | "blue"> = {
  pending: "amber", approved: "blue", executing: "blue", executed: "green", rejected: "red", expired: "zinc", failed: "red",
};

/** Each audit event of a request's chain, named for what it was in the request's life. */
export function chainStep(e: { kind: string; tool: string | null; verdict: string | null; ruleId: string | null }): string {
  if (e.kind === "config_change") return "decision";
  if (e.ruleId === "approval_required" || e.ruleId === "confirmation_required") return "request";
  if (e.tool === "get_write_request") return "status check";
  if (e.verdict === "allowed") return "execution";
  if (e.verdict === "error") return "failed execution";
  return `refused run${e.ruleId ? ` (${e.ruleId})` : ""}`;
}

/** What the execution reported, in words (the gateway's structured result carries `affected` for writes). */
export function resultWords(result: unknown): string | null {
  if (!result || typeof result !== "object") return null;
  const r = result as { affected?: unknown; rowCount?: unknown; command?: unknown };
  const n = typeof r.affected === "number" ? r.affected : typeof r.rowCount === "number" ? r.rowCount : null;
  if (n === null) return null;
  return `${n.toLocaleString("en")} ${n === 1 ? "row" : "rows"} affected`;
}

function Meta({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <dt className="text-[11px] font-medium uppercase tracking-wide text-zinc-500">{label}</dt>
      <dd className="text-sm text-zinc-800">{children}</dd>
    </div>
  );
}

export function RequestCard({ request: r, teamId, slug, open, highlighted = false }: { request: WriteRequestView; teamId: string; slug: string; open: boolean; highlighted?: boolean }) {
  const status = r.status === "pending" && r.expiresAt.getTime() <= Date.now() ? "expired" : r.status;
  return (
    <Card
      id={`request-${r.id}`}
      tabIndex={highlighted ? -1 : undefined}
      className={cx("overflow-hidden scroll-mt-6", highlighted && "ring-2 ring-amber-400 outline-none")}
      data-testid="write-request"
      data-request-id={r.id}
      data-highlighted={highlighted ? "true" : undefined}
    >
      <div className="flex flex-wrap items-center justify-between gap-2 border-b border-zinc-200 px-5 py-3">
        <div className="flex flex-wrap items-center gap-2">
          <Badge tone={STATUS_TONE[status] ?? "zinc"}>{status}</Badge>
          <Badge tone={r.kind === "confirm" ? "brand" : "zinc"}>{r.kind === "confirm" ? "caller confirms" : `approval: ${r.mode}`}</Badge>
          <span className="text-sm font-semibold text-zinc-900">{r.tables.join(", ") || "DDL"}</span>
        </div>
        {open ? <span className="text-xs font-medium text-amber-700" data-testid="time-left">{timeLeft(r.expiresAt)}</span> : null}
      </div>
      <div className="grid gap-5 p-5 lg:grid-cols-[minmax(0,1fr)_18rem]">
        <div className="min-w-0 space-y-4">
          <p className="text-sm text-zinc-700">{r.reason}</p>
          <SqlView sql={r.sql} testId="request-sql" />
          {Array.isArray(r.params) && r.params.length > 0 ? <p className="font-mono text-xs text-zinc-500">Parameters: {JSON.stringify(r.params)}</p> : null}
          <PreviewView preview={r.preview} withheld={r.previewWithheld} />
        </div>
        <div className="space-y-4">
          <dl className="grid grid-cols-2 gap-3 lg:grid-cols-1">
            <Meta label="Link">{r.linkName}</Meta>
            {r.databaseLabel ? <Meta label="Database">{r.databaseLabel}</Meta> : null}
            <Meta label="Member">{r.requester ?? "—"}</Meta>
            <Meta label="Client">{r.clientName ?? "—"}</Meta>
            <Meta label="Asked"><span title={formatDate(r.createdAt)}>{timeAgo(r.createdAt)}</span></Meta>
            {r.decidedAt ? <Meta label="Decided">{r.decider ?? "—"}, <span title={formatDate(r.decidedAt)}>{timeAgo(r.decidedAt)}</span>{r.comment ? <span className="block text-xs italic text-zinc-600">“{r.comment}”</span> : null}</Meta> : null}
            {r.status === "approved" && r.executeBefore ? <Meta label="Run before">{formatDate(r.executeBefore)}</Meta> : null}
            {r.status === "executed" ? <Meta label="Result"><span data-testid="result-words">{resultWords(r.result) ?? "ran"}</span>{r.executedAt ? <span className="block text-xs text-zinc-500">{formatDate(r.executedAt)}</span> : null}</Meta> : null}
            {r.status === "failed" && r.error ? <Meta label="Error"><span className="text-red-700">{r.error}</span></Meta> : null}
          </dl>
          {r.chain.length > 0 ? (
            <div>
              <h4 className="text-[11px] font-medium uppercase tracking-wide text-zinc-500">Audit chain</h4>
              <ol className="mt-1 space-y-0.5 text-xs" data-testid="audit-chain">
                {r.chain.map((e) => (
                  <li key={e.id}>
                    <Link href={`/t/${slug}/activity?event=${e.id}`} className="text-brand-600 hover:text-brand-700">
                      {chainStep(e)}
                    </Link>{" "}
                    <span className="text-zinc-500">{formatDate(e.time)}</span>
                  </li>
                ))}
              </ol>
            </div>
          ) : null}
          {open ? <DecisionForm teamId={teamId} requestId={r.id} may={r.may} /> : null}
        </div>
      </div>
    </Card>
  );
}
