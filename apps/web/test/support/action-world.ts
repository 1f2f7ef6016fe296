import { randomBytes } from "node:crypto";
import { createChinookDatabase, createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./dashboard-env";

/**
 * A team with every role, another team, a Chinook connection and a link, for calling the dashboard's
 * server actions as the browser does. The test file mocks `next/headers` with `jar` (a real next-auth
 * JWT for a real session row) and `next/cache`; the session check, the action client's parsing, the
 * team resolution and the operations run for real against PostgreSQL and Redis.
 */
export type Who = "owner" | "admin" | "member" | "approver" | "viewer" | "outsider";
export type Result = { ok: true; data: unknown } | { ok: false; code: string; error: string; fieldErrors?: Record<string, string> };

export interface ActionWorld {
  meta: TestDatabase;
  chinook: TestDatabase;
  prisma: import("@portcullis/db/client").PrismaClient;
  users: Record<Who, string>;
  tokens: Record<Who, string>;
  teamA: string;
  teamB: string;
  connectionA: string;
  linkA: string;
  linkB: string;
  drop(): Promise<void>;
}

export async function createActionWorld(prefix: string): Promise<ActionWorld> {
  const [meta, chinook] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
  useDashboardEnv(meta.url);
  process.env.QUEUE_PREFIX = `${prefix}${randomBytes(3).toString("hex")}`;
  process.env.WEB_PUBLIC_URL = "http://localhost:3999";
  // The test databases live on loopback, in the metadata database's own cluster.
  process.env.TARGET_NETWORKS = "any";
  process.env.TARGET_ALLOW_POWERFUL_ROLES = "true";
  process.env.TARGET_STACK_DATABASES = new URL(chinook.url).pathname.slice(1);
  delete process.env.GATEWAY_INTERNAL_TOKEN;

  const prisma = (await import("../../src/lib/db")).getPrisma();
  const { createUser, addMember, createTeam } = await import("@portcullis/db/operations");
  const { encode } = await import("next-auth/jwt");
  const users = {} as Record<Who, string>;
  const tokens = {} as Record<Who, string>;
  for (const who of ["owner", "admin", "member", "approver", "viewer", "outsider"] as const) {
    const u = await createUser(prisma, { email: `${who}-${randomBytes(4).toString("hex")}@example.com`, password: "a long enough password" });
    users[who] = u.id;
    const session = await prisma.session.create({ data: { userId: u.id, expiresAt: new Date(Date.now() + 86_400_000), userAgent: "vitest" } });
    tokens[who] = await encode({ token: { uid: u.id, sid: session.id }, secret: process.env.NEXTAUTH_SECRET! });
  }
  const teamA = (await createTeam(prisma, { name: "Victim", ownerId: users.owner })).id;
  for (const role of ["admin", "member", "approver", "viewer"] as const) await addMember(prisma, { teamId: teamA, userId: users[role], role: role === "approver" ? "member" : role });
  const teamB = (await createTeam(prisma, { name: "Attacker", ownerId: users.outsider })).id;

  const { resolveTeam } = await import("../../src/lib/authz");
  const conn = await import("../../src/features/connections/operations");
  const links = await import("../../src/features/links/operations");
  const values = { name: `c-${randomBytes(3).toString("hex")}`, mode: "url" as const, url: `${chinook.url}${chinook.url.includes("?") ? "&" : "?"}sslmode=disable`, sslMode: "disable" as const };
  const ownerA = await resolveTeam({ userId: users.owner }, teamA);
  const ownerB = await resolveTeam({ userId: users.outsider }, teamB);
  const connectionA = (await conn.createConnection(ownerA, { values })).id;
  const linkA = (await links.createLinkForTeam(ownerA, { connectionId: connectionA, name: "desk", scope: { access: "read", tables: { invoice: { access: "write" }, playlist: { access: "write" } } } })).id;
  await links.setLinkAccess(ownerA, { linkId: linkA, userId: users.member, granted: true });
  await links.setLinkAccess(ownerA, { linkId: linkA, userId: users.approver, granted: true });
  const connectionB = (await conn.createConnection(ownerB, { values: { ...values, name: "theirs" } })).id;
  const linkB = (await links.createLinkForTeam(ownerB, { connectionId: connectionB, name: "theirs", scope: { access: "read" } })).id;
  return {
    meta, chinook, prisma, users, tokens, teamA, teamB, connectionA, linkA, linkB,
    async drop() {
      await prisma.$disconnect();
      await Promise.all([meta.drop(), chinook.drop()]);
    },
  };
}

/** Every action exported by the given features' actions.ts, by name. */
export async function loadActions(files: string[]): Promise<Record<string, (input: unknown) => Promise<Result>>> {
  const actions: Record<string, (input: unknown) => Promise<Result>> = {};
  for (const file of files) {
    const mod = (await import(file)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(mod)) if (typeof value === "function") actions[name] = value as (input: unknown) => Promise<Result>;
  }
  return actions;
}
