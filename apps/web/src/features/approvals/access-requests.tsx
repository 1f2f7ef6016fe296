import { Badge, Card, CardHeader, cx, formatDate, timeAgo } from "../../components/ui";
import { GrantDecisionForm, RevokeGrantButton } from "./decision-form";
import type { AccessGrantView } from "./operations";
import { timeLeft } from "./preview-diff";

/** Time-boxed elevation: requests waiting for a decision, then the grants in force with time left. */
export function AccessRequests({ teamId, pending, active, highlight }: { teamId: string; pending: AccessGrantView[]; active: AccessGrantView[]; highlight?: string }) {
  // A notification's deep link (?grant=<id>) marks its row; the page scrolls to it.
  const mark = (id: string) => ({
    id: `grant-${id}`,
    tabIndex: id === highlight ? -1 : undefined,
    "data-highlighted": id === highlight ? "true" : undefined,
  });
  return (
    <Card data-testid="access-requests">
      <CardHeader title="Access requests" description="A member asks for more access on one table of one link, for a number of minutes. Granted access ends by itself; revoke ends it now." />
      {pending.length === 0 && active.length === 0 ? <p className="px-5 py-4 text-sm text-zinc-500">No access requests and no grants in force.</p> : null}
      <ul className="divide-y divide-zinc-100">
        {pending.map((g) => (
          <li key={g.id} {...mark(g.id)} className={cx("grid gap-3 px-5 py-4 md:grid-cols-[minmax(0,1fr)_20rem]", g.id === highlight && "bg-amber-50 outline-none ring-2 ring-inset ring-amber-400")} data-testid="access-request">
            <div className="space-y-1 text-sm">
              <p>
                <span className="font-medium text-zinc-900">{g.member}</span> asks for <Badge tone="amber">{g.access}</Badge> on <span className="font-mono">{g.tableKey}</span>{g.databaseLabel ? <> in database <code className="font-mono">{g.databaseLabel}</code></> : null} through{" "}
                <span className="font-medium">{g.linkName}</span> for {g.minutes} min
              </p>
              <p className="text-zinc-600">“{g.reason}”</p>
              <p className="text-xs text-zinc-500">asked {timeAgo(g.createdAt)} via {g.via} · the request {timeLeft(g.requestExpiresAt).replace(" left", " left to decide")}</p>
            </div>
            {g.may.decide ? <GrantDecisionForm teamId={teamId} grantId={g.id} /> : <p className="text-sm text-zinc-500">{g.may.why}</p>}
          </li>
        ))}
        {active.map((g) => (
          <li key={g.id} {...mark(g.id)} className={cx("flex flex-wrap items-center justify-between gap-3 px-5 py-3", g.id === highlight && "bg-amber-50 outline-none ring-2 ring-inset ring-amber-400")} data-testid="active-grant">
            <div className="text-sm">
              <Badge tone="green">granted</Badge> <span className="font-medium">{g.member}</span> has <Badge>{g.access}</Badge> on <span className="font-mono">{g.tableKey}</span>{g.databaseLabel ? <> in database <code className="font-mono">{g.databaseLabel}</code></> : null} ({g.linkName})
              <span className="ml-2 text-xs text-zinc-500" title={formatDate(g.expiresAt)}>{g.expiresAt ? timeLeft(g.expiresAt) : ""}</span>
              {g.decider ? <span className="ml-2 text-xs text-zinc-500">granted by {g.decider}</span> : null}
            </div>
            {g.may.revoke ? <RevokeGrantButton teamId={teamId} grantId={g.id} /> : null}
          </li>
        ))}
      </ul>
    </Card>
  );
}
