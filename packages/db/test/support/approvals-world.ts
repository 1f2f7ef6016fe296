import { randomUUID } from "node:crypto";
import pg from "pg";
import type { PrismaClient } from "../../src/client.js";
import { addConnection, addMember, createLink, createTeam, createUser, createWriteRequest, type CreateWriteRequestInput } from "../../src/operations/index.js";
import { generateSecretKey, SecretKeyring } from "../../src/secrets/index.js";

const keyring = SecretKeyring.parse(generateSecretKey("k1"));
let n = 0;

export const LIMITS = { maxRows: 10, statementTimeoutMs: 1000 };

/**
 * A team with an owner, an admin, two members (one a named approver of link l1), a viewer named as an
 * approver too (viewers never decide), and a second team with its own owner and link (tenant isolation).
 */
export async function approvalsWorld(prisma: PrismaClient, scope: Record<string, unknown> = {}) {
  n++;
  const tag = `${n}${randomUUID().slice(0, 6)}`;
  const mk = (who: string) => createUser(prisma, { email: `${who}${tag}@example.com`, password: "a long passphrase" });
  const [owner, admin, requester, approver, viewer, stranger] = await Promise.all([mk("owner"), mk("admin"), mk("req"), mk("appr"), mk("viewer"), mk("stranger")]);
  const team = await createTeam(prisma, { name: `Approvals ${tag}`, ownerId: owner.id });
  await addMember(prisma, { teamId: team.id, userId: admin.id, role: "admin" });
  await addMember(prisma, { teamId: team.id, userId: requester.id, role: "member" });
  await addMember(prisma, { teamId: team.id, userId: approver.id, role: "member" });
  await addMember(prisma, { teamId: team.id, userId: viewer.id, role: "viewer" });
  const fields = { host: "127.0.0.1", port: 5432, database: "x", username: "u", password: "p", sslMode: "disable" as const };
  const connection = await addConnection(prisma, { teamId: team.id, name: "db", test: false, fields }, keyring);
  const link = await createLink(prisma, {
    teamId: team.id,
    connectionId: connection.id,
    name: "l1",
    scope: { access: "write", approval: "writes", tables: {}, limits: LIMITS, ...scope },
  });
  await prisma.linkAccess.create({ data: { linkId: link.id, userId: requester.id } });
  await prisma.linkApprover.create({ data: { linkId: link.id, userId: approver.id } });
  await prisma.linkApprover.create({ data: { linkId: link.id, userId: viewer.id } });
  const otherTeam = await createTeam(prisma, { name: `Other ${tag}`, ownerId: stranger.id });
  const otherConnection = await addConnection(prisma, { teamId: otherTeam.id, name: "db", test: false, fields }, keyring);
  const otherLink = await createLink(prisma, { teamId: otherTeam.id, connectionId: otherConnection.id, name: "o1", scope: { access: "write", tables: {}, limits: LIMITS } });
  return { team, owner, admin, requester, approver, viewer, stranger, link, otherTeam, otherLink };
}

export type ApprovalsWorld = Awaited<ReturnType<typeof approvalsWorld>>;

export function requestInput(w: ApprovalsWorld, over: Partial<CreateWriteRequestInput> = {}): CreateWriteRequestInput {
  return {
    teamId: w.team.id,
    linkId: w.link.id,
    kind: "approval",
    mode: "writes",
    tables: ["public.invoice"],
    reason: "public.invoice requires a lead's approval for every write (approval: writes)",
    sql: "DELETE FROM invoice WHERE invoice_id = $1",
    params: [100],
    catalogVersion: "cat-1",
    scopeHash: "scope-1",
    userId: w.requester.id,
    apiKeyId: null,
    oauthClientId: null,
    principalSubject: "key:abc",
    clientName: "test-client",
    preview: { command: "DELETE", affected: 1, table: "public.invoice", columns: ["invoice_id"], keyColumns: ["invoice_id"], before: [[100]], after: [], plan: null, notes: [], durationMs: 3 },
    expiresAt: new Date(Date.now() + 3_600_000),
    ...over,
  };
}

export function newRequest(db: Parameters<typeof createWriteRequest>[0], w: ApprovalsWorld, over: Partial<CreateWriteRequestInput> = {}) {
  return createWriteRequest(db, requestInput(w, over));
}

export function poolFor(url: string): pg.Pool {
  return new pg.Pool({ connectionString: url, max: 12 });
}
