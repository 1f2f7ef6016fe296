import type { Role } from "@portcullis/db/client";
import { PortcullisError } from "@portcullis/db/errors";
import { getPrisma } from "./db";

/** Who is acting: resolved from the session by the action wrapper, or given directly by tests. */
export interface Actor {
  userId: string;
}

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

/**
 * The tenant check every server action and route handler goes through. Not being a member answers
 * `not_found` — exactly what a team that does not exist answers — so ids of other teams reveal
 * nothing. Being a member with too low a role answers `forbidden`, which says what is needed.
 */
export async function authorizeTeam(actor: Actor, teamId: string, minimum: Role = "viewer") {
  const membership = await getPrisma().membership.findFirst({
    where: { teamId, userId: actor.userId },
    include: { team: true },
  });
  if (!membership) throw new PortcullisError("not_found", "team not found");
  if (!roleAtLeast(membership.role, minimum)) {
    throw new PortcullisError("forbidden", `this needs the ${ROLE_LABELS[minimum].toLowerCase()} role or higher; you are ${membership.role === "admin" || membership.role === "owner" ? "an" : "a"} ${membership.role}`);
  }
  return { team: membership.team, role: membership.role, membership };
}

/** Same check by slug, for pages (URLs carry the slug). */
export async function authorizeTeamSlug(actor: Actor, slug: string, minimum: Role = "viewer") {
  const membership = await getPrisma().membership.findFirst({
    where: { team: { slug }, userId: actor.userId },
    include: { team: true },
  });
  if (!membership) throw new PortcullisError("not_found", "team not found");
  if (!roleAtLeast(membership.role, minimum)) throw new PortcullisError("forbidden", `this page needs the ${minimum} role`);
  return { team: membership.team, role: membership.role, membership };
}
