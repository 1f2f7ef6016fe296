import type { PrismaClient, Role, Plan } from "../client.js";
import { PortcullisError, isUniqueViolation } from "../errors.js";

export function slugify(name: string): string {
  return (
    name
      .normalize("NFKD")
      .replace(/[^\w\s-]/g, "")
      .trim()
      .toLowerCase()
      .replace(/[\s_]+/g, "-")
      .replace(/-+/g, "-")
      .slice(0, 48) || "team"
  );
}

/** The hosted free tier: 1 connection and 1 link. Self-hosted teams have no limits by default. */
export const PLAN_LIMITS: Record<Plan, { maxConnections: number | null; maxLinks: number | null; maxMembers: number | null }> = {
  free: { maxConnections: 1, maxLinks: 1, maxMembers: 3 },
  team: { maxConnections: 10, maxLinks: 50, maxMembers: 50 },
  self_hosted: { maxConnections: null, maxLinks: null, maxMembers: null },
};

export async function createTeam(
  prisma: PrismaClient,
  input: { name: string; slug?: string; plan?: Plan; ownerId?: string },
) {
  const name = input.name.trim();
  if (!name) throw new PortcullisError("invalid_input", "a team needs a name");
  const plan = input.plan ?? "self_hosted";
  const base = input.slug ? slugify(input.slug) : slugify(name);
  // Slugs are unique; an explicit slug that is taken is an error, a derived one gets a suffix.
  for (let attempt = 0; attempt < 20; attempt++) {
    const slug = attempt === 0 ? base : `${base}-${attempt + 1}`;
    try {
      return await prisma.team.create({
        data: {
          name,
          slug,
          plan,
          ...PLAN_LIMITS[plan],
          memberships: input.ownerId ? { create: { userId: input.ownerId, role: "owner" } } : undefined,
        },
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      if (input.slug) throw new PortcullisError("conflict", `a team with slug "${slug}" already exists`);
    }
  }
  throw new PortcullisError("conflict", `could not find a free slug for "${name}"`);
}

export async function addMember(prisma: PrismaClient, input: { teamId: string; userId: string; role: Role }) {
  const team = await prisma.team.findUnique({ where: { id: input.teamId }, include: { _count: { select: { memberships: true } } } });
  if (!team) throw new PortcullisError("not_found", "team not found");
  if (team.maxMembers !== null && team._count.memberships >= team.maxMembers) {
    throw new PortcullisError("plan_limit", `the ${team.plan} plan allows ${team.maxMembers} members; remove one or upgrade`);
  }
  return prisma.membership.upsert({
    where: { teamId_userId: { teamId: input.teamId, userId: input.userId } },
    create: { teamId: input.teamId, userId: input.userId, role: input.role },
    update: { role: input.role },
  });
}

/** Finds a team by id or slug. */
export async function findTeam(prisma: PrismaClient, idOrSlug: string) {
  const team = await prisma.team.findFirst({
    where: isUuid(idOrSlug) ? { OR: [{ id: idOrSlug }, { slug: idOrSlug }] } : { slug: idOrSlug },
  });
  if (!team) throw new PortcullisError("not_found", `no team "${idOrSlug}"`);
  return team;
}

export function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
