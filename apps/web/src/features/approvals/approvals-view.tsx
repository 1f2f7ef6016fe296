import Link from "next/link";
import { z } from "zod";
import type { TeamContext } from "../../lib/authz";
import { Alert, EmptyState, PageHeader, Select, cx } from "../../components/ui";
import { AccessRequests } from "./access-requests";
import { DecisionNotices } from "./decision-notices";
import { historyLinks, listAccessRequests, listHistory, listOpenRequests, locateGrant, locateRequest, HISTORY_STATUSES, type GrantLocation } from "./operations";
import { RequestCard } from "./request-card";
import { ScrollToHighlight } from "./scroll-to-highlight";

// The URL is untrusted: anything that is not a known tab, link id or status is ignored.
const paramsSchema = z.object({
  tab: z.enum(["queue", "history"]).optional().catch(undefined),
  link: z.string().uuid().optional().catch(undefined),
  status: z.enum(HISTORY_STATUSES as [string, ...string[]]).optional().catch(undefined),
  // Notifications link to one request or access request: its tab opens with it highlighted.
  request: z.string().uuid().optional().catch(undefined),
  grant: z.string().uuid().optional().catch(undefined),
});

/** An access request the Waiting tab no longer lists (refused, revoked, ended): shown on its own. */
function PastGrant({ grant: g }: { grant: GrantLocation }) {
  return (
    <div id={`grant-${g.id}`} tabIndex={-1} className="mb-4 rounded-md outline-none ring-2 ring-amber-400" data-testid="past-grant" data-highlighted="true">
      <Alert tone="blue" title={`Access request: ${g.status}`}>
        {g.member} asked for {g.access} on <span className="font-mono">{g.tableKey}</span>{g.databaseLabel ? <> in database <code className="font-mono">{g.databaseLabel}</code></> : null} through {g.linkName}.
        {g.decider ? ` Decided by ${g.decider}${g.comment ? `: “${g.comment}”` : "."}` : null}
      </Alert>
    </div>
  );
}

/** The Approvals page for a member whose team the caller has already authorized; `query` is the raw URL query. */
export async function ApprovalsView({ ctx, slug, query }: { ctx: TeamContext; slug: string; query: Record<string, string | string[] | undefined> }) {
  const sp = paramsSchema.parse(Object.fromEntries(Object.entries(query).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v])));
  const base = `/t/${slug}/approvals`;
  const [requestAt, grantAt] = await Promise.all([sp.request ? locateRequest(ctx, sp.request) : null, sp.grant ? locateGrant(ctx, sp.grant) : null]);
  // The deep link decides the tab (a decided request is history); an id this member cannot see is said once, in the same words as one that does not exist.
  const tab = requestAt ?? (grantAt ? "queue" : (sp.tab ?? "queue"));
  const missing = (sp.request && !requestAt) || (sp.grant && !grantAt) ? (
    <div className="mb-4" data-testid="deep-link-missing"><Alert tone="amber">The {sp.request && !requestAt ? "request" : "access request"} this link points to is not one you can see: it does not exist, belongs to another team, or is decided by others.</Alert></div>
  ) : null;
  const highlight = requestAt ? `request-${sp.request}` : grantAt ? `grant-${sp.grant}` : null;
  const scroll = highlight ? <ScrollToHighlight targetId={highlight} /> : null;
  const tabs = (
    <nav className="mb-5 flex gap-1 border-b border-zinc-200" aria-label="Approvals">
      {(["queue", "history"] as const).map((t) => (
        <Link key={t} href={t === "queue" ? base : `${base}?tab=history`} aria-current={tab === t ? "page" : undefined}
          className={cx("-mb-px border-b-2 px-3 py-2 text-sm font-medium", tab === t ? "border-brand-600 text-zinc-900" : "border-transparent text-zinc-500 hover:text-zinc-800")}>
          {t === "queue" ? "Waiting" : "History"}
        </Link>
      ))}
    </nav>
  );
  const header = <PageHeader title="Approvals" description="Writes that wait for a person (a lead's approval, or the caller's confirmation), with a dry-run preview of what they would change; and requests for time-boxed access." />;

  if (tab === "history") {
    const [listed, links, linked] = await Promise.all([
      listHistory(ctx, { linkId: sp.link, status: sp.status as never }),
      historyLinks(ctx),
      requestAt === "history" ? listHistory(ctx, { id: sp.request }) : [],
    ]);
    // The linked request leads even when it is older than the newest hundred the list holds.
    const history = [...linked, ...listed.filter((r) => r.id !== sp.request)];
    return (
      <>
        {header}
        {tabs}
        {missing}
        {scroll}
        <form method="get" className="mb-4 flex flex-wrap items-end gap-3" aria-label="Filter history">
          <input type="hidden" name="tab" value="history" />
          <label className="text-xs font-medium text-zinc-600">Link
            <Select name="link" defaultValue={sp.link ?? ""} className="mt-1 w-56">
              <option value="">Every link</option>
              {links.map((l) => <option key={l.id} value={l.id}>{l.name}</option>)}
            </Select>
          </label>
          <label className="text-xs font-medium text-zinc-600">Status
            <Select name="status" defaultValue={sp.status ?? ""} className="mt-1 w-44">
              <option value="">Any</option>
              {HISTORY_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
            </Select>
          </label>
          <button type="submit" className="rounded-md bg-white px-3 py-1.5 text-sm font-medium ring-1 ring-zinc-300 hover:bg-zinc-50">Filter</button>
        </form>
        {history.length === 0 ? (
          <EmptyState title="Nothing decided yet" description="Decided, executed and expired requests appear here, each with its audit chain." />
        ) : (
          <div className="space-y-4">{history.map((r) => <RequestCard key={r.id} request={r} teamId={ctx.team.id} slug={slug} open={false} highlighted={r.id === sp.request} />)}</div>
        )}
      </>
    );
  }

  const [open, access] = await Promise.all([listOpenRequests(ctx), listAccessRequests(ctx)]);
  return (
    <>
      {header}
      {tabs}
      {missing}
      {scroll}
      <DecisionNotices />
      <section aria-labelledby="write-requests" className="space-y-4">
        <h2 id="write-requests" className="text-sm font-semibold text-zinc-900">Write requests <span className="font-normal text-zinc-500">({open.length})</span></h2>
        {open.length === 0 ? (
          <EmptyState title="No writes waiting" description="When a link's scope asks for approval (approval: writes, destructive or confirm), a client's write stops here with a preview until someone decides." />
        ) : (
          open.map((r) => <RequestCard key={r.id} request={r} teamId={ctx.team.id} slug={slug} open highlighted={r.id === sp.request} />)
        )}
      </section>
      <section className="mt-8">
        {grantAt && !grantAt.listed ? <PastGrant grant={grantAt} /> : null}
        <AccessRequests teamId={ctx.team.id} pending={access.pending} active={access.active} highlight={grantAt?.listed ? grantAt.id : undefined} />
      </section>
    </>
  );
}
