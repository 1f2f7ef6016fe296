import { createHash, randomBytes, randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { withClient as withPg } from "@portcullis/db/testing";
import { HttpActor } from "./attacker-http";
import { PASSWORD, uniqueEmail } from "./stack";

/**
 * A victim team with something of every kind an action can touch (connection to its own target
 * database holding a canary, links, link access, keys, an invitation, an OAuth grant and token, a
 * schema description), lower-role members of it, and an outsider who owns a team of their own.
 * Seeded straight into the database so the world does not depend on the actions under attack.
 */

export type ActorKind = "outsider" | "viewer" | "member" | "admin" | "signed-out";

export interface VictimWorld {
  teamId: string;
  slug: string;
  ownerId: string;
  ownerEmail: string;
  ownerSessionId: string;
  memberIds: Record<"viewer" | "member" | "admin", string>;
  /** A second admin: only the owner may demote, remove or appoint admins. */
  peerAdminId: string;
  connectionId: string;
  linkId: string;
  readLinkId: string;
  keyId: string;
  invitationId: string;
  invitationToken: string;
  grantId: string;
  /** A value that lives only in the victim's target database: it must never reach an attacker. */
  canary: string;
  targetUrl: string;
  outsider: { userId: string; email: string; teamId: string; slug: string };
  actors: Record<ActorKind, HttpActor>;
  /** The victim team's owner, signed in: the suite's positive control acts through it. */
  owner: HttpActor;
  userIds: Record<ActorKind, string | null>;
}

function registerDatabase(name: string): void {
  const file = process.env.E2E_STATE_FILE;
  if (!file) return;
  const state = JSON.parse(readFileSync(file, "utf8")) as { databases: string[] };
  state.databases.push(name);
  writeFileSync(file, JSON.stringify(state, null, 2));
}

/** The target of every world seeded in this process, with its checksum when seeded. */
export const SEEDED_TARGETS = new Map<string, string>();

/** Every canary starts so: no actor of the suite owns one, so none may ever see this prefix. */
export const CANARY_PREFIX = "CANARY-";

/** Names and e-mails of victim objects (any world of the run), as the seeding spells them. */
export const VICTIM_MARKER = /victim-(?:owner|viewer|member|admin|invitee)-[0-9a-f]{8}-[a-z0-9]+@example\.com|victim-(?:db|admin-link|read-link|key)-[0-9a-f]{8}|victim description [0-9a-f]{8}|victim_tbl_[0-9a-f]{8}/g;

export { withPg };

/** Everything in the victim's target database, as one digest: data, tables, functions. */
export async function targetChecksum(url: string): Promise<string> {
  return withPg(url, async (c) => {
    const objects = await c.query(
      `SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text AS o FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1`,
    );
    const functions = await c.query(`SELECT p.oid::regprocedure::text AS f FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`);
    const data = await c.query(`SELECT coalesce(json_agg(t ORDER BY t.marker), '[]')::text AS d FROM canary t`);
    const people = await c.query(`SELECT coalesce(json_agg(t ORDER BY t.id), '[]')::text AS d FROM customers t`);
    return createHash("sha256")
      .update(JSON.stringify([objects.rows, functions.rows, data.rows, people.rows]))
      .digest("hex");
  });
}

export async function seedVictimWorld(): Promise<VictimWorld> {
  const { createPrismaClient } = await import("@portcullis/db/client");
  const { addConnection, addMember, createApiKey, createLink, createTeam, createUser } = await import("@portcullis/db/operations");
  const { parseTargetUrl } = await import("@portcullis/db/target");
  const { createEmptyDatabase } = await import("@portcullis/db/testing");
  const prisma = createPrismaClient(process.env.DATABASE_URL!);
  const tag = randomBytes(4).toString("hex");
  const canary = `${CANARY_PREFIX}${randomBytes(12).toString("hex")}`;
  const target = await createEmptyDatabase("victim");
  // Global teardown drops the run's databases: a victim's target outlives its spec, so an attack that
  // lands on an older world's link (findFirst over every team) still meets a live canary.
  registerDatabase(target.name);
  // The victim connects as an ordinary role, neither superuser nor holder of server program/file
  // roles, as the target policy asks of every target (the test cluster's own user is a superuser).
  // One role for every world and run (roles belong to the cluster and would outlive the databases).
  const roleName = "e2e_victim";
  const rolePassword = "e2e victim role of the attack suite";
  try {
    await withPg(target.url, async (c) => {
      await c.query(`DO $$ BEGIN CREATE ROLE ${roleName} LOGIN PASSWORD '${rolePassword}'; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
      await c.query(`GRANT ALL ON SCHEMA public TO ${roleName}`);
      await c.query(`SET ROLE ${roleName}`);
      await c.query(`CREATE TABLE canary (marker text PRIMARY KEY, note text NOT NULL)`);
      await c.query(`INSERT INTO canary VALUES ($1, 'the victim''s secret')`, [canary]);
      await c.query(`CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL)`);
      await c.query(`INSERT INTO customers VALUES (1, $1), (2, $2)`, [`${canary}-alice@victim.example`, `${canary}-bob@victim.example`]);
      // Its name alone is the victim's: table listings (connection tables, schema) must not show it to outsiders.
      await c.query(`CREATE TABLE victim_tbl_${tag} (id int)`);
    });

    SEEDED_TARGETS.set(target.url, await targetChecksum(target.url));
    const ownerEmail = uniqueEmail(`victim-owner-${tag}`);
    const owner = await createUser(prisma, { email: ownerEmail, password: PASSWORD, name: `Victim Owner ${tag}` });
    const team = await createTeam(prisma, { name: `Victim ${tag}`, ownerId: owner.id });
    const members = {} as Record<"viewer" | "member" | "admin", { id: string; email: string }>;
    for (const role of ["viewer", "member", "admin"] as const) {
      const email = uniqueEmail(`victim-${role}-${tag}`);
      const user = await createUser(prisma, { email, password: PASSWORD, name: `Victim ${role} ${tag}` });
      await addMember(prisma, { teamId: team.id, userId: user.id, role });
      members[role] = { id: user.id, email };
    }
    const peerAdmin = await createUser(prisma, { email: uniqueEmail(`victim-admin-${tag}`), password: PASSWORD, name: `Victim peer admin ${tag}` });
    await addMember(prisma, { teamId: team.id, userId: peerAdmin.id, role: "admin" });
    const connection = await addConnection(prisma, {
      teamId: team.id,
      name: `victim-db-${tag}`,
      fields: { ...parseTargetUrl(target.url), username: roleName, password: rolePassword, sslMode: "disable" },
      test: false,
    });
    // The admin link could write and run DDL: a cross-tenant call through it would change the target.
    const link = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: `victim-admin-link-${tag}`, scope: { access: "admin" }, createdById: owner.id });
    // The read link hides both tables: any canary that reaches a response came through the admin link.
    const readLink = await createLink(prisma, {
      teamId: team.id,
      connectionId: connection.id,
      name: `victim-read-link-${tag}`,
      scope: { access: "read", tables: { canary: { access: "none" }, customers: { access: "none" } } },
      createdById: owner.id,
    });
    // The lower roles hold access to the read link only: the admin link stays out of their reach.
    for (const role of ["viewer", "member"] as const) await prisma.linkAccess.create({ data: { linkId: readLink.id, userId: members[role].id } });
    const { record: key } = await createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: owner.id, name: `victim-key-${tag}` });
    const invitationToken = randomBytes(24).toString("base64url");
    const invitation = await prisma.invitation.create({
      data: {
        teamId: team.id,
        email: uniqueEmail(`victim-invitee-${tag}`),
        role: "member",
        tokenHash: createHash("sha256").update(invitationToken).digest("hex"),
        invitedById: owner.id,
        expiresAt: new Date(Date.now() + 7 * 86_400_000),
      },
    });
    const client = await prisma.oAuthClient.create({
      data: { clientId: `https://victim-${tag}.example/client.json`, kind: "metadata_document", name: `victim-client-${tag}`, redirectUris: ["http://127.0.0.1:9/cb"], metadata: {} },
    });
    const grant = await prisma.oAuthGrant.create({ data: { teamId: team.id, clientId: client.id, userId: owner.id, linkId: link.id } });
    await prisma.schemaDescription.create({
      data: { connectionId: connection.id, schemaName: "public", tableName: "canary", description: `victim description ${tag}`, source: "human", updatedById: owner.id },
    });

    const outsiderEmail = uniqueEmail(`outsider-${tag}`);
    const outsiderUser = await createUser(prisma, { email: outsiderEmail, password: PASSWORD, name: `Mallory ${tag}` });
    const outsiderTeam = await createTeam(prisma, { name: `Mallory ${tag}`, ownerId: outsiderUser.id });

    const actors: Record<ActorKind, HttpActor> = {
      outsider: new HttpActor("outsider", outsiderEmail),
      viewer: new HttpActor("viewer", members.viewer.email),
      member: new HttpActor("member", members.member.email),
      admin: new HttpActor("admin", members.admin.email),
      "signed-out": new HttpActor("signed-out"),
    };
    // The victim owner signs in too, so the victim has a live session an attacker could try to revoke.
    const victimOwner = new HttpActor("victim-owner", ownerEmail);
    await victimOwner.signIn(PASSWORD);
    for (const kind of ["outsider", "viewer", "member", "admin"] as const) await actors[kind].signIn(PASSWORD);
    const session = await prisma.session.findFirst({ where: { userId: owner.id }, orderBy: { createdAt: "desc" } });

    return {
      teamId: team.id,
      slug: team.slug,
      ownerId: owner.id,
      ownerEmail,
      ownerSessionId: session?.id ?? randomUUID(),
      memberIds: { viewer: members.viewer.id, member: members.member.id, admin: members.admin.id },
      peerAdminId: peerAdmin.id,
      connectionId: connection.id,
      linkId: link.id,
      readLinkId: readLink.id,
      keyId: key.id,
      invitationId: invitation.id,
      invitationToken,
      grantId: grant.id,
      canary,
      targetUrl: target.url,
      outsider: { userId: outsiderUser.id, email: outsiderEmail, teamId: outsiderTeam.id, slug: outsiderTeam.slug },
      actors,
      owner: victimOwner,
      userIds: { outsider: outsiderUser.id, viewer: members.viewer.id, member: members.member.id, admin: members.admin.id, "signed-out": null },
    };
  } finally {
    await prisma.$disconnect();
  }
}
