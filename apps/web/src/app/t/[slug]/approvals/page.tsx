import Link from "next/link";
import { z } from "zod";
import { EmptyState, PageHeader, Select, cx } from "@/components/ui";
import { AccessRequests } from "@/features/approvals/access-requests";
import { DecisionNotices } from "@/features/approvals/decision-notices";
import { historyLinks, listAccessRequests, listHistory, listOpenRequests, HISTORY_STATUSES } from "@/features/approvals/operations";
import { RequestCard } from "@/features/approvals/request-card";
import { requireTeamPage } from "@/lib/session";

export const metadata = { title: "Approvals" };

// The URL is untrusted: anything that is not a known tab, link id or status is ignored.
const paramsSchema = z.object({
  tab: z.enum(["queue", "history"]).catch("queue").default("queue"),
  link: z.string().uuid().optional().catch(undefined),
  status: z.enum(HISTORY_STATUSES as [string, ...string[]]).optional().catch(undefined),
});

export default async function ApprovalsPage({ params, searchParams }: { params: Promise<{ slug: string }>; searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { slug } = await params;
  const raw = await searchParams;
  const sp = paramsSchema.parse(Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v])));
  const ctx = await requireTeamPage(slug);
  const base = `/t/${slug}/approvals`;
  const tabs = (
    <nav className="mb-5 flex gap-1 border-b border-zinc-200" aria-label="Approvals">
      {(["queue", "history"] as const).map((t) => (
        <Link key={t} href={t === "queue" ? base : `${base}?tab=history`} aria-current={sp.tab === t ? "page" : undefined}
          className={cx("-mb-px border-b-2 px-3 py-2 text-sm font-medium", sp.tab === t ? "border-brand-600 text-zinc-900" : "border-transparent text-zinc-500 hover:text-zinc-800")}>
          {t === "queue" ? "Waiting" : "History"}
        </Link>
      ))}
    </nav>
  );
  const header = <PageHeader title="Approvals" description="Writes that wait for a person (a lead's approval, or the caller's confirmation), with a dry-run preview of what they would change; and requests for time-boxed access." />;

  if (sp.tab === "history") {
    const [history, links] = await Promise.all([listHistory(ctx, { linkId: sp.link, status: sp.status as never }), historyLinks(ctx)]);
    return (
      <>
        {header}
        {tabs}
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
          <div className="space-y-4">{history.map((r) => <RequestCard key={r.id} request={r} teamId={ctx.team.id} slug={slug} open={false} />)}</div>
        )}
      </>
    );
  }

  const [open, access] = await Promise.all([listOpenRequests(ctx), listAccessRequests(ctx)]);
  return (
    <>
      {header}
      {tabs}
      <DecisionNotices />
      <section aria-labelledby="write-requests" className="space-y-4">
        <h2 id="write-requests" className="text-sm font-semibold text-zinc-900">Write requests <span className="font-normal text-zinc-500">({open.length})</span></h2>
        {open.length === 0 ? (
          <EmptyState title="No writes waiting" description="When a link's scope asks for approval (approval: writes, destructive or confirm), a client's write stops here with a preview until someone decides." />
        ) : (
          open.map((r) => <RequestCard key={r.id} request={r} teamId={ctx.team.id} slug={slug} open />)
        )}
      </section>
      <section className="mt-8">
        <AccessRequests teamId={ctx.team.id} pending={access.pending} active={access.active} />
      </section>
    </>
  );
}
