import { listAuthorizedApps } from "@portcullis/oauth";
import { Badge, Card, EmptyState, PageHeader } from "@/components/ui";
import { RevokeAppButton } from "@/features/oauth/revoke-app-button";
import { getOAuthContext } from "@/features/oauth/server";
import { requireTeamPage } from "@/lib/session";

export const dynamic = "force-dynamic";
export const metadata = { title: "Authorized applications" };

const dateFormat = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" });

/** The signed-in member's OAuth authorizations on this team's links, each revocable at once. */
export default async function AuthorizedAppsPage({ params }: { params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  const { user, team } = await requireTeamPage(slug);
  const apps = (await listAuthorizedApps(getOAuthContext(), user.userId)).filter((app) => app.teamId === team.id);
  return (
    <>
      <PageHeader
        title="Authorized applications"
        description="MCP clients you signed in to with your account instead of an API key. Revoking one signs it out of that link on every gateway within a second."
      />
      {apps.length === 0 ? (
        <EmptyState
          title="No authorized applications"
          description="When an MCP client (Claude, Cursor, VS Code…) connects to one of this team's links by OAuth and you approve it, it appears here."
        />
      ) : (
        <Card>
          <table className="w-full text-left text-sm" data-testid="authorized-apps">
            <thead className="border-b border-zinc-200 text-xs uppercase tracking-wide text-zinc-500">
              <tr>
                <th scope="col" className="px-5 py-2 font-medium">Application</th>
                <th scope="col" className="px-5 py-2 font-medium">Link</th>
                <th scope="col" className="px-5 py-2 font-medium">Authorized</th>
                <th scope="col" className="px-5 py-2 font-medium">Last used</th>
                <th scope="col" className="px-5 py-2"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100">
              {apps.map((app) => (
                <tr key={app.grantId}>
                  <td className="px-5 py-3">
                    <div className="font-medium text-zinc-900">{app.clientName}</div>
                    <div className="mt-0.5">
                      <Badge tone={app.origin.kind === "metadata_document" ? "blue" : "amber"}>
                        {app.origin.kind === "metadata_document" ? `from ${app.origin.label}` : app.origin.label}
                      </Badge>
                    </div>
                  </td>
                  <td className="px-5 py-3 text-zinc-700">{app.linkName}</td>
                  <td className="px-5 py-3 text-zinc-600">{dateFormat.format(app.authorizedAt)} UTC</td>
                  <td className="px-5 py-3 text-zinc-600">{app.lastUsedAt ? `${dateFormat.format(app.lastUsedAt)} UTC` : "never"}</td>
                  <td className="px-5 py-3 text-right">
                    <RevokeAppButton grantId={app.grantId} clientName={app.clientName} linkName={app.linkName} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      )}
    </>
  );
}
