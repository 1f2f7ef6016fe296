import Link from "next/link";
import { Badge, ButtonLink, Card, CardHeader, PageHeader, cx, timeAgo } from "@/components/ui";
import { roleAtLeast } from "@/lib/authz";
import { getPrisma } from "@/lib/db";
import { requireTeamPage } from "@/lib/session";

export const metadata = { title: "Overview" };

export default async function OverviewPage({ params }: { params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  const { user, team, role } = await requireTeamPage(slug);
  const prisma = getPrisma();
  const isAdmin = roleAtLeast(role, "admin");
  const since = new Date(Date.now() - 86_400_000);
  const [connections, links, myKeys, firstLink, calls, blocked, members, lastEvent] = await Promise.all([
    prisma.connection.count({ where: { teamId: team.id } }),
    prisma.link.count({ where: { teamId: team.id, ...(role === "member" ? { access: { some: { userId: user.userId } } } : {}) } }),
    prisma.apiKey.count({ where: { teamId: team.id, userId: user.userId, revokedAt: null } }),
    prisma.link.findFirst({ where: { teamId: team.id, ...(role === "member" ? { access: { some: { userId: user.userId } } } : {}) }, orderBy: { createdAt: "asc" } }),
    prisma.auditEvent.count({ where: { teamId: team.id, time: { gte: since }, ...(role === "member" ? { userId: user.userId } : {}) } }),
    prisma.auditEvent.count({ where: { teamId: team.id, time: { gte: since }, verdict: "blocked", ...(role === "member" ? { userId: user.userId } : {}) } }),
    prisma.membership.count({ where: { teamId: team.id } }),
    prisma.auditEvent.findFirst({ where: { teamId: team.id, ...(role === "member" ? { userId: user.userId } : {}) }, orderBy: { time: "desc" }, select: { time: true } }),
  ]);
  const steps = [
    ...(isAdmin
      ? [
          { done: connections > 0, title: "Add a PostgreSQL connection", text: "We test it before saving and encrypt the password.", href: `/t/${slug}/connections/new`, cta: "Add connection" },
          { done: links > 0, title: "Create an MCP link with a scope", text: "Start read-only and hide tables or columns with personal data.", href: `/t/${slug}/links/new`, cta: "Create link" },
        ]
      : []),
    { done: myKeys > 0, title: "Create your key and paste the config", text: "Cursor, Claude Code, Claude Desktop and VS Code snippets are ready to copy.", href: firstLink ? `/t/${slug}/links/${firstLink.id}` : `/t/${slug}/links`, cta: "Connect a client" },
    { done: !!lastEvent, title: "Ask your AI about your data", text: "Every call shows up in Activity with its verdict.", href: `/t/${slug}/activity`, cta: "Open Activity" },
  ];
  // Viewers read activity only: a checklist about keys would point them at things they cannot do.
  const next = role === "viewer" ? undefined : steps.find((s) => !s.done);
  return (
    <>
      <PageHeader title={team.name} description="Your team's MCP gateway at a glance." />
      {next ? (
        <Card className="mb-6">
          <CardHeader title="Get started" description={`${steps.filter((s) => s.done).length} of ${steps.length} done — about five minutes from here to your first query.`} />
          <ol className="divide-y divide-zinc-100">
            {steps.map((s, i) => (
              <li key={s.title} className="flex items-center gap-4 px-5 py-3">
                <span className={cx("flex h-7 w-7 shrink-0 items-center justify-center rounded-full text-xs font-semibold", s.done ? "bg-emerald-100 text-emerald-700" : s === next ? "bg-brand-600 text-white" : "bg-zinc-100 text-zinc-500")} aria-hidden="true">
                  {s.done ? "✓" : i + 1}
                </span>
                <div className="min-w-0 flex-1">
                  <p className={cx("text-sm font-medium", s.done ? "text-zinc-500 line-through" : "text-zinc-900")}>{s.title}</p>
                  <p className="text-xs text-zinc-500">{s.text}</p>
                </div>
                {s === next ? <ButtonLink href={s.href}>{s.cta}</ButtonLink> : s.done ? <span className="sr-only">done</span> : null}
              </li>
            ))}
          </ol>
        </Card>
      ) : null}
      <div className="grid grid-cols-2 gap-4 lg:grid-cols-4">
        {[
          { label: "Calls (24 h)", value: calls, href: `/t/${slug}/activity?range=24h` },
          { label: "Blocked (24 h)", value: blocked, href: `/t/${slug}/activity?range=24h&verdict=blocked`, tone: blocked > 0 ? "text-red-700" : undefined },
          { label: role === "member" ? "Your links" : "MCP links", value: links, href: `/t/${slug}/links` },
          { label: "Members", value: members, href: `/t/${slug}/settings` },
        ].map((m) => (
          <Link key={m.label} href={m.href} className="rounded-lg bg-white p-4 ring-1 ring-zinc-200 hover:ring-zinc-300">
            <p className="text-xs text-zinc-500">{m.label}</p>
            <p className={cx("mt-1 text-2xl font-semibold tabular-nums", m.tone)}>{m.value.toLocaleString("en")}</p>
          </Link>
        ))}
      </div>
      <p className="mt-4 text-xs text-zinc-500">
        Last call {timeAgo(lastEvent?.time)} · you are <Badge tone="brand">{role}</Badge>
      </p>
    </>
  );
}
