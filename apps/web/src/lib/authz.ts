import { z } from "zod";
import type { Membership, Role, Team } from "@portcullis/db/client";
import { PortcullisError } from "@portcullis/db/errors";
import { getPrisma } from "./db";
import { ALL_ROLES, ROLE_LABELS, can, describeNeed, mayManageRole, type Need, type RankedRole } from "./permissions";

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

export const ROLES = ALL_ROLES;
export const roleSchema = z.enum(ALL_ROLES);
export { ROLE_LABELS, mayManageRole, can };
export type { Need };

/** A rank check (owner > admin > member > viewer); an auditor passes none. */
export function roleAtLeast(role: Role, minimum: RankedRole): boolean {
  return can(role, minimum);
}

// The ids reach a Prisma `where`: an object there is a filter ({not: …}), so only a uuid string passes.
export const uuidSchema = z.string().uuid();
// Slugs are what slugify makes (letters, digits, _ and -); anything else, NUL included, is no team.
const slugSchema = z.string().min(1).max(100).regex(/^[\p{L}\p{N}_-]+$/u);

function forbidden(need: Need, role: Role) {
  if (role === "auditor") return new PortcullisError("forbidden", "auditors read and export activity and change nothing");
  return new PortcullisError("forbidden", `this needs ${describeNeed(need)}; you are ${role === "admin" || role === "owner" ? "an" : "a"} ${role}`);
}

/**
 * The tenant check every server action and route handler goes through. Not being a member answers
 * `not_found` — exactly what a team that does not exist answers — so ids of other teams reveal
 * nothing. Being a member whose role lacks the need (a rank, or a permission of ./permissions)
 * answers `forbidden`, which says what is needed.
 */
export async function resolveTeam(actor: Actor, teamId: string, need: Need = "viewer"): Promise<TeamContext> {
  const id = uuidSchema.safeParse(teamId);
  if (!id.success) throw new PortcullisError("not_found", "team not found");
  return membershipContext(actor, { teamId: id.data }, need);
}

/** Same check by slug, for pages (URLs carry the slug). */
export async function authorizeTeamSlug(actor: Actor, slug: string, need: Need = "viewer"): Promise<TeamContext> {
  const parsed = slugSchema.safeParse(slug);
  if (!parsed.success) throw new PortcullisError("not_found", "team not found");
  return membershipContext(actor, { team: { slug: parsed.data } }, need);
}

/** For code that still authorises by id (Activity, owned elsewhere): the same parsed check. */
export async function authorizeTeam(actor: Actor, teamId: string, need: Need = "viewer") {
  const ctx = await resolveTeam(actor, teamId, need);
  return { team: ctx.team, role: ctx.role, membership: ctx.membership };
}

async function membershipContext(actor: Actor, team: { teamId: string } | { team: { slug: string } }, need: Need): Promise<TeamContext> {
  const userId = uuidSchema.safeParse(actor.userId);
  if (!userId.success) throw new PortcullisError("not_found", "team not found");
  const membership = await getPrisma().membership.findFirst({ where: { ...team, userId: userId.data }, include: { team: true } });
  if (!membership) throw new PortcullisError("not_found", "team not found");
  if (!can(membership.role, need)) throw forbidden(need, membership.role);
  const { team: row, ...rest } = membership;
  return { user: { userId: userId.data }, team: row, role: membership.role, membership: rest };
}

/** A second, in-operation check of the role the action declared (cheap: no query). */
export function requireRole(ctx: TeamContext, need: Need) {
  if (!can(ctx.role, need)) throw forbidden(need, ctx.role);
}

/** An id from a URL or another untrusted place: anything but a uuid is simply not found. */
export function idOrNotFound(value: unknown, what: string): string {
  const parsed = uuidSchema.safeParse(value);
  if (!parsed.success) throw new PortcullisError("not_found", `${what} not found`);
  return parsed.data;
}
