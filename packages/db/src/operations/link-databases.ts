import { z } from "zod";
import type { Prisma, PrismaClient } from "../client.js";
import { PortcullisError, isUniqueViolation } from "../errors.js";
import { revokeDatabaseAccessGrants } from "./access-grants.js";
import { assertScopeAllowedForConnection, type ScopeAccessLevels } from "./connections.js";
import type { Query } from "./sql-db.js";
import { expireDatabaseWriteRequests } from "./write-request-transitions.js";

/**
 * A link's further databases (issue 17, docs/design/reach.md): the link's own connection and scope are
 * its first database, named `links.database_name`; `link_databases` holds the others, each with its own
 * scope document. The team is resolved by the caller (dashboard session, CLI operator); every query here
 * is bounded by it, and the composite foreign keys refuse another team's connection or link anyway.
 */

/** The `database` argument's spelling (the migration's CHECK): what every tool call names. */
export const DATABASE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const databaseNameSchema = z
  .string()
  .trim()
  .regex(DATABASE_NAME_PATTERN, "a database name is 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit");

/**
 * The policy's parseScope (packages/policy), passed in because db does not depend on policy. Required,
 * so no caller can store a scope nobody validated.
 */
export type ScopeParser = (raw: unknown) => { ok: true; scope: unknown } | { ok: false; errors: readonly { path: string; message: string }[] };

const uuid = z.string().uuid();

/** Who changes the database: named on the access grants the change revokes (absent: nobody named). */
const changedBy = {
  actorUserId: uuid.nullish(),
  via: z.enum(["dashboard", "cli"]).optional(),
  sourceIp: z.string().max(64).nullish(),
};

export const listLinkDatabasesInput = z.strictObject({ teamId: uuid, linkId: uuid });
export const addLinkDatabaseInput = z.strictObject({ teamId: uuid, linkId: uuid, name: databaseNameSchema, connectionId: uuid, scope: z.unknown() });
export const updateLinkDatabaseInput = z.strictObject({
  teamId: uuid,
  linkId: uuid,
  name: databaseNameSchema,
  /** Rename (the first database: links.database_name). */
  newName: databaseNameSchema.optional(),
  connectionId: uuid.optional(),
  scope: z.unknown().optional(),
  ...changedBy,
});
export const removeLinkDatabaseInput = z.strictObject({ teamId: uuid, linkId: uuid, name: databaseNameSchema, ...changedBy });

export interface LinkDatabaseView {
  name: string;
  connectionId: string;
  connectionName: string;
  /** The stored scope document (the first database's is the link's own scope). */
  scope: unknown;
  position: number;
  /** The link's own database (its connection and scope): renamed here, edited with the link. */
  first: boolean;
}

type Db = PrismaClient | Prisma.TransactionClient;

function by(v: { actorUserId?: string | null; via?: "dashboard" | "cli"; sourceIp?: string | null }) {
  return { actorUserId: v.actorUserId ?? null, ...(v.via ? { via: v.via } : {}), sourceIp: v.sourceIp ?? null };
}

function parse<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new PortcullisError("invalid_input", parsed.error.issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; "));
  return parsed.data;
}

function validScope(parseScope: ScopeParser, raw: unknown): Prisma.InputJsonValue {
  const result = parseScope(raw);
  if (!result.ok) throw new PortcullisError("invalid_input", `invalid scope: ${result.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`);
  return result.scope as Prisma.InputJsonValue;
}

/** Runs `fn` in a transaction holding the link's row lock (names are unique across two tables). */
async function withLockedLink<T>(db: Db, teamId: string, linkId: string, fn: (tx: Prisma.TransactionClient, link: { databaseName: string }) => Promise<T>): Promise<T> {
  const run = async (tx: Prisma.TransactionClient) => {
    const rows = await tx.$queryRaw<{ database_name: string }[]>`SELECT database_name FROM links WHERE id = ${linkId}::uuid AND team_id = ${teamId}::uuid FOR UPDATE`;
    if (!rows[0]) throw new PortcullisError("not_found", "link not found");
    return fn(tx, { databaseName: rows[0].database_name });
  };
  // A caller already in a transaction (to record its config change with it) may pass that client:
  // Prisma 7 runs a nested $transaction inside the outer one (same txid, checked), so the lock is theirs.
  return "$transaction" in db ? (db as PrismaClient).$transaction(run) : run(db);
}

async function teamConnection(tx: Prisma.TransactionClient, teamId: string, connectionId: string) {
  const connection = await tx.connection.findFirst({ where: { id: connectionId, teamId } });
  // Another team's connection reads exactly like one that does not exist.
  if (!connection) throw new PortcullisError("not_found", "connection not found");
  return connection;
}

async function nameTaken(tx: Prisma.TransactionClient, linkId: string, first: string, name: string): Promise<boolean> {
  if (first === name) return true;
  return (await tx.linkDatabase.count({ where: { linkId, name } })) > 0;
}

/**
 * Attack finding 2: a database whose name stops pointing where it did (removed, renamed, moved to
 * another connection — or the link's own connection changed) takes its grants and write requests with
 * it, in the transaction that changes it: grants in force and pending requests are revoked (audited),
 * pending and approved write requests expire (notified). Nothing is inherited by the next holder of the
 * name. Exported for the link's edit path, should it ever change the link's own connection.
 */
export async function endLinkDatabaseAccess(
  tx: Prisma.TransactionClient,
  change: { teamId: string; linkId: string; name: string; first: boolean; actorUserId?: string | null; via?: "dashboard" | "cli"; sourceIp?: string | null },
): Promise<void> {
  const q: Query = async <R>(text: string, values: unknown[] = []) => tx.$queryRawUnsafe<R[]>(text, ...values);
  const at = { teamId: change.teamId, linkId: change.linkId, databaseName: change.name, first: change.first };
  await revokeDatabaseAccessGrants(q, { ...at, actorUserId: change.actorUserId ?? null, via: change.via ?? "dashboard", sourceIp: change.sourceIp ?? null });
  await expireDatabaseWriteRequests(q, at);
}

/** Every database of the link, its own first. */
export async function listLinkDatabases(db: Db, input: z.input<typeof listLinkDatabasesInput>): Promise<LinkDatabaseView[]> {
  const v = parse(listLinkDatabasesInput, input);
  const link = await db.link.findFirst({ where: { id: v.linkId, teamId: v.teamId }, include: { connection: { select: { name: true } } } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  const others = await db.linkDatabase.findMany({ where: { linkId: link.id, teamId: v.teamId }, orderBy: [{ position: "asc" }, { name: "asc" }], include: { connection: { select: { name: true } } } });
  return [
    { name: link.databaseName, connectionId: link.connectionId, connectionName: link.connection.name, scope: link.scope, position: 0, first: true },
    ...others.map((d) => ({ name: d.name, connectionId: d.connectionId, connectionName: d.connection.name, scope: d.scope, position: d.position, first: false })),
  ];
}

/** Adds a database to the link: the team's connection, a valid scope its role may carry, a new name. */
export async function addLinkDatabase(db: Db, input: z.input<typeof addLinkDatabaseInput>, options: { parseScope: ScopeParser }): Promise<LinkDatabaseView> {
  const v = parse(addLinkDatabaseInput, input);
  const scope = validScope(options.parseScope, v.scope);
  try {
    return await withLockedLink(db, v.teamId, v.linkId, async (tx, link) => {
      const connection = await teamConnection(tx, v.teamId, v.connectionId);
      assertScopeAllowedForConnection(connection, scope as ScopeAccessLevels);
      if (await nameTaken(tx, v.linkId, link.databaseName, v.name)) throw new PortcullisError("conflict", `this link already has a database named "${v.name}"`);
      const last = await tx.linkDatabase.aggregate({ where: { linkId: v.linkId }, _max: { position: true } });
      const created = await tx.linkDatabase.create({
        data: { linkId: v.linkId, teamId: v.teamId, name: v.name, connectionId: connection.id, scope, position: (last._max.position ?? 0) + 1 },
      });
      return { name: created.name, connectionId: created.connectionId, connectionName: connection.name, scope: created.scope, position: created.position, first: false };
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new PortcullisError("conflict", `this link already has a database named "${v.name}"`);
    throw error;
  }
}

/**
 * Renames a database, or changes a further database's connection or scope. The first database's
 * connection and scope are the link's own (edited with the link); only its name changes here.
 */
export async function updateLinkDatabase(db: Db, input: z.input<typeof updateLinkDatabaseInput>, options: { parseScope: ScopeParser }): Promise<LinkDatabaseView> {
  const v = parse(updateLinkDatabaseInput, input);
  const scope = v.scope === undefined ? undefined : validScope(options.parseScope, v.scope);
  try {
    return await withLockedLink(db, v.teamId, v.linkId, async (tx, link) => {
      const renaming = v.newName !== undefined && v.newName !== v.name;
      if (renaming && (await nameTaken(tx, v.linkId, link.databaseName, v.newName!))) throw new PortcullisError("conflict", `this link already has a database named "${v.newName}"`);
      if (v.name === link.databaseName) {
        if (v.connectionId !== undefined || scope !== undefined) throw new PortcullisError("invalid_input", "the first database's connection and scope are the link's own: edit the link itself");
        const updated = await tx.link.update({ where: { id: v.linkId }, data: { databaseName: v.newName ?? v.name }, include: { connection: { select: { name: true } } } });
        if (renaming) await endLinkDatabaseAccess(tx, { teamId: v.teamId, linkId: v.linkId, name: v.name, first: true, ...by(v) });
        return { name: updated.databaseName, connectionId: updated.connectionId, connectionName: updated.connection.name, scope: updated.scope, position: 0, first: true };
      }
      const current = await tx.linkDatabase.findFirst({ where: { linkId: v.linkId, teamId: v.teamId, name: v.name } });
      if (!current) throw new PortcullisError("not_found", `this link has no database named "${v.name}"`);
      const connection = await teamConnection(tx, v.teamId, v.connectionId ?? current.connectionId);
      // The role check judges the scope that will be stored with the connection that will be used.
      assertScopeAllowedForConnection(connection, (scope ?? current.scope) as ScopeAccessLevels);
      const updated = await tx.linkDatabase.update({
        where: { linkId_name: { linkId: v.linkId, name: v.name } },
        data: { name: v.newName ?? v.name, connectionId: connection.id, ...(scope !== undefined ? { scope } : {}) },
      });
      if (renaming || connection.id !== current.connectionId) await endLinkDatabaseAccess(tx, { teamId: v.teamId, linkId: v.linkId, name: v.name, first: false, ...by(v) });
      return { name: updated.name, connectionId: updated.connectionId, connectionName: connection.name, scope: updated.scope, position: updated.position, first: false };
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new PortcullisError("conflict", `this link already has a database named "${v.newName}"`);
    throw error;
  }
}

/** Removes a further database (the first is the link itself: it goes with the link). */
export async function removeLinkDatabase(db: Db, input: z.input<typeof removeLinkDatabaseInput>): Promise<void> {
  const v = parse(removeLinkDatabaseInput, input);
  await withLockedLink(db, v.teamId, v.linkId, async (tx, link) => {
    if (v.name === link.databaseName) throw new PortcullisError("invalid_input", "the first database is the link's own; delete the link to remove it");
    const { count } = await tx.linkDatabase.deleteMany({ where: { linkId: v.linkId, teamId: v.teamId, name: v.name } });
    if (count === 0) throw new PortcullisError("not_found", `this link has no database named "${v.name}"`);
    await endLinkDatabaseAccess(tx, { teamId: v.teamId, linkId: v.linkId, name: v.name, first: false, ...by(v) });
  });
}
