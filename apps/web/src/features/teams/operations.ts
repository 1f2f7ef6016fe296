import { z } from "zod";
import type { Prisma, PrismaClient, Role } from "@portcullis/db/client";
import { PortcullisError } from "@portcullis/db/errors";
import { randomToken, sha256Hex } from "@portcullis/db/keys";
import { addMember, createTeam, normalizeEmail } from "@portcullis/db/operations";
import { mayManageRole, requireRole, roleAtLeast, type Actor, type TeamContext } from "../../lib/authz";
import { recordConfigChange } from "../../lib/config-audit";
import { mayUseLinks } from "../../lib/permissions";
import { getPrisma } from "../../lib/db";
import { env } from "../../lib/env";
import { sendMail } from "../../lib/mail";
import { publishRevocation } from "../../lib/redis";

export async function createTeamForUser(actor: Actor, input: { name: string }) {
  const name = teamNameSchema.parse(input.name);
  // Teams created from the dashboard are self-hosted: limits are set by the operator, not by us.
  return createTeam(getPrisma(), { name, ownerId: actor.userId });
}

export async function listMyTeams(actor: Actor) {
  return getPrisma().membership.findMany({
    where: { userId: actor.userId },
    include: { team: { select: { id: true, name: true, slug: true } } },
    orderBy: { createdAt: "asc" },
  });
}

const INVITE_TTL_MS = 7 * 24 * 3600 * 1000;

function audit(ctx: TeamContext, tx: Prisma.TransactionClient, action: string, target: { type: string; id: string; name?: string | null }, change: { before?: unknown; after?: unknown }) {
  return recordConfigChange(tx, { teamId: ctx.team.id, actorUserId: ctx.user.userId, action, target, ...change, sourceIp: ctx.sourceIp });
}

/**
 * Invites by email (the link is mailed, or printed to the log without SMTP) or as a shareable link
 * (email omitted). Admins may invite members, viewers and auditors; only owners may invite owners and
 * admins.
 */
export async function inviteMember(ctx: TeamContext, input: { email?: string | null; role: Role }) {
  requireRole(ctx, "admin");
  const { team } = ctx;
  const { role } = input;
  if (!mayManageRole(ctx.role, role)) throw new PortcullisError("forbidden", `only owners can invite ${role}s`);
  const email = input.email ? normalizeEmail(input.email) : null;
  const prisma = getPrisma();
  if (team.maxMembers !== null) {
    const count = await prisma.membership.count({ where: { teamId: team.id } });
    if (count >= team.maxMembers) throw new PortcullisError("plan_limit", `the ${team.plan} plan allows ${team.maxMembers} members; remove one or upgrade`);
  }
  if (email) {
    const already = await prisma.membership.findFirst({ where: { teamId: team.id, user: { email } } });
    if (already) throw new PortcullisError("conflict", `${email} is already a member of this team`);
  }
  const token = randomToken();
  const invitation = await prisma.$transaction(async (tx) => {
    const row = await tx.invitation.create({
      data: { teamId: team.id, email, role, tokenHash: sha256Hex(token), invitedById: ctx.user.userId, expiresAt: new Date(Date.now() + INVITE_TTL_MS) },
    });
    await audit(ctx, tx, "member.invite", { type: "invitation", id: row.id, name: email ?? "shareable link" }, { after: { email, role, expiresAt: row.expiresAt } });
    return row;
  });
  const url = `${env().publicUrl}/invite/${token}`;
  let delivered: "smtp" | "log" | "link" = "link";
  if (email) {
    const inviter = await prisma.user.findUnique({ where: { id: ctx.user.userId } });
    ({ delivered } = await sendMail({
      to: email,
      subject: `${inviter?.name ?? inviter?.email ?? "A teammate"} invited you to ${team.name} on Portcullis`,
      text: `You are invited to join ${team.name} on Portcullis as ${role}.\n\nAccept (valid for 7 days):\n${url}\n`,
    }));
  }
  return { id: invitation.id, url, delivered };
}

export async function revokeInvitation(ctx: TeamContext, input: { invitationId: string }) {
  requireRole(ctx, "admin");
  const prisma = getPrisma();
  const invitation = await prisma.invitation.findFirst({ where: { id: input.invitationId, teamId: ctx.team.id, acceptedAt: null, revokedAt: null } });
  if (!invitation) throw new PortcullisError("not_found", "invitation not found");
  if (!mayManageRole(ctx.role, invitation.role)) throw new PortcullisError("forbidden", `only owners can revoke invitations for ${invitation.role}s`);
  await prisma.$transaction(async (tx) => {
    const result = await tx.invitation.updateMany({ where: { id: invitation.id, acceptedAt: null, revokedAt: null }, data: { revokedAt: new Date() } });
    if (result.count === 0) throw new PortcullisError("not_found", "invitation not found");
    await audit(ctx, tx, "member.invitation.revoke", { type: "invitation", id: invitation.id, name: invitation.email ?? "shareable link" }, { before: { email: invitation.email, role: invitation.role } });
  });
}

export async function findInvitation(token: string) {
  const invitation = await getPrisma().invitation.findUnique({
    where: { tokenHash: sha256Hex(token) },
    include: { team: { select: { id: true, name: true, slug: true } }, invitedBy: { select: { name: true, email: true } } },
  });
  if (!invitation || invitation.acceptedAt || invitation.revokedAt || invitation.expiresAt < new Date()) return null;
  return invitation;
}

export async function acceptInvitation(actor: Actor, input: { token: string }) {
  const invitation = await findInvitation(input.token);
  if (!invitation) throw new PortcullisError("not_found", "this invitation has expired, was revoked, or was already used");
  const prisma = getPrisma();
  const user = await prisma.user.findUniqueOrThrow({ where: { id: actor.userId } });
  // An emailed invitation is for that address only; a link invitation is for whoever holds it.
  if (invitation.email && invitation.email !== user.email) {
    throw new PortcullisError("forbidden", `this invitation is for ${invitation.email}; sign in with that address`);
  }
  await prisma.$transaction(async (tx) => {
    // Marked used first and only once: two tabs accepting the same token cannot both add a member.
    const used = await tx.invitation.updateMany({ where: { id: invitation.id, acceptedAt: null, revokedAt: null }, data: { acceptedAt: new Date() } });
    if (used.count === 0) throw new PortcullisError("not_found", "this invitation has expired, was revoked, or was already used");
    // An invitation carries its sender's authority, so it is only as good as that authority is now: a
    // removed or demoted admin must not walk back in (or hand a seat out) through a link they kept.
    if (invitation.invitedById) {
      const inviter = await tx.membership.findUnique({ where: { teamId_userId: { teamId: invitation.teamId, userId: invitation.invitedById } } });
      if (!inviter || !roleAtLeast(inviter.role, "admin") || !mayManageRole(inviter.role, invitation.role)) {
        throw new PortcullisError("not_found", "this invitation is no longer valid: the person who sent it may no longer invite to this team");
      }
    }
    const existing = await tx.membership.findUnique({ where: { teamId_userId: { teamId: invitation.teamId, userId: user.id } } });
    if (!existing) {
      await addMember(tx as unknown as PrismaClient, { teamId: invitation.teamId, userId: user.id, role: invitation.role });
      await recordConfigChange(tx, {
        teamId: invitation.teamId, actorUserId: user.id, action: "member.join",
        target: { type: "member", id: user.id, name: user.email }, after: { role: invitation.role, invitationId: invitation.id },
      });
    }
  });
  return { slug: invitation.team.slug };
}

async function ownerCount(tx: Prisma.TransactionClient, teamId: string) {
  return tx.membership.count({ where: { teamId, role: "owner" } });
}

/**
 * Everything a member holds in the team beyond the membership row: keys and OAuth grants (with their
 * tokens). Revoked in the caller's transaction, so the access change and its consequences commit
 * together; the gateways learn of it from the database (triggers and LISTEN/NOTIFY).
 */
async function revokeHoldings(tx: Prisma.TransactionClient, teamId: string, userId: string, now: Date) {
  const keys = await tx.apiKey.findMany({ where: { teamId, userId, revokedAt: null }, select: { id: true, hash: true } });
  await tx.apiKey.updateMany({ where: { id: { in: keys.map((k) => k.id) } }, data: { revokedAt: now } });
  // Invitations they sent would otherwise outlive their authority (acceptInvitation re-checks too).
  await tx.invitation.updateMany({ where: { teamId, invitedById: userId, acceptedAt: null, revokedAt: null }, data: { revokedAt: now } });
  const grants = await tx.oAuthGrant.findMany({ where: { teamId, userId, revokedAt: null }, select: { id: true } });
  await tx.oAuthToken.updateMany({ where: { grantId: { in: grants.map((g) => g.id) }, revokedAt: null }, data: { revokedAt: now } });
  await tx.oAuthGrant.updateMany({ where: { id: { in: grants.map((g) => g.id) } }, data: { revokedAt: now } });
  return { keys, grantIds: grants.map((g) => g.id) };
}

async function announce(keys: { id: string; hash: string }[]) {
  // Belt and braces next to the database notification: gateways that still listen on Redis drop the keys too.
  for (const key of keys) await publishRevocation({ kind: "api_key", apiKeyId: key.id, hash: key.hash }).catch(() => {});
}

export async function changeMemberRole(ctx: TeamContext, input: { userId: string; role: Role }) {
  requireRole(ctx, "admin");
  const { role } = input;
  const teamId = ctx.team.id;
  const prisma = getPrisma();
  const target = await prisma.membership.findUnique({ where: { teamId_userId: { teamId, userId: input.userId } }, include: { user: { select: { email: true } } } });
  if (!target) throw new PortcullisError("not_found", "member not found");
  if (!mayManageRole(ctx.role, target.role) || !mayManageRole(ctx.role, role)) {
    throw new PortcullisError("forbidden", "only owners can change the role of owners and admins, or make someone an owner or admin");
  }
  const { row, revoked } = await prisma.$transaction(async (tx) => {
    if (target.role === "owner" && role !== "owner" && (await ownerCount(tx, teamId)) <= 1) {
      throw new PortcullisError("conflict", "a team needs at least one owner; make someone else an owner first");
    }
    const updated = await tx.membership.update({ where: { id: target.id }, data: { role } });
    // Viewers and auditors hold no keys, no OAuth grants and no link access: a change to either
    // role takes them away at once (the gateway refuses them anyway; nothing should linger).
    const losesLinks = mayUseLinks(target.role) && !mayUseLinks(role);
    const taken = losesLinks ? await revokeHoldings(tx, teamId, target.userId, new Date()) : { keys: [], grantIds: [] };
    if (role === "auditor" && target.role !== "auditor") await tx.linkAccess.deleteMany({ where: { userId: target.userId, link: { teamId } } });
    // Nor do they decide anything: named-approver rows would otherwise wait for a promotion back.
    if (losesLinks) await tx.linkApprover.deleteMany({ where: { userId: target.userId, link: { teamId } } });
    await audit(ctx, tx, "member.role.update", { type: "member", id: target.userId, name: target.user.email }, {
      before: { role: target.role },
      after: { role, ...(taken.keys.length || taken.grantIds.length ? { revokedKeyIds: taken.keys.map((k) => k.id), revokedGrantIds: taken.grantIds } : {}) },
    });
    return { row: updated, revoked: taken.keys };
  });
  await announce(revoked);
  return row;
}

export async function removeMember(ctx: TeamContext, input: { userId: string }) {
  const self = input.userId === ctx.user.userId;
  if (!self) requireRole(ctx, "admin");
  const teamId = ctx.team.id;
  const prisma = getPrisma();
  const target = await prisma.membership.findUnique({ where: { teamId_userId: { teamId, userId: input.userId } }, include: { user: { select: { email: true } } } });
  if (!target) throw new PortcullisError("not_found", "member not found");
  if (!self && !mayManageRole(ctx.role, target.role)) throw new PortcullisError("forbidden", "only owners can remove owners and admins");
  const keys = await prisma.$transaction(async (tx) => {
    if (target.role === "owner" && (await ownerCount(tx, teamId)) <= 1) {
      throw new PortcullisError("conflict", "a team needs at least one owner; make someone else an owner first");
    }
    // Their keys and OAuth grants for this team's links stop working with the membership.
    const taken = await revokeHoldings(tx, teamId, target.userId, new Date());
    await tx.linkAccess.deleteMany({ where: { userId: target.userId, link: { teamId } } });
    await tx.linkApprover.deleteMany({ where: { userId: target.userId, link: { teamId } } });
    await tx.membership.delete({ where: { id: target.id } });
    await audit(ctx, tx, self ? "member.leave" : "member.remove", { type: "member", id: target.userId, name: target.user.email }, {
      before: { role: target.role },
      after: { revokedKeyIds: taken.keys.map((k) => k.id), revokedGrantIds: taken.grantIds },
    });
    return taken.keys;
  });
  await announce(keys);
}

export const teamNameSchema = z.string().trim().min(2, "a team name needs at least 2 characters").max(60, "keep the team name under 60 characters");
export const retentionDaysSchema = z.number("whole days only").int("whole days only").min(1, "keep audit events for at least 1 day").max(3650, "at most 3650 days (10 years)");

export async function updateTeamSettings(ctx: TeamContext, input: { name: string; auditRetentionDays: number }) {
  requireRole(ctx, "admin");
  const data = { name: input.name, auditRetentionDays: input.auditRetentionDays };
  return getPrisma().$transaction(async (tx) => {
    const team = await tx.team.update({ where: { id: ctx.team.id }, data });
    await audit(ctx, tx, "team.settings.update", { type: "team", id: team.id, name: team.name }, {
      before: { name: ctx.team.name, auditRetentionDays: ctx.team.auditRetentionDays },
      after: data,
    });
    return team;
  });
}

export async function deleteTeam(ctx: TeamContext, input: { confirmSlug: string }) {
  requireRole(ctx, "owner");
  const { team } = ctx;
  if (input.confirmSlug !== team.slug) throw new PortcullisError("invalid_input", `type the team's slug "${team.slug}" to confirm`);
  const prisma = getPrisma();
  // Keys first (marked, so the gateways' revocation path sees them), then the team and, by cascade,
  // its memberships, links, grants and tokens, in one transaction.
  const keys = await prisma.$transaction(async (tx) => {
    const live = await tx.apiKey.findMany({ where: { teamId: team.id, revokedAt: null }, select: { id: true, hash: true } });
    const now = new Date();
    await tx.apiKey.updateMany({ where: { teamId: team.id, revokedAt: null }, data: { revokedAt: now } });
    await tx.oAuthToken.updateMany({ where: { grant: { teamId: team.id }, revokedAt: null }, data: { revokedAt: now } });
    await tx.oAuthGrant.updateMany({ where: { teamId: team.id, revokedAt: null }, data: { revokedAt: now } });
    await tx.team.delete({ where: { id: team.id } });
    return live;
  });
  await announce(keys);
}
