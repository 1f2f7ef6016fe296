import Link from "next/link";
import { Badge, ButtonLink, Card, EmptyState, PageHeader, Table, td, th } from "@/components/ui";
import { listLinks } from "@/features/links/operations";
import { summarize } from "@/features/links/summary";
import { roleAtLeast } from "@/lib/authz";
import { getPrisma } from "@/lib/db";
import { requireTeamPage } from "@/lib/session";

export const metadata = { title: "MCP links" };

export default async function LinksPage({ params }: { params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  const ctx = await requireTeamPage(slug);
  const { team, role } = ctx;
  const links = await listLinks(ctx);
  const canManage = roleAtLeast(role, "admin");
  const connections = canManage ? await getPrisma().connection.count({ where: { teamId: team.id } }) : 0;
  const atLimit = team.maxLinks !== null && links.length >= team.maxLinks;
  return (
    <>
      <PageHeader
        title="MCP links"
        description="A link is a URL your AI tools connect to: one connection, one permission scope. Each developer gets their own revocable key."
        actions={canManage && connections > 0 ? (atLimit ? <span className="text-sm text-zinc-500">The {team.plan} plan allows {team.maxLinks} link{team.maxLinks === 1 ? "" : "s"}.</span> : <ButtonLink href={`/t/${slug}/links/new`}>New link</ButtonLink>) : undefined}
      />
      {links.length === 0 ? (
        <EmptyState
          title={role === "member" ? "No links shared with you yet" : "No MCP links yet"}
          description={
            role === "member"
              ? "Ask an owner or admin of the team to grant you a link; it will show up here with ready-to-paste config."
              : canManage
                ? connections === 0
                  ? "First add a PostgreSQL connection, then create a link with a scope that decides what AI tools may see and do."
                  : "Create a link with a scope — read-only is a good start — and paste its config into Cursor, Claude or VS Code."
                : "Owners and admins create links."
          }
          action={canManage ? (connections === 0 ? <ButtonLink href={`/t/${slug}/connections/new`}>Add a connection</ButtonLink> : <ButtonLink href={`/t/${slug}/links/new`}>Create a link</ButtonLink>) : undefined}
        />
      ) : (
        <Card>
          <Table>
            <thead className="bg-zinc-50">
              <tr>
                <th className={th}>Name</th>
                <th className={th}>Connection</th>
                <th className={th}>Scope</th>
                <th className={th}>Active keys</th>
                <th className={th}>Status</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100">
              {links.map((l) => (
                <tr key={l.id} className="hover:bg-zinc-50">
                  <td className={td}><Link href={`/t/${slug}/links/${l.id}`} className="font-medium text-zinc-900 hover:text-brand-700">{l.name}</Link></td>
                  <td className={td}>{l.connection.name}</td>
                  <td className={td}><span className="text-xs text-zinc-600">{summarize(l.scope)}</span></td>
                  <td className={td}>{l._count.apiKeys}</td>
                  <td className={td}>{l.status === "active" ? <Badge tone="green">Active</Badge> : <Badge>Disabled</Badge>}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        </Card>
      )}
    </>
  );
}
