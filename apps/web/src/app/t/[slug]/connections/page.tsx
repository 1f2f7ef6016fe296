import Link from "next/link";
import { Badge, ButtonLink, Card, EmptyState, PageHeader, Table, td, th, timeAgo } from "@/components/ui";
import { listConnections } from "@/features/connections/operations";
import { roleAtLeast } from "@/lib/authz";
import { requireTeamPage } from "@/lib/session";

export const metadata = { title: "Connections" };

export default async function ConnectionsPage({ params }: { params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  const ctx = await requireTeamPage(slug);
  const { team, role } = ctx;
  const connections = await listConnections(ctx);
  const canManage = roleAtLeast(role, "admin");
  const atLimit = team.maxConnections !== null && connections.length >= team.maxConnections;
  const add = canManage ? (
    atLimit ? (
      <span className="text-sm text-zinc-500">The {team.plan} plan allows {team.maxConnections} connection{team.maxConnections === 1 ? "" : "s"}.</span>
    ) : (
      <ButtonLink href={`/t/${slug}/connections/new`}>Add connection</ButtonLink>
    )
  ) : null;
  return (
    <>
      <PageHeader title="Connections" description="PostgreSQL databases the gateway can reach. Credentials are encrypted at rest and never leave the server." actions={add} />
      {connections.length === 0 ? (
        <EmptyState
          title="No connections yet"
          description={canManage ? "Add the PostgreSQL database your AI tools should query. We test it before saving." : "An owner or admin of this team adds connections."}
          action={canManage && !atLimit ? <ButtonLink href={`/t/${slug}/connections/new`}>Add your first connection</ButtonLink> : undefined}
        />
      ) : (
        <Card>
          <Table>
            <thead className="bg-zinc-50">
              <tr>
                <th className={th}>Name</th>
                <th className={th}>Server</th>
                <th className={th}>Status</th>
                <th className={th}>Links</th>
                <th className={th}>Last tested</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100">
              {connections.map((c) => {
                const result = c.lastTestResult as { serverVersion?: string; latencyMs?: number; error?: string } | null;
                return (
                  <tr key={c.id} className="hover:bg-zinc-50">
                    <td className={td}>
                      <Link href={`/t/${slug}/connections/${c.id}`} className="font-medium text-zinc-900 hover:text-brand-700">{c.name}</Link>
                    </td>
                    <td className={td}>
                      <span className="font-mono text-xs">{c.username}@{c.host}:{c.port}/{c.database}</span>
                      {c.sshHops.length ? (
                        <span className="block text-xs text-zinc-500" data-testid="connection-route">
                          via SSH {c.sshHops.map((h) => `${h.host}:${h.port}`).join(" → ")}
                          {c.sshHops.some((h) => !h.hostKeySha256) ? <span className="text-amber-700"> · host key to confirm</span> : null}
                        </span>
                      ) : null}
                      {c.replicas.length ? <span className="block text-xs text-zinc-500">replicas: {c.replicas.map((r) => r.name).join(", ")}</span> : null}
                    </td>
                    <td className={td}>
                      {c.status === "ok" ? <Badge tone="green">OK{result?.serverVersion ? ` · PG ${result.serverVersion.split(" ")[0]}` : ""}</Badge> : c.status === "error" ? <Badge tone="red" >Error</Badge> : <Badge>Untested</Badge>}
                    </td>
                    <td className={td}>{c._count.links}</td>
                    <td className={td}>{timeAgo(c.lastTestedAt)}</td>
                  </tr>
                );
              })}
            </tbody>
          </Table>
        </Card>
      )}
    </>
  );
}
