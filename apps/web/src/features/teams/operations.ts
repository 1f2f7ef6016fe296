import { z } from "zod";
import type { Role } from "@portcullis/db/client";
import { PortcullisError } from "@portcullis/db/errors";
import { randomToken, sha256Hex } from "@portcullis/db/keys";
import { addMember, createTeam, normalizeEmail } from "@portcullis/db/operations";
import { authorizeTeam, roleAtLeast, type Actor } from "../../lib/authz";
import { getPrisma } from "../../lib/db";
import { env } from "../../lib/env";
import { sendMail } from "../../lib/mail";

const roleSchema = z.enum(["owner", "admin", "member", "viewer"]);

export async function createTeamForUser(actor: Actor, input: { name: string }) {
  const name = z.string().trim().min(2, "a team name needs at least 2 characters").max(60, "keep the team name under 60 characters").parse(input.name);
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

/**
 * Invites by email (the link is mailed, or printed to the log without SMTP) or as a shareable link
 * (email omitted). Admins may invite members and viewers; only owners may invite owners and admins,
 * so nobody can hand out more power than they hold.
 */
export async function inviteMember(actor: Actor, input: { teamId: string; email?: string | null; role: Role }) {
  const { team, role: actorRole } = await authorizeTeam(actor, input.teamId, "admin");
  const role = roleSchema.parse(input.role);
  if (!roleAtLeast(actorRole, role)) throw new PortcullisError("forbidden", `only owners can invite ${role}s`);
  const email = input.email?.trim() ? normalizeEmail(z.string().email("enter a valid email address").parse(input.email.trim())) : null;
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
  const invitation = await prisma.invitation.create({
    data: { teamId: team.id, email, role, tokenHash: sha256Hex(token), invitedById: actor.userId, expiresAt: new Date(Date.now() + INVITE_TTL_MS) },
  });
  const url = `${env().publicUrl}/invite/${token}`;
  let delivered: "smtp" | "log" | "link" = "link";
  if (email) {
    const inviter = await prisma.user.findUnique({ where: { id: actor.userId } });
    ({ delivered } = await sendMail({
      to: email,
      subject: `${inviter?.name ?? inviter?.email ?? "A teammate"} invited you to ${team.name} on Portcullis`,
      text: `You are invited to join ${team.name} on Portcullis as ${role}.\n\nAccept (valid for 7 days):\n${url}\n`,
    }));
  }
  return { id: invitation.id, url, delivered };
}

export async function revokeInvitation(actor: Actor, input: { teamId: string; invitationId: string }) {
  await authorizeTeam(actor, input.teamId, "admin");
  const result = await getPrisma().invitation.updateMany({
    where: { id: input.invitationId, teamId: input.teamId, acceptedAt: null, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  if (result.count === 0) throw new PortcullisError("not_found", "invitation not found");
}

export async function findInvitation(token: string) {
  const invitation = await getPrisma().invitation.findUnique({
    where: { tokenHash: sha256Hex(token) },
    include: { team: { select: { id: true, name: true, slug: true } }, invitedBy: { select: { name: true, email: true } } },
  });
  if (!invitation || invitation.acceptedAt || invitation.revokedAt || invitation.expiresAt < new Date()) return null;
  return invitation;
}

export async function acceptInvitation(actor: Actor, token: string) {
  const invitation = await findInvitation(token);
  if (!invitation) throw new PortcullisError("not_found", "this invitation has expired, was revoked, or was already used");
  const prisma = getPrisma();
  const user = await prisma.user.findUniqueOrThrow({ where: { id: actor.userId } });
  // An emailed invitation is for that address only; a link invitation is for whoever holds it.
  if (invitation.email && invitation.email !== user.email) {
    throw new PortcullisError("forbidden", `this invitation is for ${invitation.email}; sign in with that address`);
  }
  const existing = await prisma.membership.findUnique({ where: { teamId_userId: { teamId: invitation.teamId, userId: user.id } } });
  if (!existing) await addMember(prisma, { teamId: invitation.teamId, userId: user.id, role: invitation.role });
  await prisma.invitation.update({ where: { id: invitation.id }, data: { acceptedAt: new Date() } });
  return { slug: invitation.team.slug };
}

async function ownerCount(teamId: string) {
  return getPrisma().membership.count({ where: { teamId, role: "owner" } });
}

export async function changeMemberRole(actor: Actor, input: { teamId: string; userId: string; role: Role }) {
  const { role: actorRole } = await authorizeTeam(actor, input.teamId, "admin");
  const role = roleSchema.parse(input.role);
  const prisma = getPrisma();
  const target = await prisma.membership.findUnique({ where: { teamId_userId: { teamId: input.teamId, userId: input.userId } } });
  if (!target) throw new PortcullisError("not_found", "member not found");
  if (!roleAtLeast(actorRole, target.role) || !roleAtLeast(actorRole, role)) {
    throw new PortcullisError("forbidden", "only owners can change the role of owners and admins, or make someone an owner or admin");
  }
  if (target.role === "owner" && role !== "owner" && (await ownerCount(input.teamId)) <= 1) {
    throw new PortcullisError("conflict", "a team needs at least one owner; make someone else an owner first");
  }
  return prisma.membership.update({ where: { id: target.id }, data: { role } });
}

export async function removeMember(actor: Actor, input: { teamId: string; userId: string }) {
  const self = input.userId === actor.userId;
  const { role: actorRole } = await authorizeTeam(actor, input.teamId, self ? "viewer" : "admin");
  const prisma = getPrisma();
  const target = await prisma.membership.findUnique({ where: { teamId_userId: { teamId: input.teamId, userId: input.userId } } });
  if (!target) throw new PortcullisError("not_found", "member not found");
  if (!self && !roleAtLeast(actorRole, target.role)) throw new PortcullisError("forbidden", "only owners can remove owners and admins");
  if (target.role === "owner" && (await ownerCount(input.teamId)) <= 1) {
    throw new PortcullisError("conflict", "a team needs at least one owner; make someone else an owner first");
  }
  // Their keys for this team's links stop working with the membership.
  const now = new Date();
  await prisma.$transaction([
    prisma.apiKey.updateMany({ where: { teamId: input.teamId, userId: input.userId, revokedAt: null }, data: { revokedAt: now } }),
    prisma.linkAccess.deleteMany({ where: { userId: input.userId, link: { teamId: input.teamId } } }),
    prisma.membership.delete({ where: { id: target.id } }),
  ]);
}

export const teamSettingsSchema = z.object({
  name: z.string().trim().min(2, "a team name needs at least 2 characters").max(60),
  auditRetentionDays: z.coerce.number().int("whole days only").min(1, "keep audit events for at least 1 day").max(3650, "at most 3650 days (10 years)"),
});

export async function updateTeamSettings(actor: Actor, input: { teamId: string } & z.input<typeof teamSettingsSchema>) {
  await authorizeTeam(actor, input.teamId, "admin");
  const data = teamSettingsSchema.parse(input);
  return getPrisma().team.update({ where: { id: input.teamId }, data });
}

export async function deleteTeam(actor: Actor, input: { teamId: string; confirmSlug: string }) {
  const { team } = await authorizeTeam(actor, input.teamId, "owner");
  if (input.confirmSlug !== team.slug) throw new PortcullisError("invalid_input", `type the team's slug "${team.slug}" to confirm`);
  await getPrisma().team.delete({ where: { id: team.id } });
}
