import { z } from "zod";
import type { Membership, Role, Team } from "@portcullis/db/client";
import { PortcullisError } from "@portcullis/db/errors";
import { getPrisma } from "./db";

/** Who is acting: resolved from the session by the action wrapper, or given directly by tests. */
export interface Actor {
  userId: string;
}

/**
 * What a team operation runs with: the caller, and the team and role resolved once (by the action
 * wrapper, or by the page from its slug). Operations never look the team up again from input.
 */
export interface TeamContext {
  user: Actor;
  team: Team;
  role: Role;
  membership: Membership;
  /** Where the request came from, for the audit trail of configuration changes. */
  sourceIp?: string | null;
}

export const ROLES = ["owner", "admin", "member", "viewer"] as const;
export const roleSchema = z.enum(ROLES);

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

export function roleAtLeast(role: Role, minimum: Role): boolean {
  return RANK[role] >= RANK[minimum];
}

export const ROLE_LABELS: Record<Role, string> = {
  owner: "Owner",
  admin: "Admin",
  member: "Member",
  viewer: "Viewer",
};

// The ids reach a Prisma `where`: an object there is a filter ({not: …}), so only a uuid string passes.
export const uuidSchema = z.string().uuid();
// Slugs are what slugify makes (letters, digits, _ and -); anything else, NUL included, is no team.
const slugSchema = z.string().min(1).max(100).regex(/^[\p{L}\p{N}_-]+$/u);

function forbidden(minimum: Role, role: Role) {
  return new PortcullisError("forbidden", `this needs the ${ROLE_LABELS[minimum].toLowerCase()} role or higher; you are ${role === "admin" || role === "owner" ? "an" : "a"} ${role}`);
}

/**
 * The tenant check every server action and route handler goes through. Not being a member answers
 * `not_found` — exactly what a team that does not exist answers — so ids of other teams reveal
 * nothing. Being a member with too low a role answers `forbidden`, which says what is needed.
 */
export async function resolveTeam(actor: Actor, teamId: string, minimum: Role = "viewer"): Promise<TeamContext> {
  const id = uuidSchema.safeParse(teamId);
  if (!id.success) throw new PortcullisError("not_found", "team not found");
  return membershipContext(actor, { teamId: id.data }, minimum);
}

/** Same check by slug, for pages (URLs carry the slug). */
export async function authorizeTeamSlug(actor: Actor, slug: string, minimum: Role = "viewer"): Promise<TeamContext> {
  const parsed = slugSchema.safeParse(slug);
  if (!parsed.success) throw new PortcullisError("not_found", "team not found");
  return membershipContext(actor, { team: { slug: parsed.data } }, minimum);
}

/** For code that still authorises by id (Activity, owned elsewhere): the same parsed check. */
export async function authorizeTeam(actor: Actor, teamId: string, minimum: Role = "viewer") {
  const ctx = await resolveTeam(actor, teamId, minimum);
  return { team: ctx.team, role: ctx.role, membership: ctx.membership };
}

async function membershipContext(actor: Actor, team: { teamId: string } | { team: { slug: string } }, minimum: Role): Promise<TeamContext> {
  const userId = uuidSchema.safeParse(actor.userId);
  if (!userId.success) throw new PortcullisError("not_found", "team not found");
  const membership = await getPrisma().membership.findFirst({ where: { ...team, userId: userId.data }, include: { team: true } });
  if (!membership) throw new PortcullisError("not_found", "team not found");
  if (!roleAtLeast(membership.role, minimum)) throw forbidden(minimum, membership.role);
  const { team: row, ...rest } = membership;
  return { user: { userId: userId.data }, team: row, role: membership.role, membership: rest };
}

/**
 * Owners manage everyone; admins manage members and viewers only — they cannot invite, promote,
 * demote or remove an admin or an owner, nor act as one, so nobody hands out (or borrows) power at
 * their own level.
 */
export function mayManageRole(actorRole: Role, role: Role): boolean {
  return actorRole === "owner" || (roleAtLeast(actorRole, "admin") && !roleAtLeast(role, "admin"));
}

/** A second, in-operation check of the role the action declared (cheap: no query). */
export function requireRole(ctx: TeamContext, minimum: Role) {
  if (!roleAtLeast(ctx.role, minimum)) throw forbidden(minimum, ctx.role);
}

/** An id from a URL or another untrusted place: anything but a uuid is simply not found. */
export function idOrNotFound(value: unknown, what: string): string {
  const parsed = uuidSchema.safeParse(value);
  if (!parsed.success) throw new PortcullisError("not_found", `${what} not found`);
  return parsed.data;
}
