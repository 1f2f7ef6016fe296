import type { PrismaClient } from "../client.js";
import { PortcullisError } from "../errors.js";
import { issueApiKey } from "../keys.js";

/** Called after a revocation commits, to tell every gateway instance (Redis pub/sub in practice). */
export type RevocationPublisher = (message: { kind: "api_key"; apiKeyId: string; hash: string }) => Promise<unknown>;

/**
 * Issues a key for one member on one link. The clear key is returned once and never stored.
 * The member must belong to the link's team; members (not owners/admins) must be granted the link.
 */
export async function createApiKey(
  prisma: PrismaClient,
  input: { teamId: string; linkId: string; userId: string; name: string; expiresAt?: Date | null; createdById?: string },
) {
  const link = await prisma.link.findFirst({ where: { id: input.linkId, teamId: input.teamId } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  const membership = await prisma.membership.findUnique({
    where: { teamId_userId: { teamId: input.teamId, userId: input.userId } },
  });
  if (!membership) throw new PortcullisError("not_found", "that user is not a member of this team");
  // Only the roles that use links hold keys (the gateway's key check says the same); a role added
  // later holds none until it is named here.
  if (membership.role !== "owner" && membership.role !== "admin" && membership.role !== "member") {
    throw new PortcullisError("forbidden", `${membership.role}s cannot hold keys; change their role first`);
  }
  if (membership.role === "member") {
    const granted = await prisma.linkAccess.findUnique({ where: { linkId_userId: { linkId: input.linkId, userId: input.userId } } });
    if (!granted) throw new PortcullisError("forbidden", "this member has not been granted access to the link");
  }
  if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
    throw new PortcullisError("invalid_input", "the expiry must be in the future");
  }
  const name = input.name.trim() || "key";
  const issued = issueApiKey();
  const record = await prisma.apiKey.create({
    data: {
      teamId: input.teamId,
      linkId: input.linkId,
      userId: input.userId,
      name,
      prefix: issued.prefix,
      hash: issued.hash,
      expiresAt: input.expiresAt ?? null,
      createdById: input.createdById ?? input.userId,
    },
  });
  return { key: issued.key, record };
}

/** Revokes a key (idempotent) and broadcasts it so gateways drop cached lookups within a second. */
export async function revokeApiKey(
  prisma: PrismaClient,
  input: { teamId?: string; apiKeyId: string },
  publish?: RevocationPublisher,
) {
  const key = await prisma.apiKey.findFirst({
    where: { id: input.apiKeyId, ...(input.teamId ? { teamId: input.teamId } : {}) },
  });
  if (!key) throw new PortcullisError("not_found", "key not found");
  const revoked = key.revokedAt
    ? key
    : await prisma.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } });
  if (publish) await publish({ kind: "api_key", apiKeyId: key.id, hash: key.hash });
  return revoked;
}
