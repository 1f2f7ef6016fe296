import type { Prisma } from "@portcullis/db/client";
import { PortcullisError } from "@portcullis/db/errors";
import { addLinkDatabase, listLinkDatabases, removeLinkDatabase, updateLinkDatabase } from "@portcullis/db/operations";
import { parseScope } from "@portcullis/policy";
import { requireRole, type TeamContext } from "../../lib/authz";
import { recordConfigChange } from "../../lib/config-audit";
import { getPrisma } from "../../lib/db";
import { publishRevocation } from "../../lib/redis";
import { requireValidScope } from "./operations";
import { checkScopeAgainstTarget } from "./scope-check";

/**
 * A link's databases in the dashboard (issue 17): the db package's operations (slice D) bounded by the
 * session's team, each change recorded in the team's audit chain in the same transaction. Row filters
 * and masks of a further database's scope are checked against that database's own catalog first.
 */

/** Every database of a link the caller may see, its own first (viewers and granted members read it). */
export async function linkDatabasesFor(ctx: TeamContext, linkId: string) {
  return listLinkDatabases(getPrisma(), { teamId: ctx.team.id, linkId });
}

async function linkName(tx: Prisma.TransactionClient, ctx: TeamContext, linkId: string) {
  const link = await tx.link.findFirst({ where: { id: linkId, teamId: ctx.team.id }, select: { id: true, name: true } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  return link;
}

/** Filters and masks need the target's catalog: a scope nobody could check is not stored. */
async function checkAgainstConnection(ctx: TeamContext, connectionId: string, raw: unknown) {
  const scope = requireValidScope(raw);
  const connection = await getPrisma().connection.findFirst({ where: { id: connectionId, teamId: ctx.team.id } });
  if (!connection) throw new PortcullisError("not_found", "connection not found");
  await checkScopeAgainstTarget(scope, connection);
  return scope;
}

async function changed(ctx: TeamContext, linkId: string) {
  // The NOTIFY triggers tell gateways too; this reaches the ones listening on Redis at once.
  await publishRevocation({ kind: "link", linkId }).catch(() => {});
  return { linkId, teamId: ctx.team.id };
}

export async function addDatabaseToLink(ctx: TeamContext, input: { linkId: string; name: string; connectionId: string; scope: unknown }) {
  requireRole(ctx, "admin");
  const scope = await checkAgainstConnection(ctx, input.connectionId, input.scope);
  const view = await getPrisma().$transaction(async (tx) => {
    const link = await linkName(tx, ctx, input.linkId);
    const added = await addLinkDatabase(tx, { teamId: ctx.team.id, linkId: link.id, name: input.name, connectionId: input.connectionId, scope }, { parseScope });
    await recordConfigChange(tx, {
      teamId: ctx.team.id, actorUserId: ctx.user.userId, action: "link.database.add",
      target: { type: "link", id: link.id, name: link.name }, after: { name: added.name, connectionId: added.connectionId, scope: added.scope }, sourceIp: ctx.sourceIp,
    });
    return added;
  });
  await changed(ctx, input.linkId);
  return { name: view.name };
}

export async function updateDatabaseOfLink(ctx: TeamContext, input: { linkId: string; name: string; newName?: string; scope?: unknown }) {
  requireRole(ctx, "admin");
  const prisma = getPrisma();
  let scope: unknown;
  if (input.scope !== undefined) {
    const current = await prisma.linkDatabase.findFirst({ where: { linkId: input.linkId, teamId: ctx.team.id, name: input.name } });
    if (!current) throw new PortcullisError("not_found", `this link has no further database named "${input.name}"`);
    scope = await checkAgainstConnection(ctx, current.connectionId, input.scope);
  }
  const view = await prisma.$transaction(async (tx) => {
    const link = await linkName(tx, ctx, input.linkId);
    const before = (await listLinkDatabases(tx, { teamId: ctx.team.id, linkId: link.id })).find((d) => d.name === input.name);
    const updated = await updateLinkDatabase(
      tx,
      {
        teamId: ctx.team.id, linkId: link.id, name: input.name, ...(input.newName !== undefined ? { newName: input.newName } : {}), ...(scope !== undefined ? { scope } : {}),
        actorUserId: ctx.user.userId, via: "dashboard", sourceIp: ctx.sourceIp,
      },
      { parseScope },
    );
    await recordConfigChange(tx, {
      teamId: ctx.team.id, actorUserId: ctx.user.userId, action: input.newName !== undefined && input.newName !== input.name ? "link.database.rename" : "link.database.update",
      target: { type: "link", id: link.id, name: link.name },
      before: before ? { name: before.name, connectionId: before.connectionId, scope: before.scope } : null,
      after: { name: updated.name, connectionId: updated.connectionId, scope: updated.scope }, sourceIp: ctx.sourceIp,
    });
    return updated;
  });
  await changed(ctx, input.linkId);
  return { name: view.name };
}

export async function removeDatabaseFromLink(ctx: TeamContext, input: { linkId: string; name: string }) {
  requireRole(ctx, "admin");
  await getPrisma().$transaction(async (tx) => {
    const link = await linkName(tx, ctx, input.linkId);
    const before = (await listLinkDatabases(tx, { teamId: ctx.team.id, linkId: link.id })).find((d) => d.name === input.name);
    await removeLinkDatabase(tx, { teamId: ctx.team.id, linkId: link.id, name: input.name, actorUserId: ctx.user.userId, via: "dashboard", sourceIp: ctx.sourceIp });
    await recordConfigChange(tx, {
      teamId: ctx.team.id, actorUserId: ctx.user.userId, action: "link.database.remove",
      target: { type: "link", id: link.id, name: link.name }, before: before ? { name: before.name, connectionId: before.connectionId, scope: before.scope } : null, sourceIp: ctx.sourceIp,
    });
  });
  await changed(ctx, input.linkId);
}
