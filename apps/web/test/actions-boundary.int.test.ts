import { randomBytes, randomUUID } from "node:crypto";
import { readdirSync, existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import type { Role } from "@portcullis/db/client";
import { createChinookDatabase, createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * The server actions themselves, called exactly as the browser calls them: with whatever argument
 * the attacker likes. Only Next's request plumbing is replaced (`next/headers` hands over a cookie
 * jar holding a real next-auth JWT for a real `sessions` row; `next/cache` revalidation is a no-op
 * outside a render); the session check, the action client's parsing, the team resolution and the
 * operations run for real against PostgreSQL and Redis. Every attack is judged by its effect: the
 * metadata rows of both teams before and after must be identical.
 */
const jar = vi.hoisted(() => ({ token: undefined as string | undefined }));
vi.mock("next/headers", () => ({
  cookies: async () => ({
    getAll: () => (jar.token ? [{ name: "next-auth.session-token", value: jar.token }] : []),
    get: (name: string) => (jar.token && name === "next-auth.session-token" ? { name, value: jar.token } : undefined),
  }),
  headers: async () => new Headers({ "user-agent": "vitest boundary", "x-real-ip": "203.0.113.7" }),
}));
vi.mock("next/cache", () => ({ revalidatePath: () => {}, revalidateTag: () => {} }));

type Who = "owner" | "admin" | "member" | "viewer" | "auditor" | "outsider";
type Result = { ok: true; data: unknown } | { ok: false; code: string; error: string };
type Action = (input: unknown) => Promise<Result>;

let meta: TestDatabase;
let chinook: TestDatabase;
let prisma: import("@portcullis/db/client").PrismaClient;
let tokens: Record<Who, string>;
let users: Record<Who, string>;
let teamA: string;
let teamB: string;
let connectionA: string;
let linkA: string;
let hiddenLinkA: string;
let keyOfMember: string;
let connectionB: string;
let linkB: string;
let providerA: string;
const actions: Record<string, Action> = {};

const FEATURES_DIR = path.join(__dirname, "../src/features");
// Sign-up and password reset are signed-out actions owned by the auth slice, with their own suite.
const NOT_HERE = new Set(["auth"]);

function as(who: Who) {
  jar.token = tokens[who];
}

async function call(who: Who, name: string, input: unknown): Promise<Result> {
  as(who);
  const action = actions[name];
  if (!action) throw new Error(`no action ${name}`);
  return action(input);
}

/** Every row an action could change, of every team: compared whole before and after an attack. */
async function snapshot(teamIds: string[] = [teamA, teamB]) {
  const team = { teamId: { in: teamIds } };
  return JSON.stringify(
    await Promise.all([
      prisma.team.findMany({ where: { id: { in: teamIds } }, orderBy: { id: "asc" } }),
      prisma.membership.findMany({ where: team, orderBy: { id: "asc" } }),
      prisma.connection.findMany({ where: team, orderBy: { id: "asc" } }),
      prisma.link.findMany({ where: team, orderBy: { id: "asc" } }),
      prisma.linkAccess.findMany({ where: { link: team }, orderBy: [{ linkId: "asc" }, { userId: "asc" }] }),
      prisma.linkMemberAttribute.findMany({ where: { link: team }, orderBy: [{ linkId: "asc" }, { userId: "asc" }, { name: "asc" }] }),
      prisma.apiKey.findMany({ where: team, orderBy: { id: "asc" } }),
      prisma.invitation.findMany({ where: team, orderBy: { id: "asc" } }),
      prisma.schemaDescription.findMany({ where: { connection: team }, orderBy: { id: "asc" } }),
      prisma.oAuthGrant.findMany({ where: team, orderBy: { id: "asc" } }),
      prisma.trustedIdentityProvider.findMany({ where: team, orderBy: { id: "asc" } }),
      prisma.enterpriseIdentity.findMany({ where: { provider: team }, orderBy: { id: "asc" } }),
      prisma.session.findMany({ select: { id: true, revokedAt: true }, orderBy: { id: "asc" } }),
      prisma.auditOutbox.count({ where: team }),
      prisma.writeRequest.findMany({ where: team, orderBy: { id: "asc" } }),
      prisma.accessGrant.findMany({ where: team, orderBy: { id: "asc" } }),
      prisma.teamNotificationSettings.findMany({ where: team, orderBy: { teamId: "asc" } }),
      prisma.linkDatabase.findMany({ where: team, orderBy: [{ linkId: "asc" }, { name: "asc" }] }),
      prisma.linkTool.findMany({ where: team, orderBy: { id: "asc" } }),
      prisma.auditSink.findMany({ where: team, orderBy: { id: "asc" } }).then((rows) => rows.map((r) => ({ ...r, cursorSeq: String(r.cursorSeq), deliveredCount: String(r.deliveredCount) }))),
      prisma.team.count(),
    ]),
    // BigInt columns (audit_sinks' skipped_events, last_gap_*: FX1) as strings.
    (_key, value: unknown) => (typeof value === "bigint" ? String(value) : value),
  );
}

interface Case {
  min: Role;
  /** A well-formed input for team A, as its owner would send it (fresh objects where it destroys one). */
  valid: () => Promise<Record<string, unknown>>;
  optional?: string[];
  /** Fields whose valid values include null. */
  nullable?: string[];
  /** What a role below `min` gets (default forbidden). */
  below?: string;
  /** Signed-in but team-less actions (no teamId): no role to fall short of. */
  userOnly?: boolean;
  /** Reads nothing and writes nothing (scope validation): every input may answer, none may write. */
  pure?: boolean;
}

const CONNECTION_VALUES = () => ({ name: `c-${randomBytes(3).toString("hex")}`, mode: "url", url: `${chinook.url}${chinook.url.includes("?") ? "&" : "?"}sslmode=disable`, sslMode: "disable" });

async function freshConnection() {
  const { createConnection } = await import("../src/features/connections/operations");
  const { resolveTeam } = await import("../src/lib/authz");
  return (await createConnection(await resolveTeam({ userId: users.owner }, teamA, "owner"), { values: { ...CONNECTION_VALUES(), sslMode: "disable", mode: "url" } })).id;
}

async function freshLink() {
  const { createLinkForTeam } = await import("../src/features/links/operations");
  const { resolveTeam } = await import("../src/lib/authz");
  return (await createLinkForTeam(await resolveTeam({ userId: users.owner }, teamA, "owner"), { connectionId: connectionA, name: `l-${randomBytes(3).toString("hex")}`, scope: { access: "read" } })).id;
}

async function freshMember(role: Role) {
  const { createUser, addMember } = await import("@portcullis/db/operations");
  const u = await createUser(prisma, { email: `m-${randomBytes(4).toString("hex")}@example.com`, password: "a long enough password" });
  await addMember(prisma, { teamId: teamA, userId: u.id, role });
  return u.id;
}

/** A provider input as an admin would type it; each issuer is new (a team trusts an issuer once). */
const PROVIDER_VALUES = () => ({ name: "Okta", issuer: `https://idp-${randomBytes(4).toString("hex")}.example.com`, jwksUri: "https://idp.example.com/oauth2/v1/keys", allowedClientIds: ["0oa-client-1"] });

async function freshProvider(teamId = teamA, ownerId = users.owner) {
  const { addIdentityProvider } = await import("@portcullis/oauth");
  return (await addIdentityProvider(prisma, { teamId, actorUserId: ownerId }, PROVIDER_VALUES())).id;
}

const CASES: Record<string, Case> = {
  testConnectionAction: { min: "admin", optional: ["connectionId"], valid: async () => ({ teamId: teamA, connectionId: connectionA, values: { ...CONNECTION_VALUES(), url: undefined, mode: "fields", host: "127.0.0.1", port: 1, database: "x", username: "x", password: "x" } }) },
  createConnectionAction: { min: "admin", valid: async () => ({ teamId: teamA, values: CONNECTION_VALUES() }) },
  updateConnectionAction: { min: "admin", valid: async () => ({ teamId: teamA, connectionId: await freshConnection(), values: CONNECTION_VALUES() }) },
  deleteConnectionAction: { min: "admin", valid: async () => ({ teamId: teamA, connectionId: await freshConnection() }) },
  // connectionA has no SSH hop: the well-formed call passes every check and then finds none (not_found).
  confirmHostKeyAction: { min: "admin", valid: async () => ({ teamId: teamA, connectionId: connectionA, position: 0, fingerprint: `SHA256:${"A".repeat(43)}` }) },
  connectionTablesAction: { min: "admin", valid: async () => ({ teamId: teamA, connectionId: connectionA }) },
  validateScopeAction: { min: "viewer", userOnly: true, pure: true, valid: async () => ({ scope: { access: "read" } }) },
  createLinkAction: { min: "admin", valid: async () => ({ teamId: teamA, connectionId: connectionA, name: `l-${randomBytes(3).toString("hex")}`, scope: { access: "read" } }) },
  updateLinkAction: { min: "admin", optional: ["name", "scope", "status"], valid: async () => ({ teamId: teamA, linkId: await freshLink(), name: `u-${randomBytes(3).toString("hex")}`, scope: { access: "read" }, status: "disabled" }) },
  deleteLinkAction: { min: "admin", valid: async () => ({ teamId: teamA, linkId: await freshLink() }) },
  setLinkAccessAction: { min: "admin", valid: async () => ({ teamId: teamA, linkId: await freshLink(), userId: users.member, granted: true }) },
  checkScopeAction: { min: "admin", pure: true, valid: async () => ({ teamId: teamA, connectionId: connectionA, scope: { access: "read" } }) },
  previewRowFilterAction: { min: "admin", valid: async () => ({ teamId: teamA, linkId: linkA, scope: { access: "read" }, table: "public.artist", userId: users.member }) },
  sampleMaskAction: { min: "admin", valid: async () => ({ teamId: teamA, linkId: linkA, scope: { access: "read" }, table: "public.artist", column: "name", userId: users.member }) },
  setMemberAttributeAction: { min: "admin", valid: async () => ({ teamId: teamA, linkId: linkA, userId: users.member, name: "rep_id", value: "3" }) },
  unsetMemberAttributeAction: { min: "admin", valid: async () => ({ teamId: teamA, linkId: linkA, userId: users.member, name: "rep_id" }) },
  // Link page (W2): replay before save reads the link's audit and writes only its own audit row; approvers.
  replayScopeAction: { min: "admin", valid: async () => ({ teamId: teamA, linkId: linkA, scope: { access: "read" }, days: 7 }) },
  setLinkApproversAction: { min: "admin", valid: async () => ({ teamId: teamA, linkId: await freshLink(), userIds: [users.member] }) },
  issueKeyAction: { min: "member", nullable: ["expiresInDays"], optional: ["userId"], valid: async () => ({ teamId: teamA, linkId: linkA, name: "laptop", expiresInDays: 30, userId: users.member }) },
  revokeKeyAction: {
    min: "viewer",
    valid: async () => {
      const { issueKey } = await import("../src/features/keys/operations");
      const { resolveTeam } = await import("../src/lib/authz");
      return { teamId: teamA, keyId: (await issueKey(await resolveTeam({ userId: users.owner }, teamA), { linkId: linkA, name: "rk", expiresInDays: 1 })).id };
    },
  },
  revokeAuthorizedAppAction: { min: "viewer", userOnly: true, valid: async () => ({ grantId: randomUUID() }) },
  runPlaygroundAction: { min: "member", valid: async () => ({ teamId: teamA, linkId: linkA, sql: "SELECT 1" }) },
  updateDescriptionAction: { min: "admin", valid: async () => ({ teamId: teamA, connectionId: connectionA, schema: "public", table: "artist", column: "", description: "Musicians" }) },
  regenerateDescriptionsAction: { min: "admin", optional: ["tables", "resetHuman"], valid: async () => ({ teamId: teamA, connectionId: connectionA, tables: ["public.artist"], resetHuman: false }) },
  descriptionsStatusAction: { min: "admin", valid: async () => ({ teamId: teamA, connectionId: connectionA, jobId: "999999" }) },
  replayDeadLettersAction: { min: "admin", valid: async () => ({ teamId: teamA }) },
  createTeamAction: { min: "viewer", userOnly: true, valid: async () => ({ name: `Team ${randomBytes(3).toString("hex")}` }) },
  inviteMemberAction: { min: "admin", nullable: ["email"], optional: ["email"], valid: async () => ({ teamId: teamA, email: `i-${randomBytes(3).toString("hex")}@example.com`, role: "member" }) },
  revokeInvitationAction: {
    min: "admin",
    valid: async () => {
      const inv = await prisma.invitation.create({ data: { teamId: teamA, role: "viewer", tokenHash: randomBytes(16).toString("hex"), invitedById: users.owner, expiresAt: new Date(Date.now() + 86_400_000) } });
      return { teamId: teamA, invitationId: inv.id };
    },
  },
  acceptInvitationAction: { min: "viewer", userOnly: true, valid: async () => ({ token: randomBytes(16).toString("hex") }) },
  changeMemberRoleAction: { min: "admin", valid: async () => ({ teamId: teamA, userId: await freshMember("viewer"), role: "member" }) },
  removeMemberAction: { min: "admin", valid: async () => ({ teamId: teamA, userId: await freshMember("viewer") }) },
  updateTeamSettingsAction: { min: "admin", valid: async () => ({ teamId: teamA, name: "Team A", auditRetentionDays: 30 }) },
  deleteTeamAction: { min: "owner", valid: async () => ({ teamId: teamA, confirmSlug: "not-the-slug" }) },
  revokeOtherSessionsAction: { min: "viewer", userOnly: true, valid: async () => ({}) },
  revokeSessionAction: { min: "viewer", userOnly: true, valid: async () => ({ sessionId: randomUUID() }) },
  addIdentityProviderAction: { min: "admin", valid: async () => ({ teamId: teamA, ...PROVIDER_VALUES() }) },
  removeIdentityProviderAction: { min: "admin", valid: async () => ({ teamId: teamA, providerId: await freshProvider() }) },
  // Approvals (W1) and access grants (W2's actions, used by the Approvals page too): a comment is
  // required to reject or refuse, so it is not optional in these inputs.
  decideWriteRequestAction: { min: "member", valid: async () => ({ teamId: teamA, requestId: await freshWriteRequest(), decision: "reject", comment: "not now" }) },
  decideAccessGrantAction: { min: "member", valid: async () => ({ teamId: teamA, grantId: await freshAccessRequest(), decision: "refuse", comment: "not now" }) },
  // Only a grant in force can be revoked (a pending request is refused instead).
  revokeAccessGrantAction: { min: "member", valid: async () => ({ teamId: teamA, grantId: await freshAccessGrant() }) },
  // Link page, issue 17 (WL): a link's further databases, its saved tools and built-in switches, Try it.
  addLinkDatabaseAction: { min: "admin", valid: async () => ({ teamId: teamA, linkId: await freshLink(), name: `d${randomBytes(3).toString("hex")}`, connectionId: connectionA, scope: { access: "read" } }) },
  updateLinkDatabaseAction: { min: "admin", optional: ["newName", "scope"], valid: async () => ({ teamId: teamA, linkId: await freshLinkWithDatabase(), name: "extra", newName: `n${randomBytes(3).toString("hex")}`, scope: { access: "read" } }) },
  removeLinkDatabaseAction: { min: "admin", valid: async () => ({ teamId: teamA, linkId: await freshLinkWithDatabase(), name: "extra" }) },
  saveLinkToolAction: {
    min: "admin",
    optional: ["title", "parameters", "databaseName"],
    nullable: ["title", "databaseName"],
    valid: async () => ({ teamId: teamA, linkId: await freshLink(), name: "artists_upto", title: "Artists", description: "Artists up to an id", sql: "SELECT name FROM artist WHERE artist_id <= $1", parameters: [{ name: "max_id", type: "integer", description: "", required: true }], databaseName: null }),
  },
  deleteLinkToolAction: { min: "admin", valid: async () => freshTool() },
  setLinkBuiltInToolsAction: { min: "admin", valid: async () => ({ teamId: teamA, linkId: await freshLink(), disabledTools: ["execute_sql"] }) },
  tryLinkToolAction: { min: "member", valid: async () => ({ ...(await freshTool(linkA)), arguments: { max_id: "3" } }) },
  saveNotificationSettingsAction: { min: "admin", nullable: ["webhookUrl"], valid: async () => ({ teamId: teamA, webhookUrl: "https://hooks.example.com/portcullis", webhookFormat: "portcullis", emailApprovers: true }) },
  rotateWebhookSecretAction: { min: "admin", valid: async () => ({ teamId: teamA }) },
  // Audit sinks (issue 16): every change is an admin's; each destructive case gets a fresh sink of team A.
  addAuditSinkAction: { min: "admin", valid: async () => (await roomForSink(), { teamId: teamA, kind: "file", name: `f${randomBytes(4).toString("hex")}` }) },
  pauseAuditSinkAction: { min: "admin", valid: async () => ({ teamId: teamA, sinkId: await freshSink() }) },
  resumeAuditSinkAction: { min: "admin", valid: async () => ({ teamId: teamA, sinkId: await freshSink() }) },
  deleteAuditSinkAction: { min: "admin", valid: async () => ({ teamId: teamA, sinkId: await freshSink() }) },
  rotateAuditSinkSecretAction: { min: "admin", valid: async () => ({ teamId: teamA, sinkId: await freshSink("webhook") }) },
  testAuditSinkAction: { min: "admin", valid: async () => ({ teamId: teamA, sinkId: await freshSink() }) },
};

/** A team has at most MAX_SINKS_PER_TEAM sinks (FX3): older cases' sinks go, the newest few stay. */
async function roomForSink() {
  await prisma.$executeRaw`DELETE FROM audit_sinks WHERE team_id = ${teamA}::uuid AND id NOT IN (SELECT id FROM audit_sinks WHERE team_id = ${teamA}::uuid ORDER BY created_at DESC LIMIT 4)`;
}

/** A sink of team A (a file sink unless asked for a webhook), as an admin adds it. */
async function freshSink(kind: "file" | "webhook" = "file") {
  await roomForSink();
  const { createAuditSink } = await import("@portcullis/db/operations");
  const name = `s${randomBytes(4).toString("hex")}`;
  const base = { teamId: teamA, actorUserId: users.owner, name };
  return (await createAuditSink(prisma, kind === "file" ? { ...base, kind } : { ...base, kind, url: "https://siem.example.com/in" })).sink.id;
}

/** A fresh link of team A with a further database named "extra" (on connection A). */
async function freshLinkWithDatabase() {
  const linkId = await freshLink();
  await prisma.linkDatabase.create({ data: { linkId, teamId: teamA, name: "extra", connectionId: connectionA, scope: { access: "read" }, position: 1 } });
  return linkId;
}

/** A saved tool of team A (on a fresh link unless given), as the Tools tab stores it. */
async function freshTool(linkId?: string) {
  const link = linkId ?? (await freshLink());
  const tool = await prisma.linkTool.create({ data: { linkId: link, teamId: teamA, name: `t${randomBytes(3).toString("hex")}`, description: "d", sql: "SELECT name FROM artist WHERE artist_id <= $1", parameters: [{ name: "max_id", type: "integer", description: "", required: true }] } });
  return { teamId: teamA, linkId: link, toolId: tool.id };
}

/** A pending write request on link A by the member, as the gateway stores it. */
async function freshWriteRequest() {
  const { createWriteRequest } = await import("@portcullis/db/operations");
  return (await createWriteRequest(prisma, {
    teamId: teamA, linkId: linkA, kind: "approval", mode: "writes", tables: ["public.artist"], reason: "approval: writes", sql: "DELETE FROM artist WHERE artist_id = 1",
    catalogVersion: "v", scopeHash: "s", userId: users.member, principalSubject: `key:${randomUUID()}`, preview: null, expiresAt: new Date(Date.now() + 3_600_000),
  })).id;
}

/** A pending access request of the member on link A (through a pg pool, as the gateway asks). */
async function freshAccessRequest() {
  const { requestAccessGrant } = await import("@portcullis/db/operations");
  const pg = (await import("pg")).default;
  const pool = new pg.Pool({ connectionString: meta.url, max: 1 });
  try {
    return (await requestAccessGrant(pool, { teamId: teamA, linkId: linkA, userId: users.member, tableKey: `public.t${randomBytes(3).toString("hex")}`, access: "write", minutes: 5, reason: "boundary", via: "tool" })).id;
  } finally {
    await pool.end();
  }
}

/** The member's request on link A, granted by the owner: a grant in force. */
async function freshAccessGrant() {
  const { decideAccessGrant } = await import("@portcullis/db/operations");
  const id = await freshAccessRequest();
  await decideAccessGrant(prisma, { teamId: teamA, id, deciderId: users.owner, decision: "grant" });
  return id;
}

beforeAll(async () => {
  [meta, chinook] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
  useDashboardEnv(meta.url);
  process.env.QUEUE_PREFIX = `bnd${randomBytes(3).toString("hex")}`;
  process.env.WEB_PUBLIC_URL = "http://localhost:3999";
  // The test databases live on loopback, in the metadata database's own cluster.
  process.env.TARGET_NETWORKS = "any";
  process.env.TARGET_ALLOW_POWERFUL_ROLES = "true";
  process.env.TARGET_STACK_DATABASES = new URL(chinook.url).pathname.slice(1);
  // Reaching the gateway would answer "unavailable": an attack must be refused before that.
  delete process.env.GATEWAY_INTERNAL_TOKEN;

  for (const dir of readdirSync(FEATURES_DIR)) {
    const file = path.join(FEATURES_DIR, dir, "actions.ts");
    if (NOT_HERE.has(dir) || !existsSync(file)) continue;
    const mod = (await import(file)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(mod)) if (typeof value === "function") actions[name] = value as Action;
  }

  prisma = (await import("../src/lib/db")).getPrisma();
  const { createUser, addMember, createTeam } = await import("@portcullis/db/operations");
  const { encode } = await import("next-auth/jwt");
  const mk = async (label: string) => createUser(prisma, { email: `${label}-${randomBytes(4).toString("hex")}@example.com`, password: "a long enough password" });
  users = {} as Record<Who, string>;
  tokens = {} as Record<Who, string>;
  for (const who of ["owner", "admin", "member", "viewer", "auditor", "outsider"] as const) {
    const u = await mk(who);
    users[who] = u.id;
    const session = await prisma.session.create({ data: { userId: u.id, expiresAt: new Date(Date.now() + 86_400_000), userAgent: "vitest boundary" } });
    tokens[who] = await encode({ token: { uid: u.id, sid: session.id }, secret: process.env.NEXTAUTH_SECRET! });
  }
  teamA = (await createTeam(prisma, { name: "Victim", ownerId: users.owner })).id;
  for (const role of ["admin", "member", "viewer", "auditor"] as const) await addMember(prisma, { teamId: teamA, userId: users[role], role });
  teamB = (await createTeam(prisma, { name: "Attacker", ownerId: users.outsider })).id;

  const { resolveTeam } = await import("../src/lib/authz");
  const conn = await import("../src/features/connections/operations");
  const links = await import("../src/features/links/operations");
  const keys = await import("../src/features/keys/operations");
  const ownerA = await resolveTeam({ userId: users.owner }, teamA);
  const ownerB = await resolveTeam({ userId: users.outsider }, teamB);
  connectionA = (await conn.createConnection(ownerA, { values: { ...CONNECTION_VALUES(), mode: "url", sslMode: "disable" } })).id;
  linkA = (await links.createLinkForTeam(ownerA, { connectionId: connectionA, name: "read-only", scope: { access: "read" } })).id;
  hiddenLinkA = (await links.createLinkForTeam(ownerA, { connectionId: connectionA, name: "finance-secret", scope: { access: "read" } })).id;
  await links.setLinkAccess(ownerA, { linkId: linkA, userId: users.member, granted: true });
  keyOfMember = (await keys.issueKey(await resolveTeam({ userId: users.member }, teamA), { linkId: linkA, name: "laptop", expiresInDays: 30 })).id;
  connectionB = (await conn.createConnection(ownerB, { values: { ...CONNECTION_VALUES(), mode: "url", sslMode: "disable" } })).id;
  linkB = (await links.createLinkForTeam(ownerB, { connectionId: connectionB, name: "theirs", scope: { access: "read" } })).id;
  providerA = await freshProvider();
}, 120_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await Promise.all([meta?.drop(), chinook?.drop()]);
});

test("every exported server action has a case here (a new action fails this until it is covered)", () => {
  expect(Object.keys(actions).sort()).toEqual(Object.keys(CASES).sort());
});

test("the reported attack: operator objects for teamId and linkId run nothing, anywhere", async () => {
  const before = await snapshot();
  const result = await call("outsider", "runPlaygroundAction", { teamId: { not: randomUUID() }, linkId: { not: randomUUID() }, sql: "SELECT email FROM customer" });
  // "unavailable" would mean the gateway was about to be called with some team's link.
  expect(result).toMatchObject({ ok: false, code: "invalid_input" });
  expect(await snapshot()).toBe(before);
});

test("signed out, every action answers unauthenticated and changes nothing", async () => {
  const inputs: [string, Record<string, unknown>][] = [];
  for (const [name, c] of Object.entries(CASES)) inputs.push([name, await c.valid()]);
  jar.token = undefined;
  const before = await snapshot();
  for (const [name, input] of inputs) {
    const result = await actions[name]!(input);
    expect(result, name).toMatchObject({ ok: false, code: "unauthenticated" });
  }
  expect(await snapshot()).toBe(before);
});

/** Values that are never a uuid, a name, a flag or a document where the action expects one. */
function hostile(value: unknown): [string, unknown][] {
  const list: [string, unknown][] = [
    ["{not: uuid}", { not: randomUUID() }],
    ["{in: []}", { in: [] }],
    ["{equals: value}", { equals: value }],
    ["[value]", [value]],
    ...(Array.isArray(value) ? [] : ([["[]", []]] as [string, unknown][])),
    ["a number", 12_345],
    ["null", null],
    ["a string of 200 KB", "x".repeat(200_000)],
  ];
  if (typeof value !== "boolean") list.push(["true", true]);
  return list;
}

describe.each(Object.entries(CASES))("%s", (name, c) => {
  test("operator objects, arrays, numbers, null, oversize, missing fields and extra keys: refused, nothing written", async () => {
    const valid = await c.valid();
    const before = await snapshot();
    const tried: string[] = [];
    for (const [field, value] of Object.entries(valid)) {
      for (const [label, bad] of hostile(value)) {
        if (bad === null && c.nullable?.includes(field)) continue;
        // The scope document is free-form JSON checked by the policy parser; an object there is its business.
        if (field === "scope" && (name === "validateScopeAction" || name === "checkScopeAction")) continue;
        const result = await call("owner", name, { ...valid, [field]: bad });
        tried.push(`${field}=${label}`);
        expect(result.ok, `${name} ${field}=${label}`).toBe(false);
        if (!result.ok) expect(result.code, `${name} ${field}=${label}`).toBe("invalid_input");
      }
      if (!c.optional?.includes(field)) {
        const { [field]: _dropped, ...missing } = valid;
        const result = await call("owner", name, missing);
        expect(result, `${name} without ${field}`).toMatchObject({ ok: false, code: "invalid_input" });
      }
    }
    for (const extra of [{ extra: 1 }, { where: { teamId: { not: randomUUID() } } }, { userId: users.outsider, teamId: teamA, role: "owner", admin: true }]) {
      // The last one carries keys other actions know; strict objects refuse what this one does not declare.
      const result = await call("owner", name, { ...valid, ...extra });
      expect(result, `${name} + ${JSON.stringify(extra).slice(0, 60)}`).toMatchObject({ ok: false, code: "invalid_input" });
    }
    for (const whole of [null, undefined, 42, "teamId", [valid], { not: valid }]) {
      const result = await call("owner", name, whole);
      if (c.pure || (whole === undefined && Object.keys(valid).length === 0)) continue;
      expect(result, `${name}(${JSON.stringify(whole)?.slice(0, 40)})`).toMatchObject({ ok: false, code: "invalid_input" });
    }
    expect(await snapshot()).toBe(before);
    if (!c.pure && Object.keys(valid).length > 0) expect(tried.length).toBeGreaterThan(0);
  });

  test.skipIf(!!c.userOnly)("as another team's owner, with this team's ids: not found, nothing written", async () => {
    const valid = await c.valid();
    const before = await snapshot();
    const result = await call("outsider", name, valid);
    expect(result).toMatchObject({ ok: false, code: "not_found" });
    expect(await snapshot()).toBe(before);
    // Their own team id, with ours for every object id: they act in their team, on none of our objects.
    const ours = await snapshot([teamA]);
    await call("outsider", name, { ...valid, teamId: teamB });
    expect(await snapshot([teamA])).toBe(ours);
  });

  test.skipIf(!!c.userOnly || c.min === "viewer")("each role below the minimum is refused and writes nothing", async () => {
    const ranks: Role[] = ["viewer", "member", "admin", "owner"];
    for (const who of ranks.slice(0, ranks.indexOf(c.min)) as Who[]) {
      const valid = await c.valid();
      const before = await snapshot();
      const result = await call(who, name, valid);
      expect(result, `${name} as ${who}`).toMatchObject({ ok: false, code: c.below ?? "forbidden" });
      expect(await snapshot(), `${name} as ${who}`).toBe(before);
    }
  });
});

describe("the auditor (issue 16): reads and exports Activity, changes nothing", () => {
  // Activity has no server action (its reads are pages and the export route, tested in
  // auditor.int): every action here changes something, so every one refuses an auditor.
  test("every team action refuses an auditor, whatever its minimum, and writes nothing", async () => {
    const refused: string[] = [];
    for (const [name, c] of Object.entries(CASES)) {
      if (c.userOnly) continue;
      const valid = await c.valid();
      const before = await snapshot();
      const result = await call("auditor", name, valid);
      expect(result, `${name} as auditor`).toMatchObject({ ok: false, code: "forbidden" });
      expect(await snapshot(), `${name} as auditor`).toBe(before);
      refused.push(name);
    }
    expect(refused.length).toBe(Object.values(CASES).filter((c) => !c.userOnly).length);
  });

  test("an auditor cannot hand themselves power: role changes, invitations, link access for themselves", async () => {
    const before = await snapshot();
    for (const [name, input] of [
      ["changeMemberRoleAction", { teamId: teamA, userId: users.auditor, role: "owner" }],
      ["inviteMemberAction", { teamId: teamA, email: null, role: "admin" }],
      ["setLinkAccessAction", { teamId: teamA, linkId: linkA, userId: users.auditor, granted: true }],
      ["issueKeyAction", { teamId: teamA, linkId: linkA, name: "mine", expiresInDays: 1 }],
      ["runPlaygroundAction", { teamId: teamA, linkId: linkA, sql: "SELECT 1" }],
      ["removeMemberAction", { teamId: teamA, userId: users.member }],
    ] as const) {
      expect(await call("auditor", name, input), name).toMatchObject({ ok: false, code: "forbidden" });
    }
    expect(await snapshot()).toBe(before);
  });

  test("owners and admins may make someone an auditor; the action takes their keys", async () => {
    const id = await freshMember("member");
    await prisma.linkAccess.create({ data: { linkId: linkA, userId: id } });
    const { issueKey } = await import("../src/features/keys/operations");
    const { resolveTeam } = await import("../src/lib/authz");
    const key = await issueKey(await resolveTeam({ userId: id }, teamA), { linkId: linkA, name: "k", expiresInDays: 1 });
    expect(await call("admin", "changeMemberRoleAction", { teamId: teamA, userId: id, role: "auditor" })).toMatchObject({ ok: true });
    expect((await prisma.membership.findFirstOrThrow({ where: { teamId: teamA, userId: id } })).role).toBe("auditor");
    expect((await prisma.apiKey.findUniqueOrThrow({ where: { id: key.id } })).revokedAt).not.toBeNull();
    const invited = await call("admin", "inviteMemberAction", { teamId: teamA, email: null, role: "auditor" });
    expect(invited).toMatchObject({ ok: true });
    expect(await prisma.invitation.count({ where: { teamId: teamA, role: "auditor" } })).toBeGreaterThan(0);
  });
});

describe("other tenants' object ids behind one's own team id", () => {
  test("team B's owner names team A's objects under team B: every answer is not found, team A unchanged", async () => {
    const attempts: [string, Record<string, unknown>][] = [
      ["updateLinkAction", { teamId: teamB, linkId: linkA, scope: { access: "admin" } }],
      ["deleteLinkAction", { teamId: teamB, linkId: linkA }],
      ["setLinkAccessAction", { teamId: teamB, linkId: linkA, userId: users.outsider, granted: true }],
      ["connectionTablesAction", { teamId: teamB, connectionId: connectionA }],
      ["updateConnectionAction", { teamId: teamB, connectionId: connectionA, values: CONNECTION_VALUES() }],
      ["deleteConnectionAction", { teamId: teamB, connectionId: connectionA }],
      ["confirmHostKeyAction", { teamId: teamB, connectionId: connectionA, position: 0, fingerprint: `SHA256:${"A".repeat(43)}` }],
      ["testConnectionAction", { teamId: teamB, connectionId: connectionA, values: { ...CONNECTION_VALUES(), password: "" } }],
      ["revokeKeyAction", { teamId: teamB, keyId: keyOfMember }],
      ["issueKeyAction", { teamId: teamB, linkId: linkA, name: "stolen", expiresInDays: 1 }],
      ["runPlaygroundAction", { teamId: teamB, linkId: linkA, sql: "SELECT 1" }],
      ["createLinkAction", { teamId: teamB, connectionId: connectionA, name: "stolen", scope: { access: "admin" } }],
      ["updateDescriptionAction", { teamId: teamB, connectionId: connectionA, schema: "public", table: "artist", column: "", description: "pwned" }],
      ["regenerateDescriptionsAction", { teamId: teamB, connectionId: connectionA }],
      ["changeMemberRoleAction", { teamId: teamB, userId: users.owner, role: "viewer" }],
      ["removeMemberAction", { teamId: teamB, userId: users.owner }],
      ["removeIdentityProviderAction", { teamId: teamB, providerId: providerA }],
      ["checkScopeAction", { teamId: teamB, connectionId: connectionA, scope: { access: "read" } }],
      ["addLinkDatabaseAction", { teamId: teamB, linkId: linkA, name: "stolen", connectionId: connectionA, scope: { access: "admin" } }],
      ["addLinkDatabaseAction", { teamId: teamB, linkId: linkB, name: "stolen", connectionId: connectionA, scope: { access: "read" } }],
      ["setLinkBuiltInToolsAction", { teamId: teamB, linkId: linkA, disabledTools: [] }],
      ["saveLinkToolAction", { teamId: teamB, linkId: linkA, name: "stolen", description: "d", sql: "SELECT 1" }],
      ["previewRowFilterAction", { teamId: teamB, linkId: linkA, scope: { access: "read" }, table: "public.artist", userId: users.member }],
      ["sampleMaskAction", { teamId: teamB, linkId: linkA, scope: { access: "read" }, table: "public.customer", column: "email", userId: users.member }],
      ["setMemberAttributeAction", { teamId: teamB, linkId: linkA, userId: users.member, name: "rep_id", value: "1" }],
      ["setMemberAttributeAction", { teamId: teamB, linkId: linkB, userId: users.member, name: "rep_id", value: "1" }],
      ["unsetMemberAttributeAction", { teamId: teamB, linkId: linkA, userId: users.member, name: "rep_id" }],
      ["replayScopeAction", { teamId: teamB, linkId: linkA, scope: { access: "none" }, days: 30 }],
      ["setLinkApproversAction", { teamId: teamB, linkId: linkA, userIds: [users.outsider] }],
    ];
    const before = await snapshot([teamA]);
    for (const [name, input] of attempts) {
      const result = await call("outsider", name, input);
      expect(result, name).toMatchObject({ ok: false, code: "not_found" });
    }
    expect(await snapshot([teamA])).toBe(before);
    // And the reverse direction: team A's owner cannot reach team B's link through team A.
    expect(await call("owner", "runPlaygroundAction", { teamId: teamA, linkId: linkB, sql: "SELECT 1" })).toMatchObject({ ok: false, code: "not_found" });
  });

  test("a member names a link they were not granted: not found, like a link that does not exist", async () => {
    for (const [name, input] of [
      ["runPlaygroundAction", { teamId: teamA, linkId: hiddenLinkA, sql: "SELECT 1" }],
      ["issueKeyAction", { teamId: teamA, linkId: hiddenLinkA, name: "x", expiresInDays: 1 }],
    ] as const) {
      const result = await call("member", name, input);
      expect(result, name).toMatchObject({ ok: false, code: "not_found" });
      if (!result.ok) expect(result.error).not.toContain("finance-secret");
    }
  });
});

describe("trusted identity providers", () => {
  const providersOf = (teamId: string) => prisma.trustedIdentityProvider.findMany({ where: { teamId }, orderBy: { createdAt: "asc" } });

  test("an admin's provider lands in their team alone; another team trusting the same issuer keeps its own row", async () => {
    const values = PROVIDER_VALUES();
    const added = await call("admin", "addIdentityProviderAction", { teamId: teamA, ...values });
    expect(added).toMatchObject({ ok: true });
    const ours = (await providersOf(teamA)).filter((p) => p.issuer === values.issuer);
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatchObject({ createdById: users.admin, jwksUri: values.jwksUri, allowedClientIds: values.allowedClientIds });
    expect(added.ok && (added.data as { id: string }).id).toBe(ours[0]!.id);

    // Team B may trust the same issuer for its own links; that row is B's, and removing it leaves A's.
    const before = await snapshot([teamA]);
    const theirs = await call("outsider", "addIdentityProviderAction", { teamId: teamB, ...values });
    expect(theirs).toMatchObject({ ok: true });
    const theirId = theirs.ok ? (theirs.data as { id: string }).id : "";
    expect((await prisma.trustedIdentityProvider.findUnique({ where: { id: theirId } }))?.teamId).toBe(teamB);
    expect(await call("outsider", "removeIdentityProviderAction", { teamId: teamB, providerId: theirId })).toMatchObject({ ok: true, data: { id: theirId } });
    expect(await snapshot([teamA])).toBe(before);

    expect(await call("owner", "addIdentityProviderAction", { teamId: teamA, ...values })).toMatchObject({ ok: false, code: "conflict" });
    expect(await call("admin", "removeIdentityProviderAction", { teamId: teamA, providerId: ours[0]!.id })).toMatchObject({ ok: true, data: { id: ours[0]!.id } });
    expect(await prisma.trustedIdentityProvider.findUnique({ where: { id: ours[0]!.id } })).toBeNull();
    // Removed once: the second call finds nothing, as for an id that never existed.
    expect(await call("admin", "removeIdentityProviderAction", { teamId: teamA, providerId: ours[0]!.id })).toMatchObject({ ok: false, code: "not_found" });
  });

  test("what an admin pastes is checked before it is trusted: refused as invalid input, nothing written", async () => {
    const rsa = { kty: "RSA", kid: "k1", n: "sXch", e: "AQAB" };
    const { jwksUri: _uri, ...inline } = PROVIDER_VALUES();
    const attempts: [string, Record<string, unknown>][] = [
      ["a private RSA key", { ...inline, jwks: JSON.stringify({ keys: [{ ...rsa, d: "secret" }] }) }],
      ["a symmetric key (HS256 with a known secret)", { ...inline, jwks: JSON.stringify({ keys: [{ kty: "oct", k: "c2VjcmV0" }] }) }],
      ["a JWKS object instead of its text", { ...inline, jwks: { keys: [rsa] } }],
      ["text that is not JSON", { ...inline, jwks: "{keys:" }],
      ["no keys", { ...inline, jwks: JSON.stringify({ keys: [] }) }],
      ["both a URI and inline keys", { ...inline, jwksUri: "https://idp.example.com/keys", jwks: JSON.stringify({ keys: [rsa] }) }],
      ["neither", inline],
      ["an http URI", { ...inline, jwksUri: "http://idp.example.com/keys" }],
      ["a URI with credentials", { ...inline, jwksUri: "https://user:pw@idp.example.com/keys" }],
      ["a file URI", { ...inline, jwksUri: "file:///etc/passwd" }],
      ["a padded issuer", { ...inline, jwks: JSON.stringify({ keys: [rsa] }), issuer: ` ${inline.issuer}` }],
      ["an empty name", { ...inline, jwks: JSON.stringify({ keys: [rsa] }), name: "" }],
      ["no allowed client", { ...inline, jwks: JSON.stringify({ keys: [rsa] }), allowedClientIds: [] }],
      ["21 allowed clients", { ...inline, jwks: JSON.stringify({ keys: [rsa] }), allowedClientIds: Array.from({ length: 21 }, (_, i) => `c${i}`) }],
    ];
    const before = await snapshot();
    for (const [label, values] of attempts) {
      expect(await call("owner", "addIdentityProviderAction", { teamId: teamA, ...values }), label).toMatchObject({ ok: false, code: "invalid_input" });
    }
    expect(await snapshot()).toBe(before);
    // The same inline key set, public only, is accepted: the refusals above are about what was pasted.
    expect(await call("owner", "addIdentityProviderAction", { teamId: teamA, ...inline, jwks: JSON.stringify({ keys: [rsa] }) })).toMatchObject({ ok: true });
  });
});

describe("the well-formed calls work (the refusals above are not the whole story)", () => {
  test("each action accepts its valid input from a role that may use it", async () => {
    const expected: Record<string, string> = {
      // These reach something the test world deliberately lacks, after every check passed.
      testConnectionAction: "ok", // answers ok with { ok: false, error } for an unreachable server
      runPlaygroundAction: "unavailable", // no gateway in this test: the call got past every check
      tryLinkToolAction: "unavailable", // the same: the values were bound, the gateway was next
      descriptionsStatusAction: "not_found", // no such job
      deleteTeamAction: "invalid_input", // the confirmation slug is wrong on purpose
      revokeAuthorizedAppAction: "not_found",
      acceptInvitationAction: "not_found",
      revokeSessionAction: "not_found",
      confirmHostKeyAction: "not_found", // connectionA has no SSH hop to confirm
    };
    for (const [name, c] of Object.entries(CASES)) {
      const result = await call("owner", name, await c.valid());
      expect(result.ok ? "ok" : result.code, `${name}: ${result.ok ? "" : result.error}`).toBe(expected[name] ?? "ok");
    }
  });

  test("field errors name the field, nested fields by their path", async () => {
    const result = await call("owner", "createConnectionAction", { teamId: teamA, values: { ...CONNECTION_VALUES(), name: "" } });
    expect(result).toMatchObject({ ok: false, code: "invalid_input" });
    if (!result.ok) expect(Object.keys((result as { fieldErrors?: Record<string, string> }).fieldErrors ?? {})).toContain("values.name");
  });
});

describe("member attributes and the row-filter preview (issue 14)", () => {
  const attributesOf = (linkId: string) => prisma.linkMemberAttribute.findMany({ where: { linkId }, orderBy: [{ userId: "asc" }, { name: "asc" }] });

  test("an admin sets, edits and removes a granted member's attribute: rows and audit entries follow, nothing else moves", async () => {
    const before = await snapshot([teamB]);
    const audits = await prisma.auditOutbox.count({ where: { teamId: teamA } });
    expect(await call("admin", "setMemberAttributeAction", { teamId: teamA, linkId: linkA, userId: users.member, name: "region", value: "EMEA" })).toMatchObject({ ok: true, data: { region: "EMEA" } });
    expect(await call("admin", "setMemberAttributeAction", { teamId: teamA, linkId: linkA, userId: users.member, name: "region", value: "APAC" })).toMatchObject({ ok: true, data: { region: "APAC" } });
    expect((await attributesOf(linkA)).filter((a) => a.name === "region").map((a) => [a.userId, a.value, a.updatedBy])).toEqual([[users.member, "APAC", users.admin]]);
    expect(await call("admin", "unsetMemberAttributeAction", { teamId: teamA, linkId: linkA, userId: users.member, name: "region" })).toMatchObject({ ok: true });
    expect((await attributesOf(linkA)).some((a) => a.name === "region")).toBe(false);
    expect(await prisma.auditOutbox.count({ where: { teamId: teamA } })).toBe(audits + 3);
    expect(await snapshot([teamB])).toBe(before);
  });

  test("attributes only for someone who may use the link: another team's user, a viewer, an ungranted member are refused, nothing written", async () => {
    const ungranted = await freshMember("member");
    const before = await snapshot();
    const attempts: [Who, Record<string, unknown>, string][] = [
      ["owner", { teamId: teamA, linkId: linkA, userId: users.outsider, name: "rep_id", value: "1" }, "not_found"],
      ["owner", { teamId: teamA, linkId: linkA, userId: users.viewer, name: "rep_id", value: "1" }, "forbidden"],
      ["owner", { teamId: teamA, linkId: linkA, userId: ungranted, name: "rep_id", value: "1" }, "forbidden"],
      ["owner", { teamId: teamA, linkId: linkB, userId: users.member, name: "rep_id", value: "1" }, "not_found"],
      ["member", { teamId: teamA, linkId: linkA, userId: users.member, name: "rep_id", value: "999" }, "forbidden"],
      // Names the row filter could not bind, a value over 1 KB, an operator object for the value.
      ["owner", { teamId: teamA, linkId: linkA, userId: users.member, name: "Rep-Id", value: "1" }, "invalid_input"],
      ["owner", { teamId: teamA, linkId: linkA, userId: users.member, name: "__proto__", value: "1" }, "invalid_input"],
      ["owner", { teamId: teamA, linkId: linkA, userId: users.member, name: "rep_id", value: "é".repeat(600) }, "invalid_input"],
      ["owner", { teamId: teamA, linkId: linkA, userId: users.member, name: "rep_id", value: { not: "1" } }, "invalid_input"],
      ["owner", { teamId: teamA, linkId: linkA, userId: users.member, name: ["rep_id"], value: "1" }, "invalid_input"],
    ];
    for (const [who, input, code] of attempts) expect(await call(who, "setMemberAttributeAction", input), JSON.stringify(input).slice(0, 120)).toMatchObject({ ok: false, code });
    expect(await snapshot()).toBe(before);
  });

  test("the preview counts through the draft scope and refuses what the draft hides or who cannot use the link", async () => {
    const preview = await call("owner", "previewRowFilterAction", { teamId: teamA, linkId: linkA, scope: { access: "read" }, table: "public.customer", userId: users.member });
    expect(preview).toMatchObject({ ok: true, data: { visible: 59, total: 59 } });
    const hidden = { access: "read", tables: { employee: { access: "none" }, customer: { hiddenColumns: ["email"] } } };
    const before = await snapshot();
    for (const [input, code] of [
      [{ table: "public.employee", userId: users.member }, "not_found"],
      [{ table: "public.no_such_table", userId: users.member }, "not_found"],
      [{ table: "public.customer", userId: users.outsider }, "not_found"],
      [{ table: "public.customer", userId: users.viewer }, "not_found"],
    ] as const) {
      const result = await call("owner", "previewRowFilterAction", { teamId: teamA, linkId: linkA, scope: hidden, ...input });
      expect(result, JSON.stringify(input)).toMatchObject({ ok: false, code });
    }
    // A hidden column cannot be sampled, masked or not; and the sample of a visible one is its values.
    expect(await call("owner", "sampleMaskAction", { teamId: teamA, linkId: linkA, scope: hidden, table: "public.customer", column: "email", userId: users.member })).toMatchObject({ ok: false, code: "not_found" });
    expect(await snapshot()).toBe(before);
    const sample = await call("owner", "sampleMaskAction", { teamId: teamA, linkId: linkA, scope: hidden, table: "public.artist", column: "name", userId: users.member });
    expect(sample.ok && (sample.data as { values: string[] }).values).toHaveLength(5);
  });
});

describe("the preview and samples run the draft's rewrite (row filter bound with the member's attributes, masks applied)", () => {
  const governed = {
    access: "read",
    tables: { customer: { rowFilter: "support_rep_id = {{member.attr.rep_id}}", maskedColumns: { email: "email", company: "hash", phone: "last4" } } },
  };
  async function direct<T>(sql: string, values: unknown[] = []): Promise<T[]> {
    const pg = (await import("pg")).default;
    const client = new pg.Client({ connectionString: chinook.url });
    await client.connect();
    try {
      return (await client.query(sql, values)).rows as T[];
    } finally {
      await client.end();
    }
  }

  test("N of M: N counts only the member's rows, M the whole table; without the attribute N is 0", async () => {
    const total = (await direct<{ n: string }>("SELECT count(*) AS n FROM customer"))[0]!.n;
    const mine = (await direct<{ n: string }>("SELECT count(*) AS n FROM customer WHERE support_rep_id = 4"))[0]!.n;
    expect(Number(mine)).toBeGreaterThan(0);
    expect(Number(mine)).toBeLessThan(Number(total));
    const input = { teamId: teamA, linkId: linkA, scope: governed, table: "public.customer", userId: users.member };
    await call("owner", "unsetMemberAttributeAction", { teamId: teamA, linkId: linkA, userId: users.member, name: "rep_id" });
    expect(await call("owner", "previewRowFilterAction", input)).toMatchObject({ ok: true, data: { visible: 0, total: Number(total) } });
    expect(await call("owner", "setMemberAttributeAction", { teamId: teamA, linkId: linkA, userId: users.member, name: "rep_id", value: "4" })).toMatchObject({ ok: true });
    const preview = await call("owner", "previewRowFilterAction", input);
    expect(preview).toMatchObject({ ok: true, data: { visible: Number(mine), total: Number(total) } });
    // The attribute's value is bound, never spliced: the rewritten text carries a parameter, not "4".
    const rewrittenSql = preview.ok ? (preview.data as { rewrittenSql: string }).rewrittenSql : "";
    expect(rewrittenSql).toMatch(/\$1/);
    expect(rewrittenSql).not.toMatch(/=\s*'?4'?\b/);
  });

  test("samples are masked values from the member's rows only, never a clear one", async () => {
    await call("owner", "setMemberAttributeAction", { teamId: teamA, linkId: linkA, userId: users.member, name: "rep_id", value: "4" });
    const clear = await direct<{ email: string; company: string | null; phone: string | null }>("SELECT email, company, phone FROM customer");
    const mineEmails = new Set((await direct<{ email: string }>("SELECT email FROM customer WHERE support_rep_id = 4")).map((r) => r.email.split("@")[1]));
    const sample = async (column: string) => {
      const r = await call("owner", "sampleMaskAction", { teamId: teamA, linkId: linkA, scope: governed, table: "public.customer", column, userId: users.member });
      expect(r, column).toMatchObject({ ok: true });
      return r.ok ? (r.data as { values: (string | null)[] }).values : [];
    };
    const emails = await sample("email");
    expect(emails).toHaveLength(5);
    for (const v of emails) {
      expect(v).toMatch(/^\*\*\*@/);
      expect(mineEmails.has(v!.slice(4))).toBe(true);
    }
    const leaks = new Set(clear.flatMap((r) => [r.email, r.company, r.phone]).filter((v): v is string => !!v));
    for (const column of ["email", "company", "phone"]) for (const v of await sample(column)) expect(leaks.has(v ?? ""), `${column} ${v}`).toBe(false);
    for (const v of await sample("company")) if (v !== null) expect(v).toMatch(/^h:[0-9a-f]{16}$/);
  });

  test("a filter that does not hold for this database is refused on save and by the check, with the error at the field", async () => {
    const broken = { access: "read", tables: { customer: { rowFilter: "no_such_column = {{member.attr.rep_id}}" } } };
    const check = await call("owner", "checkScopeAction", { teamId: teamA, connectionId: connectionA, scope: broken });
    expect(check.ok && (check.data as { ok: boolean }).ok).toBe(false);
    const errors = check.ok ? (check.data as { errors: { path: string }[] }).errors : [];
    expect(errors.some((e) => e.path.includes("customer") && e.path.includes("rowFilter"))).toBe(true);
    const before = await snapshot([teamA]);
    const saved = await call("owner", "updateLinkAction", { teamId: teamA, linkId: linkA, scope: broken });
    expect(saved).toMatchObject({ ok: false, code: "invalid_input" });
    expect(Object.keys((saved as { fieldErrors?: Record<string, string> }).fieldErrors ?? {}).some((k) => k.startsWith("scope.tables") && k.includes("rowFilter"))).toBe(true);
    expect(await snapshot([teamA])).toBe(before);
  });
});
