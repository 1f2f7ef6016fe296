import Link from "next/link";
import { Card, PageHeader } from "@/components/ui";
import { ConnectionForm } from "@/features/connections/connection-form";
import { requireTeamPage } from "@/lib/session";

export const metadata = { title: "Add connection" };

export default async function NewConnectionPage({ params }: { params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  const { team } = await requireTeamPage(slug, "admin");
  return (
    <div className="max-w-2xl">
      <Link href={`/t/${slug}/connections`} className="text-sm text-zinc-500 hover:text-zinc-800">← Connections</Link>
      <PageHeader title="Add a connection" description="Tip: give Portcullis a database role with only the privileges you are comfortable with. Scopes narrow access further, never wider than the role." />
      <Card className="p-5">
        <ConnectionForm teamId={team.id} slug={slug} />
      </Card>
    </div>
  );
}
