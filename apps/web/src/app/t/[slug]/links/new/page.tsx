import Link from "next/link";
import { redirect } from "next/navigation";
import { Card, PageHeader } from "@/components/ui";
import { LinkForm } from "@/features/links/link-form";
import { getPrisma } from "@/lib/db";
import { requireTeamPage } from "@/lib/session";

export const metadata = { title: "New MCP link" };

export default async function NewLinkPage({ params, searchParams }: { params: Promise<{ slug: string }>; searchParams: Promise<{ connection?: string }> }) {
  const { slug } = await params;
  const { connection } = await searchParams;
  const { team } = await requireTeamPage(slug, "admin");
  const connections = await getPrisma().connection.findMany({ where: { teamId: team.id }, select: { id: true, name: true, database: true }, orderBy: { createdAt: "asc" } });
  if (connections.length === 0) redirect(`/t/${slug}/connections/new`);
  const ordered = connection ? [...connections.filter((c) => c.id === connection), ...connections.filter((c) => c.id !== connection)] : connections;
  return (
    <div>
      <Link href={`/t/${slug}/links`} className="text-sm text-zinc-500 hover:text-zinc-800">← MCP links</Link>
      <PageHeader title="New MCP link" description="Choose what AI tools using this link may see and do. You can change the scope at any time; gateways apply it to the next call." />
      <Card className="p-5">
        <LinkForm teamId={team.id} slug={slug} connections={ordered} />
      </Card>
    </div>
  );
}
