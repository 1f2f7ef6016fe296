import pg from "pg";
import { z } from "zod";
import type { Prisma } from "@portcullis/db/client";
import { PortcullisError } from "@portcullis/db/errors";
import { createLink } from "@portcullis/db/operations";
import { targetClientConfig, type TargetConnectionRow } from "@portcullis/db/target";
import { loadCatalog, parseScope, type Scope } from "@portcullis/policy";
import { authorizeTeam, roleAtLeast, type Actor } from "../../lib/authz";
import { getPrisma } from "../../lib/db";
import { env } from "../../lib/env";
import { publishRevocation } from "../../lib/redis";

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

/**
 * Members see the links they were granted; everyone else in the team sees all of them. Viewers see
 * them too (to read activity per link) but cannot issue keys.
 */
export async function listLinks(actor: Actor, teamId: string) {
  const { role } = await authorizeTeam(actor, teamId, "viewer");
  return getPrisma().link.findMany({
    where: { teamId, ...(role === "member" ? { access: { some: { userId: actor.userId } } } : {}) },
    orderBy: { createdAt: "asc" },
    include: {
      connection: { select: { id: true, name: true, database: true } },
      _count: { select: { apiKeys: { where: { revokedAt: null } } } },
    },
  });
}

export async function getLink(actor: Actor, teamId: string, linkId: string) {
  const { role } = await authorizeTeam(actor, teamId, "viewer");
  const link = await getPrisma().link.findFirst({
    where: { id: linkId, teamId, ...(role === "member" ? { access: { some: { userId: actor.userId } } } : {}) },
    include: { connection: { select: { id: true, name: true, database: true, host: true } }, access: { select: { userId: true } } },
  });
  if (!link) throw new PortcullisError("not_found", "link not found");
  return { link, role };
}

const tableCache = new Map<string, { at: number; tables: TableInfo[] }>();

/** The live table list of a connection, for the scope editor (cached briefly: editors re-render). */
export async function connectionTables(actor: Actor, teamId: string, connectionId: string): Promise<TableInfo[]> {
  await authorizeTeam(actor, teamId, "admin");
  const row = await getPrisma().connection.findFirst({ where: { id: connectionId, teamId } });
  if (!row) throw new PortcullisError("not_found", "connection not found");
  const cached = tableCache.get(connectionId);
  if (cached && Date.now() - cached.at < 30_000 && cached.at > row.updatedAt.getTime()) return cached.tables;
  const client = new pg.Client(targetClientConfig(row as TargetConnectionRow));
  client.on("error", () => {});
  try {
    await client.connect();
    const catalog = await loadCatalog(client);
    const tables: TableInfo[] = Object.values(catalog.relations)
      .filter((r) => r.kind !== "sequence")
      .map((r): TableInfo => ({ key: `${r.schema}.${r.name}`, schema: r.schema, name: r.name, kind: r.kind, columns: r.columns.map((c) => ({ name: c.name, type: c.type })) }))
      .sort((a, b) => a.key.localeCompare(b.key));
    tableCache.set(connectionId, { at: Date.now(), tables });
    return tables;
  } catch (error) {
    throw new PortcullisError("unavailable", `could not read the tables of "${row.name}": ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
}

const nameSchema = z.string().trim().min(1, "give the link a name").max(60, "keep the name under 60 characters");

export async function createLinkForTeam(actor: Actor, input: { teamId: string; connectionId: string; name: string; scope: unknown }) {
  await authorizeTeam(actor, input.teamId, "admin");
  const name = nameSchema.parse(input.name);
  const scope = requireValidScope(input.scope);
  const link = await createLink(getPrisma(), {
    teamId: input.teamId,
    connectionId: input.connectionId,
    name,
    scope: scope as unknown as Prisma.InputJsonValue,
    createdById: actor.userId,
  });
  return { id: link.id };
}

export async function updateLink(
  actor: Actor,
  input: { teamId: string; linkId: string; name?: string; scope?: unknown; status?: "active" | "disabled" },
) {
  await authorizeTeam(actor, input.teamId, "admin");
  const prisma = getPrisma();
  const link = await prisma.link.findFirst({ where: { id: input.linkId, teamId: input.teamId } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  const data: Prisma.LinkUpdateInput = {};
  if (input.name !== undefined) data.name = nameSchema.parse(input.name);
  if (input.scope !== undefined) data.scope = requireValidScope(input.scope) as unknown as Prisma.InputJsonValue;
  if (input.status !== undefined) data.status = z.enum(["active", "disabled"]).parse(input.status);
  try {
    await prisma.link.update({ where: { id: link.id }, data });
  } catch (error) {
    if ((error as { code?: string }).code === "P2002") throw new PortcullisError("conflict", `this team already has a link named "${input.name}"`);
    throw error;
  }
  // Gateways cache link scopes: a narrowed scope must apply to the very next call.
  await publishRevocation({ kind: "link", linkId: link.id }).catch(() => {});
}

export async function deleteLink(actor: Actor, input: { teamId: string; linkId: string }) {
  await authorizeTeam(actor, input.teamId, "admin");
  const prisma = getPrisma();
  const link = await prisma.link.findFirst({ where: { id: input.linkId, teamId: input.teamId } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  await prisma.link.delete({ where: { id: link.id } });
  await publishRevocation({ kind: "link", linkId: link.id }).catch(() => {});
}

/** Grants or withdraws a member's right to hold keys on a link (owners and admins always have it). */
export async function setLinkAccess(actor: Actor, input: { teamId: string; linkId: string; userId: string; granted: boolean }) {
  await authorizeTeam(actor, input.teamId, "admin");
  const prisma = getPrisma();
  const link = await prisma.link.findFirst({ where: { id: input.linkId, teamId: input.teamId } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  const member = await prisma.membership.findUnique({ where: { teamId_userId: { teamId: input.teamId, userId: input.userId } } });
  if (!member) throw new PortcullisError("not_found", "member not found");
  if (input.granted) {
    if (roleAtLeast(member.role, "admin")) return;
    await prisma.linkAccess.upsert({
      where: { linkId_userId: { linkId: link.id, userId: input.userId } },
      create: { linkId: link.id, userId: input.userId },
      update: {},
    });
  } else {
    const now = new Date();
    const keys = await prisma.apiKey.findMany({ where: { linkId: link.id, userId: input.userId, revokedAt: null } });
    await prisma.$transaction([
      prisma.linkAccess.deleteMany({ where: { linkId: link.id, userId: input.userId } }),
      prisma.apiKey.updateMany({ where: { id: { in: keys.map((k) => k.id) } }, data: { revokedAt: now } }),
    ]);
    for (const key of keys) await publishRevocation({ kind: "api_key", apiKeyId: key.id, hash: key.hash }).catch(() => {});
  }
}
