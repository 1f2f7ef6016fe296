import { ButtonLink, Card, PageHeader } from "@/components/ui";
import { KeyTable } from "@/features/keys/key-table";
import { listKeys } from "@/features/keys/operations";
import { roleAtLeast } from "@/lib/authz";
import { requireTeamPage } from "@/lib/session";

export const metadata = { title: "API keys" };

export default async function KeysPage({ params }: { params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  const ctx = await requireTeamPage(slug);
  const { team, role } = ctx;
  const keys = await listKeys(ctx);
  const isAdmin = roleAtLeast(role, "admin");
  return (
    <>
      <PageHeader
        title="API keys"
        description={isAdmin ? "Every key in the team. A key belongs to one member and one link; revoking it takes effect on the next request." : "Your keys. Issue new ones from a link's Connect tab."}
        actions={<ButtonLink variant="secondary" href={`/t/${slug}/links`}>Issue a key from a link</ButtonLink>}
      />
      <Card>
        <KeyTable teamId={team.id} slug={slug} keys={JSON.parse(JSON.stringify(keys))} showOwner={isAdmin} showLink />
      </Card>
    </>
  );
}
