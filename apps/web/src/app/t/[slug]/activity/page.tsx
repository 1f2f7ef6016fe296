import Link from "next/link";
import { notFound } from "next/navigation";
import { Suspense } from "react";
import { ButtonLink, Card, EmptyState, PageHeader, cx, timeAgo } from "@/components/ui";
import { AuditChainBadge, AuditChainBadgePending } from "@/features/activity/audit-badge";
import { ActivityCharts } from "@/features/activity/charts";
import { ClientLine } from "@/features/activity/client-label";
import { EventDetail, VerdictBadge } from "@/features/activity/event-detail";
import { FilterBar } from "@/features/activity/filter-bar";
import { filtersToSearch, parseFilters, timeWindow } from "@/features/activity/filters";
import { ActivityKeyboard } from "@/features/activity/keyboard";
import { LiveRefresh } from "@/features/activity/live-refresh";
import { activityLookups, activityStats, getEvent, listEvents } from "@/features/activity/operations";
import { requireTeamPage } from "@/lib/session";

export const metadata = { title: "Activity" };

export default async function ActivityPage({ params, searchParams }: { params: Promise<{ slug: string }>; searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { slug } = await params;
  const sp = await searchParams;
  const { user, team } = await requireTeamPage(slug, "activity:read");
  const filters = parseFilters(sp);
  const cursor = typeof sp.cursor === "string" ? sp.cursor : undefined;
  const eventId = typeof sp.event === "string" ? sp.event : undefined;
  const [page, stats, lookups, event] = await Promise.all([
    listEvents(user, team.id, filters, cursor),
    activityStats(user, team.id, filters),
    activityLookups(user, team.id),
    eventId ? getEvent(user, team.id, eventId).catch(() => null) : Promise.resolve(null),
  ]);
  if (eventId && !event) notFound();
  const linkName = new Map(lookups.links.map((l) => [l.id, l.name]));
  const keyName = new Map(lookups.keys.map((k) => [k.id, k.name]));
  const memberName = new Map(lookups.members.map((m) => [m.id, m.label]));
  const base = { ...filters, cursor };
  const search = filtersToSearch(filters);
  const exportHref = (format: string) => `/t/${slug}/activity/export${search ? `${search}&` : "?"}format=${format}`;
  const total = stats.totals.allowed + stats.totals.blocked + stats.totals.error;
  const utc = (d: Date | string) => new Date(d).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  // "Search further": the page stopped reading at searchedBackTo (its time budget spent); the cursor goes on from there.
  const furtherHref = page.searchedBackTo && page.nextCursor ? `/t/${slug}/activity${filtersToSearch({ ...filters, cursor: page.nextCursor })}` : null;
  // The charts counted the events from countedFrom on only: the older part of the window is a range of its own.
  const olderHref = stats.countedFrom ? `/t/${slug}/activity${filtersToSearch({ ...filters, range: "custom", from: timeWindow(filters).from.toISOString(), to: stats.countedFrom.time, cursor: undefined })}` : null;

  return (
    <>
      <PageHeader
        title="Activity"
        description={lookups.canSeeEveryone ? "Every tool call through your team's links — allowed, blocked or failed — newest first." : "Calls made with your keys, newest first."}
        actions={
          <>
            {/* Streamed: verifying reads the whole chain, and the events must not wait for it. */}
            <Suspense fallback={<AuditChainBadgePending />}>
              <AuditChainBadge actor={user} teamId={team.id} slug={slug} />
            </Suspense>
            <LiveRefresh enabled={!cursor} />
            <ButtonLink variant="secondary" href={exportHref("csv")} prefetch={false}>Export CSV</ButtonLink>
            <ButtonLink variant="secondary" href={exportHref("jsonl")} prefetch={false}>Export JSON lines</ButtonLink>
            {lookups.canSeeEveryone ? <ButtonLink variant="ghost" href={`/t/${slug}/activity/sinks`}>Audit export</ButtonLink> : null}
          </>
        }
      />
      <div className="space-y-4">
        <FilterBar slug={slug} filters={filters} lookups={lookups} />
        <ActivityKeyboard closeHref={event ? `/t/${slug}/activity${filtersToSearch(base)}` : undefined} />
        <div className="grid grid-cols-3 gap-3 sm:max-w-lg">
          {(["allowed", "blocked", "error"] as const).map((v) => (
            <Link key={v} href={`/t/${slug}/activity${filtersToSearch({ ...filters, verdict: filters.verdict === v ? undefined : v })}`} className={cx("rounded-lg bg-white px-3 py-2 ring-1 hover:ring-zinc-300", filters.verdict === v ? "ring-brand-500" : "ring-zinc-200")}>
              <p className="text-xs capitalize text-zinc-500">{v}</p>
              <p className={cx("text-lg font-semibold tabular-nums", v === "allowed" ? "text-emerald-700" : v === "blocked" ? "text-red-700" : "text-amber-700")}>{stats.totals[v].toLocaleString("en")}</p>
            </Link>
          ))}
        </div>
        {stats.countedFrom ? (
          <p className="rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-800 ring-1 ring-amber-200" data-testid="activity-counted-from">
            {stats.countedFrom.what === "all" ? "Totals and charts count" : "Top tables count"} the calls since {utc(stats.countedFrom.time)} only: these filters are counted from the events
            themselves, and reading further back would take too long.{" "}
            {olderHref ? <Link href={olderHref} className="font-medium underline">Count the older part</Link> : null}
          </p>
        ) : null}
        {total > 0 ? <ActivityCharts stats={stats} /> : null}
        <div className={cx("grid gap-4", event ? "lg:grid-cols-5" : "grid-cols-1")}>
          <div className={event ? "lg:col-span-3" : undefined}>
            {page.events.length === 0 && page.searchedBackTo && furtherHref ? (
              <EmptyState
                title={`No matches since ${utc(page.searchedBackTo)}`}
                description="The search read every event from then on and stopped there; older events in the range are not searched yet."
                action={<ButtonLink variant="secondary" href={furtherHref}>Search further</ButtonLink>}
              />
            ) : page.events.length === 0 ? (
              <EmptyState
                title={cursor ? "No older events" : "No activity in this range"}
                description={cursor ? "You reached the end of the filtered activity." : "When an AI client calls one of your links, each call shows up here within seconds — allowed or blocked, with the reason. Widen the time range or clear filters if you expected events."}
                action={<ButtonLink variant="secondary" href={`/t/${slug}/links`}>Go to MCP links</ButtonLink>}
              />
            ) : (
              <Card className="overflow-x-auto">
                <table className="min-w-[40rem] w-full table-fixed divide-y divide-zinc-200 text-sm" data-testid="activity-table">
                  <thead className="bg-zinc-50">
                    <tr>
                      <th className="w-24 px-3 py-2 text-left text-xs font-medium uppercase text-zinc-500">When</th>
                      <th className="w-24 px-3 py-2 text-left text-xs font-medium uppercase text-zinc-500">Verdict</th>
                      <th className="px-3 py-2 text-left text-xs font-medium uppercase text-zinc-500">Statement</th>
                      {!event ? <th className="w-36 px-3 py-2 text-left text-xs font-medium uppercase text-zinc-500">Link · member</th> : null}
                      <th className="w-20 px-3 py-2 text-right text-xs font-medium uppercase text-zinc-500">Time</th>
                    </tr>
                  </thead>
                  <tbody className="divide-y divide-zinc-100">
                    {page.events.map((e) => {
                      const href = `/t/${slug}/activity${filtersToSearch({ ...base, event: e.id })}`;
                      return (
                        <tr key={e.id} className={cx("group hover:bg-zinc-50", e.id === eventId && "bg-brand-50")}>
                          <td className="px-3 py-2 text-xs text-zinc-500" title={e.time.toISOString()}>{timeAgo(e.time)}</td>
                          <td className="px-3 py-2"><VerdictBadge verdict={e.verdict} /></td>
                          <td className="truncate px-3 py-2">
                            <Link href={href} scroll={false} data-event-link className="block truncate rounded font-mono text-xs text-zinc-800 group-hover:text-brand-700">
                              {e.sql ?? <span className="font-sans text-zinc-500">{e.tool ?? e.kind}</span>}
                            </Link>
                            {e.verdict === "blocked" && e.rule_id ? <span className="text-[11px] text-red-700">{e.rule_id}</span> : null}
                            {e.sql ? <span className="ml-1 text-[11px] text-zinc-400">{e.tool}</span> : null}
                            <ClientLine row={e} />
                          </td>
                          {!event ? (
                            <td className="truncate px-3 py-2 text-xs text-zinc-600">
                              {(e.link_id && linkName.get(e.link_id)) ?? "—"}
                              <br />
                              <span className="text-zinc-400">{(e.user_id && memberName.get(e.user_id)) ?? (e.api_key_id && keyName.get(e.api_key_id)) ?? ""}</span>
                            </td>
                          ) : null}
                          <td className="px-3 py-2 text-right text-xs tabular-nums text-zinc-600">{e.duration_ms.toFixed(1)} ms</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
                <div className="flex items-center justify-between border-t border-zinc-200 px-3 py-2 text-sm">
                  {cursor ? <Link href={`/t/${slug}/activity${search}`} className="text-brand-600 hover:text-brand-700">← Newest</Link> : <span className="text-xs text-zinc-400">Newest first</span>}
                  {furtherHref && page.searchedBackTo ? (
                    <span className="text-xs text-zinc-500" data-testid="activity-searched-back">
                      Searched back to {utc(page.searchedBackTo)} ·{" "}
                      <Link href={furtherHref} className="text-sm text-brand-600 hover:text-brand-700">Search further →</Link>
                    </span>
                  ) : page.nextCursor ? (
                    <Link href={`/t/${slug}/activity${filtersToSearch({ ...filters, cursor: page.nextCursor })}`} className="text-brand-600 hover:text-brand-700">Older →</Link>
                  ) : (
                    <span className="text-xs text-zinc-400">End of results</span>
                  )}
                </div>
              </Card>
            )}
          </div>
          {event ? (
            <div className="lg:col-span-2">
              <div className="lg:sticky lg:top-4">
                <EventDetail
                  event={event}
                  closeHref={`/t/${slug}/activity${filtersToSearch(base)}`}
                  names={{ link: event.link_id ? linkName.get(event.link_id) : undefined, key: event.api_key_id ? keyName.get(event.api_key_id) : undefined, member: event.user_id ? memberName.get(event.user_id) : undefined }}
                />
              </div>
            </div>
          ) : null}
        </div>
      </div>
    </>
  );
}
