import Link from "next/link";
import { notFound } from "next/navigation";
import { Card, PageHeader } from "@/components/ui";
import { ConnectionForm } from "@/features/connections/connection-form";
import { DeleteConnectionButton } from "@/features/connections/delete-connection";
import { HostKeyPanel } from "@/features/connections/host-key-panel";
import { getConnection } from "@/features/connections/operations";
import { visibleLinks } from "@/features/links/operations";
import { roleAtLeast } from "@/lib/authz";
import { getPrisma } from "@/lib/db";
import { requireTeamPage } from "@/lib/session";

export const metadata = { title: "Connection" };

export default async function ConnectionPage({ params }: { params: Promise<{ slug: string; id: string }> }) {
  const { slug, id } = await params;
  const ctx = await requireTeamPage(slug);
  const { team, role } = ctx;
  const connection = await getConnection(ctx, id).catch(() => notFound());
  const links = await getPrisma().link.count({ where: { connectionId: connection.id, ...visibleLinks(ctx) } });
  const canManage = roleAtLeast(role, "admin");
  // Keys a hop offered to the last test that are not the confirmed one: first use, or a changed key.
  const offered = connection.sshHops
    .filter((h) => h.hostKeySeenSha256 && h.hostKeySeenSha256 !== h.hostKeySha256)
    .map((h) => ({ position: h.position, host: `${h.host}:${h.port}`, offered: h.hostKeySeenSha256!, pinned: h.hostKeySha256 }));
  return (
    <div className="max-w-2xl">
      <Link href={`/t/${slug}/connections`} className="text-sm text-zinc-500 hover:text-zinc-800">← Connections</Link>
      <PageHeader
        title={connection.name}
        description={<span className="font-mono text-xs">{connection.username}@{connection.host}:{connection.port}/{connection.database}</span>}
        actions={canManage ? <DeleteConnectionButton teamId={team.id} slug={slug} connection={{ id, name: connection.name, links }} /> : undefined}
      />
      {offered.length ? (
        <div className="mb-4">
          <HostKeyPanel teamId={team.id} connectionId={connection.id} keys={offered} canConfirm={canManage} />
        </div>
      ) : null}
      {canManage ? (
        <Card className="p-5">
          <ConnectionForm teamId={team.id} slug={slug} existing={connection} />
        </Card>
      ) : (
        <Card className="p-5 text-sm text-zinc-600">Only owners and admins can edit connections.</Card>
      )}
    </div>
  );
}
