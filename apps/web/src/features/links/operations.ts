import { z } from "zod";
import type { Prisma, PrismaClient } from "@portcullis/db/client";
import { PortcullisError } from "@portcullis/db/errors";
import { assertScopeAllowedForConnection, createLink } from "@portcullis/db/operations";
import { parseScope, type Scope } from "@portcullis/policy";
import { idOrNotFound, requireRole, roleAtLeast, type TeamContext } from "../../lib/authz";
import { recordConfigChange } from "../../lib/config-audit";
import { getPrisma } from "../../lib/db";
import { env } from "../../lib/env";
import { publishRevocation } from "../../lib/redis";
import { checkScopeAgainstTarget } from "./scope-check";
import { connectionCatalog } from "./target-catalog";

export interface TableInfo {
  /** "schema.table" */
  key: string;
  schema: string;
  name: string;
  kind: string;
  columns: { name: string; type: string }[];
}

export function linkUrl(linkId: string): string {
  return `${env().GATEWAY_PUBLIC_URL}/mcp/${linkId}`;
}

/** Validates a scope document and turns policy's errors into one readable exception. */
export function requireValidScope(input: unknown): Scope {
  const parsed = parseScope(input);
  if (!parsed.ok) {
    const fieldErrors = Object.fromEntries(parsed.errors.map((e) => [`scope.${e.path}`, e.message]));
    throw new PortcullisError("invalid_input", parsed.errors.map((e) => `${e.path}: ${e.message}`).join("; "), { fieldErrors });
  }
  return parsed.scope;
}

export function validateScopeDocument(input: unknown) {
  const parsed = parseScope(input);
  return parsed.ok ? { ok: true as const, scope: parsed.scope } : { ok: false as const, errors: parsed.errors };
}

/** Members see only the links they were granted; everyone else in the team sees all of them. */
export function visibleLinks(ctx: TeamContext): Prisma.LinkWhereInput {
  return { teamId: ctx.team.id, ...(ctx.role === "member" ? { access: { some: { userId: ctx.user.userId } } } : {}) };
}

/**
 * Members see the links they were granted; everyone else in the team sees all of them. Viewers see
 * them too (to read activity per link) but cannot issue keys.
 */
export async function listLinks(ctx: TeamContext) {
  return getPrisma().link.findMany({
    where: visibleLinks(ctx),
    orderBy: { createdAt: "asc" },
    include: {
      connection: { select: { id: true, name: true, database: true } },
      _count: { select: { apiKeys: { where: { revokedAt: null } } } },
    },
  });
}

export async function getLink(ctx: TeamContext, linkId: string) {
  const link = await getPrisma().link.findFirst({
    where: { id: idOrNotFound(linkId, "link"), ...visibleLinks(ctx) },
    include: { connection: { select: { id: true, name: true, database: true, host: true } }, access: { select: { userId: true } } },
  });
  if (!link) throw new PortcullisError("not_found", "link not found");
  return { link, role: ctx.role };
}

/** One of the team's connections (admins: the scope editor reads its catalog). */
export async function teamConnection(ctx: TeamContext, connectionId: string) {
  requireRole(ctx, "admin");
  const row = await getPrisma().connection.findFirst({ where: { id: connectionId, teamId: ctx.team.id } });
  if (!row) throw new PortcullisError("not_found", "connection not found");
  return row;
}

/** The live table list of a connection, for the scope editor. */
export async function connectionTables(ctx: TeamContext, input: { connectionId: string }): Promise<TableInfo[]> {
  const catalog = await connectionCatalog(await teamConnection(ctx, input.connectionId));
  return Object.values(catalog.relations)
    .filter((r) => r.kind !== "sequence")
    .map((r): TableInfo => ({ key: `${r.schema}.${r.name}`, schema: r.schema, name: r.name, kind: r.kind, columns: r.columns.map((c) => ({ name: c.name, type: c.type })) }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

export const linkNameSchema = z.string().trim().min(1, "give the link a name").max(60, "keep the name under 60 characters");

/** What the audit trail shows of a link. */
function auditView(link: { name: string; status: string; connectionId: string; scope: unknown }) {
  return { name: link.name, status: link.status, connectionId: link.connectionId, scope: link.scope };
}

export async function createLinkForTeam(ctx: TeamContext, input: { connectionId: string; name: string; scope: unknown }) {
  requireRole(ctx, "admin");
  const scope = requireValidScope(input.scope);
  const connection = await getPrisma().connection.findFirst({ where: { id: input.connectionId, teamId: ctx.team.id } });
  if (!connection) throw new PortcullisError("not_found", "connection not found");
  // A role that reaches the server's programs or files never gets an admin link (operator setting aside).
  assertScopeAllowedForConnection(connection, scope);
  await checkScopeAgainstTarget(scope, connection);
  const link = await getPrisma().$transaction(async (tx) => {
    const created = await createLink(tx as unknown as PrismaClient, {
      teamId: ctx.team.id,
      connectionId: input.connectionId,
      name: input.name,
      scope: scope as unknown as Prisma.InputJsonValue,
      createdById: ctx.user.userId,
    });
    await recordConfigChange(tx, {
      teamId: ctx.team.id, actorUserId: ctx.user.userId, action: "link.create",
      target: { type: "link", id: created.id, name: created.name }, after: auditView(created), sourceIp: ctx.sourceIp,
    });
    return created;
  });
  return { id: link.id };
}

export async function updateLink(ctx: TeamContext, input: { linkId: string; name?: string; scope?: unknown; status?: "active" | "disabled" }) {
  requireRole(ctx, "admin");
  const prisma = getPrisma();
  const link = await prisma.link.findFirst({ where: { id: input.linkId, teamId: ctx.team.id } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  const data: Prisma.LinkUpdateInput = {};
  if (input.name !== undefined) data.name = input.name;
  if (input.scope !== undefined) {
    const scope = requireValidScope(input.scope);
    const connection = await prisma.connection.findUniqueOrThrow({ where: { id: link.connectionId } });
    assertScopeAllowedForConnection(connection, scope);
    await checkScopeAgainstTarget(scope, connection);
    data.scope = scope as unknown as Prisma.InputJsonValue;
  }
  if (input.status !== undefined) data.status = input.status;
  const action =
    input.status !== undefined && input.name === undefined && input.scope === undefined
      ? input.status === "active" ? "link.enable" : "link.disable"
      : input.scope !== undefined ? "link.scope.update" : "link.update";
  try {
    await prisma.$transaction(async (tx) => {
      const updated = await tx.link.update({ where: { id: link.id }, data });
      await recordConfigChange(tx, {
        teamId: ctx.team.id, actorUserId: ctx.user.userId, action,
        target: { type: "link", id: link.id, name: updated.name }, before: auditView(link), after: auditView(updated), sourceIp: ctx.sourceIp,
      });
    });
  } catch (error) {
    if ((error as { code?: string }).code === "P2002") throw new PortcullisError("conflict", `this team already has a link named "${input.name}"`);
    throw error;
  }
  // Gateways cache link scopes: a narrowed scope must apply to the very next call.
  await publishRevocation({ kind: "link", linkId: link.id }).catch(() => {});
}

export async function deleteLink(ctx: TeamContext, input: { linkId: string }) {
  requireRole(ctx, "admin");
  const prisma = getPrisma();
  const link = await prisma.link.findFirst({ where: { id: input.linkId, teamId: ctx.team.id } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  await prisma.$transaction(async (tx) => {
    await tx.link.delete({ where: { id: link.id } });
    await recordConfigChange(tx, {
      teamId: ctx.team.id, actorUserId: ctx.user.userId, action: "link.delete",
      target: { type: "link", id: link.id, name: link.name }, before: auditView(link), sourceIp: ctx.sourceIp,
    });
  });
  await publishRevocation({ kind: "link", linkId: link.id }).catch(() => {});
}

/** Grants or withdraws a member's right to hold keys on a link (owners and admins always have it). */
export async function setLinkAccess(ctx: TeamContext, input: { linkId: string; userId: string; granted: boolean }) {
  requireRole(ctx, "admin");
  const prisma = getPrisma();
  const teamId = ctx.team.id;
  const link = await prisma.link.findFirst({ where: { id: input.linkId, teamId } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  const member = await prisma.membership.findUnique({ where: { teamId_userId: { teamId, userId: input.userId } } });
  if (!member) throw new PortcullisError("not_found", "member not found");
  const audit = (tx: Prisma.TransactionClient, revokedKeys: string[] = []) =>
    recordConfigChange(tx, {
      teamId, actorUserId: ctx.user.userId, action: input.granted ? "link.access.grant" : "link.access.revoke",
      target: { type: "link", id: link.id, name: link.name },
      after: { userId: input.userId, granted: input.granted, ...(revokedKeys.length ? { revokedKeyIds: revokedKeys } : {}) }, sourceIp: ctx.sourceIp,
    });
  // Owners and admins use every link; grants are about members (withdrawing one from an admin would
  // only have revoked their keys, which is not what "access" means for them).
  if (roleAtLeast(member.role, "admin")) return;
  // Viewers and auditors never use links (the gateway refuses them whatever the grant says).
  if (input.granted && member.role !== "member") throw new PortcullisError("forbidden", `${member.role}s cannot use links; change their role first`);
  if (input.granted) {
    await prisma.$transaction(async (tx) => {
      await tx.linkAccess.upsert({
        where: { linkId_userId: { linkId: link.id, userId: input.userId } },
        create: { linkId: link.id, userId: input.userId },
        update: {},
      });
      await audit(tx);
    });
  } else {
    const now = new Date();
    const keys = await prisma.$transaction(async (tx) => {
      const live = await tx.apiKey.findMany({ where: { linkId: link.id, userId: input.userId, revokedAt: null } });
      await tx.linkAccess.deleteMany({ where: { linkId: link.id, userId: input.userId } });
      await tx.apiKey.updateMany({ where: { id: { in: live.map((k) => k.id) } }, data: { revokedAt: now } });
      await audit(tx, live.map((k) => k.id));
      return live;
    });
    for (const key of keys) await publishRevocation({ kind: "api_key", apiKeyId: key.id, hash: key.hash }).catch(() => {});
  }
}
