import Link from "next/link";
import { Suspense } from "react";
import { Badge, Card, CardHeader, PageHeader, formatDate } from "@/components/ui";
import { AuditPipelinePending, AuditPipelineSection } from "@/features/settings/audit-pipeline";
import { NotificationsSection } from "@/features/notifications/notifications-section";
import { IdentityProvidersSection } from "@/features/identity-providers/identity-providers-section";
import { teamIdentityProviders } from "@/features/identity-providers/operations";
import { getOAuthContext } from "@/features/oauth/server";
import { DeleteTeamButton, GeneralSettingsForm, InviteForm, MemberRow, RevokeInvitationButton } from "@/features/settings/settings-forms";
import { visibleLinks } from "@/features/links/operations";
import { roleAtLeast } from "@/lib/authz";
import { getPrisma } from "@/lib/db";
import { requireTeamPage } from "@/lib/session";

export const metadata = { title: "Team settings" };

function Usage({ label, used, max }: { label: string; used: number; max: number | null }) {
  const pct = max ? Math.min(100, Math.round((used / max) * 100)) : 0;
  return (
    <div>
      <div className="flex justify-between text-sm">
        <span className="text-zinc-600">{label}</span>
        <span className="tabular-nums text-zinc-900">{used.toLocaleString("en")}{max !== null ? ` / ${max}` : ""}</span>
      </div>
      {max !== null ? (
        <div className="mt-1 h-1.5 rounded-full bg-zinc-100" role="progressbar" aria-valuenow={used} aria-valuemax={max} aria-label={label}>
          <div className={pct >= 100 ? "h-1.5 rounded-full bg-red-500" : "h-1.5 rounded-full bg-brand-500"} style={{ width: `${pct}%` }} />
        </div>
      ) : <p className="text-[11px] text-zinc-400">No limit</p>}
    </div>
  );
}

export default async function SettingsPage({ params }: { params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  const ctx = await requireTeamPage(slug);
  const { user, team, role } = ctx;
  const prisma = getPrisma();
  const isAdmin = roleAtLeast(role, "admin");
  const [members, invitations, connections, links, events, monthEvents] = await Promise.all([
    prisma.membership.findMany({ where: { teamId: team.id }, include: { user: true }, orderBy: { createdAt: "asc" } }),
    isAdmin ? prisma.invitation.findMany({ where: { teamId: team.id, acceptedAt: null, revokedAt: null, expiresAt: { gt: new Date() } }, orderBy: { createdAt: "desc" } }) : Promise.resolve([]),
    prisma.connection.count({ where: { teamId: team.id } }),
    prisma.link.count({ where: visibleLinks(ctx) }),
    prisma.auditEvent.count({ where: { teamId: team.id } }),
    prisma.auditEvent.count({ where: { teamId: team.id, time: { gte: new Date(Date.now() - 30 * 86_400_000) } } }),
  ]);
  const planName = { free: "Free", team: "Team", self_hosted: "Self-hosted" }[team.plan];
  return (
    <>
      <PageHeader title="Team settings" actions={<Link href={`/t/${slug}/settings/authorized-apps`} className="text-sm font-medium text-brand-600 hover:text-brand-700">Authorized OAuth apps →</Link>} />
      <div className="space-y-6">
        <Card>
          <CardHeader title="General" />
          <div className="p-5">
            <GeneralSettingsForm teamId={team.id} name={team.name} retention={team.auditRetentionDays} canEdit={isAdmin} />
          </div>
        </Card>
        <Card>
          <CardHeader title="Plan and usage" description={<>You are on the <Badge tone="brand">{planName}</Badge> plan{team.plan === "self_hosted" ? ": limits are whatever your operator sets." : "."}</>} />
          <div className="grid grid-cols-1 gap-5 p-5 sm:grid-cols-2 lg:grid-cols-4">
            <Usage label="Connections" used={connections} max={team.maxConnections} />
            <Usage label="MCP links" used={links} max={team.maxLinks} />
            <Usage label="Members" used={members.length} max={team.maxMembers} />
            <div>
              <div className="flex justify-between text-sm"><span className="text-zinc-600">Audit events</span><span className="tabular-nums">{events.toLocaleString("en")}</span></div>
              <p className="text-[11px] text-zinc-400">{monthEvents.toLocaleString("en")} in the last 30 days · kept {team.auditRetentionDays} days</p>
            </div>
          </div>
        </Card>
        <Card>
          <CardHeader title="Members" description="Owners and admins manage connections, links and members. Members hold keys on links they are granted. Viewers read activity. Auditors read and export all activity, see nothing else and change nothing." />
          {isAdmin ? (
            <div className="border-b border-zinc-100 p-5">
              <InviteForm teamId={team.id} canInviteAdmins={role === "owner"} />
            </div>
          ) : null}
          <ul className="divide-y divide-zinc-100">
            {members.map((m) => (
              <MemberRow key={m.id} teamId={team.id} actorRole={role} isSelf={m.userId === user.userId} member={{ userId: m.userId, label: m.user.name ?? m.user.email, email: m.user.email, role: m.role }} />
            ))}
          </ul>
          {invitations.length > 0 ? (
            <div className="border-t border-zinc-100 px-5 py-3">
              <h3 className="mb-2 text-xs font-medium uppercase tracking-wide text-zinc-500">Pending invitations</h3>
              <ul className="space-y-1">
                {invitations.map((i) => (
                  <li key={i.id} className="flex items-center justify-between text-sm">
                    <span>{i.email ?? "Shareable link"} · <Badge>{i.role}</Badge> <span className="text-xs text-zinc-400">expires {formatDate(i.expiresAt)}</span></span>
                    <RevokeInvitationButton teamId={team.id} invitationId={i.id} />
                  </li>
                ))}
              </ul>
            </div>
          ) : null}
        </Card>
        {isAdmin ? (
          // Streamed: it reads Redis, and the rest of the page must not wait for (or fail with) it.
          <Suspense fallback={<AuditPipelinePending />}>
            <AuditPipelineSection ctx={ctx} />
          </Suspense>
        ) : null}
        {isAdmin ? <NotificationsSection ctx={ctx} /> : null}
        {isAdmin ? (
          <IdentityProvidersSection teamId={team.id} providers={await teamIdentityProviders(ctx)} tokenEndpoint={`${getOAuthContext().config.issuer}/oauth/token`} />
        ) : null}
        {role === "owner" ? (
          <Card>
            <CardHeader title="Danger zone" />
            <div className="p-5"><DeleteTeamButton teamId={team.id} slug={team.slug} /></div>
          </Card>
        ) : null}
      </div>
    </>
  );
}
