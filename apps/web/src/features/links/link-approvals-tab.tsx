import { Card, CardHeader } from "../../components/ui";
import { AccessGrantsPanel } from "../access-grants/grants-panel";
import { linkAccessGrants } from "../access-grants/operations";
import type { TeamContext } from "../../lib/authz";
import { getPrisma } from "../../lib/db";
import { ApproversPanel } from "./approvers-panel";
import { linkApprovers } from "./approvers";

/**
 * The link page's Approvals tab (a server component): who approves (admins edit it) and time-boxed
 * access grants (everyone who may decide them). Each read checks the caller again in its operation.
 */
export async function LinkApprovalsTab({ ctx, linkId, isAdmin }: { ctx: TeamContext; linkId: string; isAdmin: boolean }) {
  const grants = await linkAccessGrants(ctx, linkId);
  let approvers: React.ReactNode = null;
  if (isAdmin) {
    const [named, memberships] = await Promise.all([
      linkApprovers(ctx, linkId),
      getPrisma().membership.findMany({ where: { teamId: ctx.team.id, role: { not: "viewer" } }, include: { user: { select: { name: true, email: true } } }, orderBy: { createdAt: "asc" } }),
    ]);
    const members = memberships.map((m) => ({ id: m.userId, role: m.role, label: m.user.name ? `${m.user.name} (${m.user.email})` : m.user.email }));
    approvers = (
      <Card>
        <CardHeader title="Approvers" description="Who decides this link's write requests (scope approval) and access requests. Owners and admins always do; name members here." />
        <div className="p-5">
          <ApproversPanel teamId={ctx.team.id} linkId={linkId} members={members} approverIds={named.map((a) => a.userId)} />
        </div>
      </Card>
    );
  }
  return (
    <div className="space-y-6">
      {approvers}
      <Card>
        <CardHeader title="Access grants" description="Time-boxed elevation: a member gets more access on one table for a while, once an approver grants it. Gateways apply a grant within a second and drop it at expiry or on revoke." />
        <div className="p-5">
          <AccessGrantsPanel teamId={ctx.team.id} grants={grants} />
        </div>
      </Card>
    </div>
  );
}
