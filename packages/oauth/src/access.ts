import type { PrismaClient, Role } from "@portcullis/db/client";

/**
 * Who may authorize a client on a link: the same rule as for API keys (packages/db createApiKey and
 * the gateway's key query) — owners and admins every link of their team, members the links granted
 * to them in link_access, viewers none. Anything else (not a member, link of another team, link
 * disabled) is "not allowed", without saying which.
 */
export function roleAllowsLink(role: Role | null | undefined, hasLinkAccess: boolean): boolean {
  if (role === "owner" || role === "admin") return true;
  if (role === "member") return hasLinkAccess;
  return false;
}

export interface LinkForConsent {
  id: string;
  name: string;
  teamId: string;
  teamName: string;
  scope: unknown;
  connectionName: string;
}

export async function loadLinkAccess(
  prisma: PrismaClient,
  userId: string,
  linkId: string,
): Promise<{ allowed: true; link: LinkForConsent; role: Role } | { allowed: false; role: Role | null }> {
  const link = await prisma.link.findUnique({
    where: { id: linkId },
    select: {
      id: true,
      name: true,
      teamId: true,
      scope: true,
      status: true,
      team: { select: { name: true } },
      connection: { select: { name: true } },
    },
  });
  if (!link || link.status !== "active") return { allowed: false, role: null };
  const [membership, access] = await Promise.all([
    prisma.membership.findUnique({ where: { teamId_userId: { teamId: link.teamId, userId } }, select: { role: true } }),
    prisma.linkAccess.findUnique({ where: { linkId_userId: { linkId, userId } }, select: { userId: true } }),
  ]);
  const role = membership?.role ?? null;
  if (!roleAllowsLink(role, access !== null)) return { allowed: false, role };
  return {
    allowed: true,
    role: role!,
    link: {
      id: link.id,
      name: link.name,
      teamId: link.teamId,
      teamName: link.team.name,
      scope: link.scope,
      connectionName: link.connection.name,
    },
  };
}
