import { z } from "zod";
import type { PrismaClient } from "@portcullis/db/client";
import { PortcullisError } from "@portcullis/db/errors";
import { createApiKey } from "@portcullis/db/operations";
import { mayManageRole, requireRole, roleAtLeast, type TeamContext } from "../../lib/authz";
import { recordConfigChange } from "../../lib/config-audit";
import { getPrisma } from "../../lib/db";
import { publishRevocation } from "../../lib/redis";
import { visibleLinks } from "../links/operations";

export const keyNameSchema = z.string().trim().min(1, "name the key after where it will live, e.g. “laptop-cursor”").max(60, "keep the name under 60 characters");
export const expiresInDaysSchema = z.number().int().min(1).max(3650).nullable();

/**
 * Members issue keys for themselves on links they were granted; owners and admins may issue a key
 * for any member (the key acts as that member). The clear key is returned once and never stored.
 */
export async function issueKey(ctx: TeamContext, input: { linkId: string; name: string; expiresInDays: number | null; userId?: string }) {
  requireRole(ctx, "member");
  const userId = input.userId ?? ctx.user.userId;
  if (userId !== ctx.user.userId && !roleAtLeast(ctx.role, "admin")) {
    throw new PortcullisError("forbidden", "only owners and admins can issue keys for other members");
  }
  const prisma = getPrisma();
  if (userId !== ctx.user.userId) {
    // A key acts as its holder (row filters, audit): an admin must not mint one that acts as an owner or another admin.
    const holder = await prisma.membership.findUnique({ where: { teamId_userId: { teamId: ctx.team.id, userId } } });
    if (!holder) throw new PortcullisError("not_found", "that user is not a member of this team");
    if (!mayManageRole(ctx.role, holder.role)) throw new PortcullisError("forbidden", `only owners can issue keys that act as ${holder.role === "admin" ? "an admin" : "an owner"}`);
  }
  // A member who was not granted the link must not learn it exists: same answer as a missing link.
  const link = await prisma.link.findFirst({ where: { id: input.linkId, ...visibleLinks(ctx) } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  const { key, record } = await prisma.$transaction(async (tx) => {
    const issued = await createApiKey(tx as unknown as PrismaClient, {
      teamId: ctx.team.id,
      linkId: link.id,
      userId,
      name: input.name,
      expiresAt: input.expiresInDays ? new Date(Date.now() + input.expiresInDays * 86_400_000) : null,
      createdById: ctx.user.userId,
    });
    await recordConfigChange(tx, {
      teamId: ctx.team.id, actorUserId: ctx.user.userId, action: "api_key.issue",
      target: { type: "api_key", id: issued.record.id, name: issued.record.name },
      after: { linkId: link.id, linkName: link.name, userId, prefix: issued.record.prefix, expiresAt: issued.record.expiresAt }, sourceIp: ctx.sourceIp,
    });
    return issued;
  });
  return { key, id: record.id, prefix: record.prefix };
}

/** Admins see every key of the team; others their own, on links they can see. */
export async function listKeys(ctx: TeamContext, filter: { linkId?: string } = {}) {
  const admin = roleAtLeast(ctx.role, "admin");
  return getPrisma().apiKey.findMany({
    where: {
      teamId: ctx.team.id,
      ...(filter.linkId ? { linkId: filter.linkId } : {}),
      ...(admin ? {} : { userId: ctx.user.userId, link: visibleLinks(ctx) }),
    },
    orderBy: [{ revokedAt: { sort: "desc", nulls: "first" } }, { createdAt: "desc" }],
    include: { user: { select: { email: true, name: true } }, link: { select: { id: true, name: true } } },
  });
}

/** Revocation is immediate: the row is marked and every gateway is told to drop the key (< 1 s). */
export async function revokeKey(ctx: TeamContext, input: { keyId: string }) {
  const prisma = getPrisma();
  const key = await prisma.apiKey.findFirst({ where: { id: input.keyId, teamId: ctx.team.id } });
  // Someone else's key is "not found" to a member: they cannot even confirm it exists.
  if (!key || (key.userId !== ctx.user.userId && !roleAtLeast(ctx.role, "admin"))) throw new PortcullisError("not_found", "key not found");
  if (key.revokedAt) return;
  await prisma.$transaction(async (tx) => {
    await tx.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } });
    await recordConfigChange(tx, {
      teamId: ctx.team.id, actorUserId: ctx.user.userId, action: "api_key.revoke",
      target: { type: "api_key", id: key.id, name: key.name }, before: { linkId: key.linkId, userId: key.userId, prefix: key.prefix }, sourceIp: ctx.sourceIp,
    });
  });
  await publishRevocation({ kind: "api_key", apiKeyId: key.id, hash: key.hash }).catch(() => {});
}
