import Link from "next/link";
import { HealthBanner } from "@/components/health-banner";
import { Logo } from "@/components/logo";
import { SignOutButton, TeamNav, TeamSwitcher } from "@/components/team-nav";
import { Badge } from "@/components/ui";
import { countActionable } from "@/features/approvals/operations";
import { listMyTeams } from "@/features/teams/operations";
import { visiblePages } from "@/lib/permissions";
import { requireTeamPage } from "@/lib/session";

export default async function TeamLayout({ children, params }: { children: React.ReactNode; params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  // The shell opens for every role; each page checks its own need (an auditor's is Activity only).
  const ctx = await requireTeamPage(slug, "team:open");
  const { user, team, role } = ctx;
  const pages = visiblePages(role);
  const [teams, waiting] = await Promise.all([listMyTeams(user), pages.includes("/approvals") ? countActionable(ctx) : 0]);
  const counts = { "/approvals": waiting };
  return (
    <div className="flex min-h-screen">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2">
        Skip to content
      </a>
      <aside className="sticky top-0 hidden h-screen w-60 shrink-0 flex-col border-r border-zinc-200 bg-zinc-100/70 px-3 py-4 md:flex">
        <Link href="/" className="mb-4 flex items-center gap-2 px-2.5 text-sm font-semibold tracking-tight">
          <Logo className="h-6 w-6" /> Portcullis
        </Link>
        <TeamSwitcher current={team} teams={teams.map((m) => ({ name: m.team.name, slug: m.team.slug, role: m.role }))} />
        <div className="mt-3 flex-1">
          <TeamNav slug={slug} pages={pages} counts={counts} />
        </div>
        <div className="border-t border-zinc-200 px-2.5 pt-3">
          <Link href="/account" className="block truncate text-xs font-medium text-zinc-800 hover:text-brand-700" title={`${user.email} — your account and sessions`}>{user.name ?? user.email}</Link>
          <div className="mt-1 flex items-center justify-between">
            <Badge tone="brand">{role}</Badge>
            <SignOutButton />
          </div>
        </div>
      </aside>
      <div className="min-w-0 flex-1">
        <header className="flex items-center justify-between border-b border-zinc-200 bg-white px-4 py-2 md:hidden">
          <Link href="/" className="flex items-center gap-2 text-sm font-semibold"><Logo className="h-6 w-6" /> {team.name}</Link>
          <SignOutButton />
        </header>
        <div className="overflow-x-auto border-b border-zinc-200 bg-white px-2 py-1 md:hidden"><TeamNav slug={slug} pages={pages} horizontal counts={counts} /></div>
        <main id="main" className="mx-auto max-w-6xl px-4 py-8 md:px-8"><HealthBanner />{children}</main>
      </div>
    </div>
  );
}
