import Link from "next/link";
import { notFound } from "next/navigation";
import { CopyButton } from "@/components/copy-button";
import { Alert, Badge, Card, CardHeader, cx } from "@/components/ui";
import { mayDecideGrants } from "@/features/access-grants/operations";
import { IssueKeyPanel } from "@/features/keys/issue-key";
import { KeyTable } from "@/features/keys/key-table";
import { listKeys } from "@/features/keys/operations";
import { LinkAccessList } from "@/features/links/link-access";
import { LinkApprovalsTab } from "@/features/links/link-approvals-tab";
import { LinkDangerZone } from "@/features/links/link-danger";
import { LinkDatabasesPanel } from "@/features/links/link-databases-panel";
import { linkDatabasesFor } from "@/features/links/link-databases";
import { LinkToolsPanel } from "@/features/links/link-tools-panel";
import { linkToolsFor } from "@/features/links/link-tools";
import { LinkForm } from "@/features/links/link-form";
import { linkMemberAttributes } from "@/features/links/member-attributes";
import { getLink, linkUrl } from "@/features/links/operations";
import type { ScopeDoc } from "@/features/links/scope-editor";
import { summarize } from "@/features/links/summary";
import { Playground } from "@/features/playground/playground";
import { mayManageRole, roleAtLeast } from "@/lib/authz";
import { getPrisma } from "@/lib/db";
import { requireTeamPage } from "@/lib/session";

export const metadata = { title: "MCP link" };

const TABS = [
  { id: "connect", label: "Connect" },
  { id: "scope", label: "Scope" },
  { id: "databases", label: "Databases" },
  { id: "tools", label: "Tools" },
  { id: "playground", label: "Playground" },
  { id: "access", label: "Members" },
  { id: "approvals", label: "Approvals" },
] as const;

export default async function LinkPage({ params, searchParams }: { params: Promise<{ slug: string; id: string }>; searchParams: Promise<{ tab?: string }> }) {
  const { slug, id } = await params;
  const { tab: tabParam } = await searchParams;
  const ctx = await requireTeamPage(slug);
  const { user, team, role } = ctx;
  const { link } = await getLink(ctx, id).catch(() => notFound());
  const isAdmin = roleAtLeast(role, "admin");
  const canUse = roleAtLeast(role, "member");
  // Viewers read the scope; the playground needs a role that may hold keys; grants are for admins.
  // Approvals: owners/admins, and members named as this link's approvers (they decide access requests).
  const decides = isAdmin || (role === "member" && (await mayDecideGrants(ctx, link.id)));
  const tabs = TABS.filter((t) => (t.id === "access" ? isAdmin : t.id === "playground" ? canUse : t.id === "approvals" ? decides : true));
  const tab = tabs.find((t) => t.id === tabParam)?.id ?? "connect";
  const url = linkUrl(link.id);
  const prisma = getPrisma();
  // Every tab names the link's databases (header, Connect) so one view of them is read for all.
  const databases = await linkDatabasesFor(ctx, link.id);
  const databaseNames = databases.map((d) => d.name);

  let body: React.ReactNode = null;
  if (tab === "connect") {
    const keys = await listKeys(ctx, { linkId: link.id });
    const memberships = isAdmin ? await prisma.membership.findMany({ where: { teamId: team.id, role: { not: "viewer" } }, include: { user: true } }) : [];
    const eligible = isAdmin
      ? memberships
          .filter((m) => m.role !== "member" || link.access.some((a) => a.userId === m.userId))
          // Keys act as their holder: an admin issues them for themselves and for members only.
          .filter((m) => m.userId === user.userId || mayManageRole(role, m.role)).map((m) => ({ id: m.userId, label: m.userId === user.userId ? `${m.user.name ?? m.user.email} (you)` : (m.user.name ?? m.user.email) }))
      : [{ id: user.userId, label: "you" }];
    body = (
      <div className="space-y-6">
        <Card>
          <CardHeader title="Connect an AI client" description="Create a key, then paste the config for your client. Each developer should use their own key." />
          <div className="p-5">
            {canUse ? (
              <IssueKeyPanel teamId={team.id} linkId={link.id} linkName={link.name} url={url} members={eligible} currentUserId={user.userId} />
            ) : (
              <p className="text-sm text-zinc-500">Viewers can read activity but cannot hold keys.</p>
            )}
          </div>
        </Card>
        {databases.length > 1 ? (
          <Card>
            <CardHeader title="Databases behind this link" description="One key reaches all of them. Every tool takes an optional database argument; without it the first answers, and get_schema, list_tables and search_objects cover them all." />
            <ul className="divide-y divide-zinc-100 px-5 py-2" data-testid="connect-databases">
              {databases.map((d) => (
                <li key={d.name} className="py-2 text-sm">
                  <code className="font-mono font-semibold text-zinc-900">{d.name}</code>
                  <span className="text-zinc-500"> · {d.connectionName} · {summarize(d.scope)}</span>
                  <p className="mt-0.5 font-mono text-xs text-zinc-500">{`execute_sql { "database": "${d.name}", "sql": "SELECT …" }`}</p>
                </li>
              ))}
            </ul>
          </Card>
        ) : null}
        <Card>
          <CardHeader title={isAdmin ? "Keys for this link" : "Your keys for this link"} />
          <KeyTable teamId={team.id} slug={slug} keys={JSON.parse(JSON.stringify(keys))} showOwner={isAdmin} showLink={false} />
        </Card>
      </div>
    );
  } else if (tab === "scope") {
    const connections = [{ id: link.connection.id, name: link.connection.name, database: link.connection.database }];
    // The row-filter preview runs as someone who may use the link: owners, admins and granted members.
    const users = isAdmin ? await prisma.membership.findMany({ where: { teamId: team.id, role: { not: "viewer" } }, include: { user: true }, orderBy: { createdAt: "asc" } }) : [];
    const previewMembers = users
      .filter((m) => m.role !== "member" || link.access.some((a) => a.userId === m.userId))
      .map((m) => ({ id: m.userId, label: m.user.name ? `${m.user.name} (${m.user.email})` : m.user.email }));
    body = isAdmin ? (
      <Card className="p-5">
        <LinkForm teamId={team.id} slug={slug} connections={connections} members={previewMembers} existing={{ id: link.id, name: link.name, connectionId: link.connectionId, scope: link.scope as unknown as ScopeDoc }} />
        <div className="mt-8 border-t border-zinc-200 pt-5">
          <h3 className="mb-3 text-sm font-medium text-zinc-800">Danger zone</h3>
          <LinkDangerZone teamId={team.id} slug={slug} link={{ id: link.id, name: link.name, status: link.status }} />
        </div>
      </Card>
    ) : (
      <Card>
        <CardHeader title="Scope" description="Only owners and admins can change it." />
        <pre className="overflow-x-auto p-5 font-mono text-xs">{JSON.stringify(link.scope, null, 2)}</pre>
      </Card>
    );
  } else if (tab === "databases") {
    const connections = isAdmin
      ? (await prisma.connection.findMany({ where: { teamId: team.id }, orderBy: { createdAt: "asc" }, select: { id: true, name: true, database: true } }))
      : [];
    const byId = new Map((await prisma.connection.findMany({ where: { teamId: team.id, id: { in: databases.map((d) => d.connectionId) } }, select: { id: true, database: true } })).map((c) => [c.id, c.database]));
    const views = databases.map((d) => ({
      name: d.name,
      connectionId: d.connectionId,
      connectionName: d.connectionName,
      database: byId.get(d.connectionId) ?? "",
      summary: summarize(d.scope),
      scope: d.scope as ScopeDoc,
    }));
    body = (
      <Card>
        <CardHeader title="Databases" description="A link may reach several databases, each through its own connection and under its own scope. AI clients choose one with the tools' database argument." />
        <div className="px-5 py-2">
          <LinkDatabasesPanel teamId={team.id} linkId={link.id} first={views[0]!} others={views.slice(1)} connections={connections} isAdmin={isAdmin} />
        </div>
      </Card>
    );
  } else if (tab === "tools") {
    const tools = await linkToolsFor(ctx, link.id);
    body = (
      <Card>
        <CardHeader title="Tools" description={isAdmin ? "Choose which built-in tools AI clients see, and add curated ones: saved statements with typed parameters." : "The tools this link offers. Only owners and admins can change them."} />
        <div className="px-5 py-4">
          <LinkToolsPanel teamId={team.id} linkId={link.id} disabledTools={link.disabledTools} tools={JSON.parse(JSON.stringify(tools))} databases={databaseNames} isAdmin={isAdmin} linkActive={link.status === "active" && canUse} />
        </div>
      </Card>
    );
  } else if (tab === "playground") {
    body = (
      <Card>
        <CardHeader title="Playground" description="Type SQL and see exactly what the gateway does with it under this scope." />
        <div className="p-5">
          {link.status === "active" ? (
            <Playground teamId={team.id} linkId={link.id} />
          ) : (
            <Alert tone="amber">This link is disabled: it serves no queries, the Playground included.{isAdmin ? " Enable it on the Scope tab to run queries." : " Ask an owner or admin to enable it."}</Alert>
          )}
        </div>
      </Card>
    );
  } else if (tab === "access") {
    const memberships = await prisma.membership.findMany({ where: { teamId: team.id }, include: { user: true }, orderBy: { createdAt: "asc" } });
    const attributes = Object.fromEntries((await linkMemberAttributes(ctx, link.id)).map((m) => [m.userId, m.attributes]));
    body = (
      <Card>
        <CardHeader title="Who can use this link" description="Members hold keys only on links they are granted. Owners and admins can use every link. Attributes (NAME=VALUE) feed row filters' {{member.attr.NAME}}." />
        <div className="px-5 py-2">
          <LinkAccessList teamId={team.id} linkId={link.id} attributes={attributes} members={memberships.map((m) => ({ id: m.userId, label: m.user.name ? `${m.user.name} (${m.user.email})` : m.user.email, role: m.role, granted: link.access.some((a) => a.userId === m.userId) }))} />
        </div>
      </Card>
    );
  } else if (tab === "approvals") {
    body = <LinkApprovalsTab ctx={ctx} linkId={link.id} isAdmin={isAdmin} />;
  }

  return (
    <>
      <Link href={`/t/${slug}/links`} className="text-sm text-zinc-500 hover:text-zinc-800">← MCP links</Link>
      <div className="mb-5 mt-1 flex flex-wrap items-start justify-between gap-4">
        <div>
          <div className="flex items-center gap-2">
            <h1 className="text-xl font-semibold tracking-tight">{link.name}</h1>
            {link.status === "active" ? <Badge tone="green">Active</Badge> : <Badge>Disabled</Badge>}
          </div>
          <p className="mt-1 text-sm text-zinc-500" data-testid="link-summary">
            {databases.length > 1
              ? databases.map((d) => `${d.name} (${d.connectionName}): ${summarize(d.scope)}`).join(" | ")
              : `${link.connection.name} · ${summarize(link.scope)}`}
          </p>
        </div>
        <Link href={`/t/${slug}/activity?link=${link.id}`} className="text-sm font-medium text-brand-600 hover:text-brand-700">View activity →</Link>
      </div>
      <div className="mb-5 flex items-center gap-2 rounded-lg bg-white p-2 pl-3 ring-1 ring-zinc-200">
        <span className="text-xs font-medium uppercase tracking-wide text-zinc-500">MCP URL</span>
        <code data-testid="link-url" className="min-w-0 flex-1 truncate font-mono text-sm text-zinc-900">{url}</code>
        <CopyButton value={url} label="Copy URL" />
      </div>
      <nav aria-label="Link sections" className="mb-5 flex gap-1 border-b border-zinc-200">
        {tabs.map((t) => (
          <Link
            key={t.id}
            href={`/t/${slug}/links/${link.id}?tab=${t.id}`}
            aria-current={tab === t.id ? "page" : undefined}
            className={cx("-mb-px border-b-2 px-3 py-2 text-sm font-medium", tab === t.id ? "border-brand-600 text-brand-700" : "border-transparent text-zinc-500 hover:text-zinc-800")}
          >
            {t.label}
          </Link>
        ))}
      </nav>
      {body}
    </>
  );
}
