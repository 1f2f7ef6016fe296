import { z } from "zod";
import { PortcullisError } from "@portcullis/db/errors";
import { createApiKey, revokeApiKey } from "@portcullis/db/operations";
import { authorizeTeam, roleAtLeast, type Actor } from "../../lib/authz";
import { getPrisma } from "../../lib/db";
import { publishRevocation } from "../../lib/redis";

export const issueKeySchema = z.object({
  name: z.string().trim().min(1, "name the key after where it will live, e.g. “laptop-cursor”").max(60, "keep the name under 60 characters"),
  expiresInDays: z.coerce.number().int().min(1).max(3650).nullable(),
});

/**
 * Members issue keys for themselves on links they were granted; owners and admins may issue a key
 * for any member (the key acts as that member). The clear key is returned once and never stored.
 */
export async function issueKey(
  actor: Actor,
  input: { teamId: string; linkId: string; name: string; expiresInDays: number | null; userId?: string },
) {
  const { role } = await authorizeTeam(actor, input.teamId, "member");
  const data = issueKeySchema.parse(input);
  const userId = input.userId ?? actor.userId;
  if (userId !== actor.userId && !roleAtLeast(role, "admin")) {
    throw new PortcullisError("forbidden", "only owners and admins can issue keys for other members");
  }
  const prisma = getPrisma();
  // A member who was not granted the link must not learn it exists: same answer as a missing link.
  if (role === "member") {
    const granted = await prisma.linkAccess.findUnique({ where: { linkId_userId: { linkId: input.linkId, userId: actor.userId } } });
    const link = await prisma.link.findFirst({ where: { id: input.linkId, teamId: input.teamId } });
    if (!granted || !link) throw new PortcullisError("not_found", "link not found");
  }
  const { key, record } = await createApiKey(prisma, {
    teamId: input.teamId,
    linkId: input.linkId,
    userId,
    name: data.name,
    expiresAt: data.expiresInDays ? new Date(Date.now() + data.expiresInDays * 86_400_000) : null,
    createdById: actor.userId,
  });
  return { key, id: record.id, prefix: record.prefix };
}

export async function listKeys(actor: Actor, teamId: string, filter: { linkId?: string } = {}) {
  const { role } = await authorizeTeam(actor, teamId, "viewer");
  return getPrisma().apiKey.findMany({
    where: { teamId, ...(filter.linkId ? { linkId: filter.linkId } : {}), ...(roleAtLeast(role, "admin") ? {} : { userId: actor.userId }) },
    orderBy: [{ revokedAt: { sort: "desc", nulls: "first" } }, { createdAt: "desc" }],
    include: { user: { select: { email: true, name: true } }, link: { select: { id: true, name: true } } },
  });
}

/** Revocation is immediate: the row is marked and every gateway is told to drop the key (< 1 s). */
export async function revokeKey(actor: Actor, input: { teamId: string; keyId: string }) {
  const { role } = await authorizeTeam(actor, input.teamId, "viewer");
  const prisma = getPrisma();
  const key = await prisma.apiKey.findFirst({ where: { id: input.keyId, teamId: input.teamId } });
  // Someone else's key is "not found" to a member: they cannot even confirm it exists.
  if (!key || (key.userId !== actor.userId && !roleAtLeast(role, "admin"))) throw new PortcullisError("not_found", "key not found");
  await revokeApiKey(prisma, { teamId: input.teamId, apiKeyId: key.id }, (message) => publishRevocation(message));
}
