import type { PrismaClient, Prisma } from "../client.js";
import { PortcullisError, isUniqueViolation } from "../errors.js";
import { assertScopeAllowedForConnection, type ScopeAccessLevels } from "./connections.js";
import { databaseNameSchema } from "./link-databases.js";

/** The migration's backfill, for new links: the connection's database name, tamed; else "main". */
export function defaultDatabaseName(database: string): string {
  const tamed = database.toLowerCase().replace(/[^a-z0-9_.-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 63);
  return /^[a-z0-9]/.test(tamed) ? tamed : "main";
}

/**
 * Creates a link. The scope document must already be validated by the caller with
 * `@portcullis/policy`'s parseScope (kept out of this package so db does not depend on policy).
 */
export async function createLink(
  prisma: PrismaClient,
  input: { teamId: string; connectionId: string; name: string; scope: Prisma.InputJsonValue; createdById?: string; databaseName?: string },
) {
  const name = input.name.trim();
  if (!name) throw new PortcullisError("invalid_input", "a link needs a name");
  // The `database` argument naming the link's own database (issue 17); absent: from the connection's.
  const databaseName = input.databaseName === undefined ? undefined : databaseNameSchema.safeParse(input.databaseName);
  if (databaseName && !databaseName.success) throw new PortcullisError("invalid_input", databaseName.error.issues[0]!.message);
  const team = await prisma.team.findUnique({ where: { id: input.teamId }, include: { _count: { select: { links: true } } } });
  if (!team) throw new PortcullisError("not_found", "team not found");
  const connection = await prisma.connection.findFirst({ where: { id: input.connectionId, teamId: input.teamId } });
  if (!connection) throw new PortcullisError("not_found", "connection not found");
  // Here rather than in each caller, so the CLI and the dashboard refuse alike: a powerful target role
  // never gets an admin link (and no link once the operator withdraws the allowance).
  assertScopeAllowedForConnection(connection, (typeof input.scope === "object" && input.scope !== null ? input.scope : {}) as ScopeAccessLevels);
  if (team.maxLinks !== null && team._count.links >= team.maxLinks) {
    throw new PortcullisError("plan_limit", `the ${team.plan} plan allows ${team.maxLinks} link${team.maxLinks === 1 ? "" : "s"}; delete one or upgrade`);
  }
  try {
    return await prisma.link.create({
      data: {
        teamId: input.teamId,
        connectionId: input.connectionId,
        name,
        scope: input.scope,
        createdById: input.createdById ?? null,
        databaseName: databaseName?.data ?? defaultDatabaseName(connection.database),
      },
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new PortcullisError("conflict", `this team already has a link named "${name}"`);
    throw error;
  }
}
