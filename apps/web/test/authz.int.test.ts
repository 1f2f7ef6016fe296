import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Role } from "@portcullis/db/client";
import { createChinookDatabase, createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * Every dashboard mutation, tried as each role of the team and as a member of another team. The
 * operations are exactly what the server actions call after resolving the session (the action is a
 * one-line wrapper), so this is the server-side check the browser cannot bypass.
 *   - below the required role  -> "forbidden" (the member knows the team; the error says what is needed)
 *   - another team's member    -> "not_found" (nothing about the other team is revealed)
 */
let meta: TestDatabase;
let chinook: TestDatabase;

type Actor = { userId: string };
type Who = "owner" | "admin" | "member" | "viewer" | "auditor" | "outsider";
const ROLES: Who[] = ["owner", "admin", "member", "viewer", "auditor", "outsider"];
const RANK: Record<Exclude<Role, "auditor">, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

let actors: Record<Who, Actor>;
let teamId: string;
let otherTeamId: string;
let connectionId: string;
let linkId: string;
let memberKeyId: string;

// Imported after the environment is set (the modules read it lazily, but keep it explicit).
let ops: {
  teams: typeof import("../src/features/teams/operations");
  connections: typeof import("../src/features/connections/operations");
  links: typeof import("../src/features/links/operations");
  keys: typeof import("../src/features/keys/operations");
  schema: typeof import("../src/features/schema/operations");
  activity: typeof import("../src/features/activity/operations");
  playground: typeof import("../src/features/playground/operations");
  auditChain: typeof import("../src/features/activity/audit-chain");
  settings: typeof import("../src/features/settings/operations");
};
let prisma: import("@portcullis/db/client").PrismaClient;
let resolveTeam: typeof import("../src/lib/authz").resolveTeam;
/** What the action wrapper hands an operation: the team and the caller's role, resolved once. */
const as = (actor: Actor, team: string) => resolveTeam(actor, team, "viewer");

async function outcome(run: () => Promise<unknown>): Promise<"ok" | string> {
  try {
    await run();
    return "ok";
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code) return code;
    if ((error as Error).name === "ZodError") return "invalid_input";
    throw error;
  }
}

async function user(label: string) {
  const { createUser } = await import("@portcullis/db/operations");
  return createUser(prisma, { email: `${label}-${randomBytes(4).toString("hex")}@example.com`, password: "a long enough password" });
}

beforeAll(async () => {
  [meta, chinook] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
  useDashboardEnv(meta.url);
  process.env.QUEUE_PREFIX = `authz${randomBytes(3).toString("hex")}`;
  delete process.env.GATEWAY_INTERNAL_TOKEN;
  // The test databases live on loopback, in the same cluster as the metadata database.
  process.env.TARGET_NETWORKS = "any";
  process.env.TARGET_ALLOW_POWERFUL_ROLES = "true";
  process.env.TARGET_STACK_DATABASES = new URL(chinook.url).pathname.slice(1);
  ops = {
    teams: await import("../src/features/teams/operations"),
    connections: await import("../src/features/connections/operations"),
    links: await import("../src/features/links/operations"),
    keys: await import("../src/features/keys/operations"),
    schema: await import("../src/features/schema/operations"),
    activity: await import("../src/features/activity/operations"),
    playground: await import("../src/features/playground/operations"),
    auditChain: await import("../src/features/activity/audit-chain"),
    settings: await import("../src/features/settings/operations"),
  };
  prisma = (await import("../src/lib/db")).getPrisma();
  resolveTeam = (await import("../src/lib/authz")).resolveTeam;
  const { addMember } = await import("@portcullis/db/operations");
  const owner = await user("owner");
  const team = await ops.teams.createTeamForUser({ userId: owner.id }, { name: "Team A" });
  teamId = team.id;
  actors = { owner: { userId: owner.id } } as Record<Who, Actor>;
  for (const role of ["admin", "member", "viewer", "auditor"] as const) {
    const u = await user(role);
    await addMember(prisma, { teamId, userId: u.id, role });
    actors[role] = { userId: u.id };
  }
  const outsider = await user("outsider");
  otherTeamId = (await ops.teams.createTeamForUser({ userId: outsider.id }, { name: "Team B" })).id;
  actors.outsider = { userId: outsider.id };

  connectionId = (await ops.connections.createConnection(await as(actors.owner, teamId), { values: connectionValues("Chinook") })).id;
  linkId = (await ops.links.createLinkForTeam(await as(actors.owner, teamId), { connectionId, name: "read-only", scope: { access: "read" } })).id;
  await ops.links.setLinkAccess(await as(actors.owner, teamId), { linkId, userId: actors.member.userId, granted: true });
  memberKeyId = (await ops.keys.issueKey(await as(actors.member, teamId), { linkId, name: "laptop", expiresInDays: 30 })).id;
}, 120_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await Promise.all([meta?.drop(), chinook?.drop()]);
});

function connectionValues(name: string) {
  return { name, mode: "url" as const, url: `${chinook.url}${chinook.url.includes("?") ? "&" : "?"}sslmode=disable`, sslMode: "disable" as const };
}

let counter = 0;
const unique = (p: string) => `${p}-${++counter}`;

interface Case {
  name: string;
  min: Exclude<Role, "auditor">;
  /** What an auditor gets: outside a rank, "ok" only where a named permission lists it. */
  auditor?: "ok";
  /** What a role below `min` gets (default forbidden). */
  below?: string;
  run: (actor: Actor, team: string) => Promise<unknown>;
}

const CASES: Case[] = [
  { name: "test a connection", min: "admin", run: async (a, t) => ops.connections.testConnection(await as(a, t), { values: connectionValues("x") }) },
  { name: "add a connection", min: "admin", run: async (a, t) => ops.connections.createConnection(await as(a, t), { values: connectionValues(unique("c")) }) },
  { name: "edit a connection", min: "admin", run: async (a, t) => ops.connections.updateConnection(await as(a, t), { connectionId, values: { ...connectionValues("Chinook") } }) },
  {
    name: "delete a connection",
    min: "admin",
    run: async (a, t) => {
      const c = await ops.connections.createConnection(await as(actors.owner, teamId), { values: connectionValues(unique("del")) });
      return ops.connections.deleteConnection(await as(a, t), { connectionId: c.id });
    },
  },
  { name: "read a connection's tables", min: "admin", run: async (a, t) => ops.links.connectionTables(await as(a, t), { connectionId }) },
  { name: "create a link", min: "admin", run: async (a, t) => ops.links.createLinkForTeam(await as(a, t), { connectionId, name: unique("l"), scope: { access: "read" } }) },
  { name: "change a link's scope", min: "admin", run: async (a, t) => ops.links.updateLink(await as(a, t), { linkId, scope: { access: "read", tables: { customer: { hiddenColumns: ["email"] } } } }) },
  {
    name: "delete a link",
    min: "admin",
    run: async (a, t) => {
      const l = await ops.links.createLinkForTeam(await as(actors.owner, teamId), { connectionId, name: unique("dl"), scope: { access: "read" } });
      return ops.links.deleteLink(await as(a, t), { linkId: l.id });
    },
  },
  { name: "grant a member a link", min: "admin", run: async (a, t) => ops.links.setLinkAccess(await as(a, t), { linkId, userId: actors.member.userId, granted: true }) },
  { name: "issue a key for yourself", min: "member", run: async (a, t) => ops.keys.issueKey(await as(a, t), { linkId, name: unique("k"), expiresInDays: 7 }) },
  {
    name: "issue a key for someone else",
    min: "admin",
    // For a member granted the link: someone else for every actor.
    run: async (a, t) => {
      const u = await user("holder-of-issued");
      const { addMember } = await import("@portcullis/db/operations");
      await addMember(prisma, { teamId, userId: u.id, role: "member" });
      await ops.links.setLinkAccess(await as(actors.owner, teamId), { linkId, userId: u.id, granted: true });
      return ops.keys.issueKey(await as(a, t), { linkId, name: unique("k"), expiresInDays: 7, userId: u.id });
    },
  },
  {
    name: "revoke another member's key",
    min: "admin",
    below: "not_found",
    run: async (a, t) => {
      // The owner's key: someone else's for everyone but the owner.
      const k = await ops.keys.issueKey(await as(actors.owner, teamId), { linkId, name: unique("rk"), expiresInDays: 7 });
      return ops.keys.revokeKey(await as(a, t), { keyId: k.id });
    },
  },
  { name: "invite a member", min: "admin", run: async (a, t) => ops.teams.inviteMember(await as(a, t), { email: `${unique("inv")}@example.com`, role: "member" }) },
  {
    name: "revoke an invitation",
    min: "admin",
    run: async (a, t) => {
      const inv = await ops.teams.inviteMember(await as(actors.owner, teamId), { email: null, role: "viewer" });
      return ops.teams.revokeInvitation(await as(a, t), { invitationId: inv.id });
    },
  },
  {
    name: "change a member's role",
    min: "admin",
    run: async (a, t) => {
      const u = await user("promote");
      const { addMember } = await import("@portcullis/db/operations");
      await addMember(prisma, { teamId, userId: u.id, role: "viewer" });
      return ops.teams.changeMemberRole(await as(a, t), { userId: u.id, role: "member" });
    },
  },
  {
    name: "remove a member",
    min: "admin",
    run: async (a, t) => {
      const u = await user("remove");
      const { addMember } = await import("@portcullis/db/operations");
      await addMember(prisma, { teamId, userId: u.id, role: "viewer" });
      return ops.teams.removeMember(await as(a, t), { userId: u.id });
    },
  },
  { name: "change team settings", min: "admin", run: async (a, t) => ops.teams.updateTeamSettings(await as(a, t), { name: "Team A", auditRetentionDays: 30 }) },
  {
    name: "edit a schema description",
    min: "admin",
    run: async (a, t) => ops.schema.updateDescription(await as(a, t), { connectionId, schema: "public", table: "artist", column: "", description: "Musicians" }),
  },
  { name: "regenerate descriptions", min: "admin", run: async (a, t) => ops.schema.regenerateDescriptions(await as(a, t), { connectionId }) },
  {
    name: "run the playground",
    min: "member",
    // Authorised callers get as far as the gateway call, which is switched off here: "unavailable".
    run: async (a, t) => {
      try {
        await ops.playground.runPlayground(await as(a, t), { linkId, sql: "SELECT 1" });
      } catch (error) {
        if ((error as { code?: string }).code === "unavailable") return;
        throw error;
      }
    },
  },
  {
    name: "follow description progress",
    min: "admin",
    run: async (a, t) => {
      const { jobId } = await ops.schema.regenerateDescriptions(await as(actors.owner, teamId), { connectionId });
      return ops.schema.descriptionsStatus(await as(a, t), { connectionId, jobId });
    },
  },
  { name: "see whether the audit trail is verified", min: "viewer", auditor: "ok", run: async (a, t) => ops.auditChain.auditChainStatus(a, t) },
  { name: "list dead letters", min: "admin", run: async (a, t) => ops.settings.teamDeadLetters(await as(a, t)) },
  { name: "replay dead letters", min: "admin", run: async (a, t) => ops.settings.replayTeamDeadLetters(await as(a, t)) },
  { name: "read activity", min: "viewer", auditor: "ok", run: async (a, t) => ops.activity.listEvents(a, t, { range: "7d" }) },
  { name: "export activity", min: "viewer", auditor: "ok", run: async (a, t) => { for await (const _ of ops.activity.iterateEvents(a, t, { range: "7d" })) break; } },
];

describe.each(CASES)("$name (needs $min)", (c) => {
  test.each(ROLES)("as %s", async (who) => {
    const got = await outcome(async () => c.run(actors[who], teamId));
    if (who === "outsider") expect(got).toBe("not_found");
    else if (who === "auditor") expect(got).toBe(c.auditor ?? "forbidden");
    else if (RANK[who] >= RANK[c.min]) expect(got).toBe("ok");
    else expect(got).toBe(c.below ?? "forbidden");
  });

  test("a member of another team aiming at their own team id cannot reach this team's objects", async () => {
    // The outsider is owner of team B: authorised there, but the ids belong to team A.
    const got = await outcome(async () => c.run(actors.outsider, otherTeamId));
    expect(["not_found", "ok", "invalid_input"]).toContain(got);
    if (got === "ok") {
      // Only operations that do not touch a team-A object may succeed (they act on team B).
      expect(["test a connection", "add a connection", "invite a member", "change team settings", "read activity", "export activity", "see whether the audit trail is verified", "list dead letters", "replay dead letters", "revoke an invitation", "change a member's role", "remove a member", "issue a key for yourself"].includes(c.name) ? "ok" : c.name).toBe("ok");
    }
  });
});

describe("visibility", () => {
  test("members see only their own keys; admins see all", async () => {
    const mine = await ops.keys.listKeys(await as(actors.member, teamId));
    expect(mine.every((k) => k.userId === actors.member.userId)).toBe(true);
    const viewerKeys = await ops.keys.listKeys(await as(actors.viewer, teamId));
    expect(viewerKeys).toHaveLength(0);
    const all = await ops.keys.listKeys(await as(actors.admin, teamId));
    expect(all.some((k) => k.id === memberKeyId)).toBe(true);
  });

  test("a member sees only links they were granted", async () => {
    const hidden = await ops.links.createLinkForTeam(await as(actors.owner, teamId), { connectionId, name: unique("secret"), scope: { access: "read" } });
    const seen = await ops.links.listLinks(await as(actors.member, teamId));
    expect(seen.map((l) => l.id)).not.toContain(hidden.id);
    expect(await outcome(async () => ops.links.getLink(await as(actors.member, teamId), hidden.id))).toBe("not_found");
    expect(await outcome(async () => ops.keys.issueKey(await as(actors.member, teamId), { linkId: hidden.id, name: "x", expiresInDays: 1 }))).toBe("not_found");
  });

  test("another team's connection, link and key ids answer not_found even to that team's owner role elsewhere", async () => {
    expect(await outcome(async () => ops.connections.getConnection(await as(actors.outsider, otherTeamId), connectionId))).toBe("not_found");
    expect(await outcome(async () => ops.links.getLink(await as(actors.outsider, otherTeamId), linkId))).toBe("not_found");
    expect(await outcome(async () => ops.keys.revokeKey(await as(actors.outsider, otherTeamId), { keyId: memberKeyId }))).toBe("not_found");
    expect(await outcome(async () => ops.links.updateLink(await as(actors.outsider, otherTeamId), { linkId, scope: { access: "admin" } }))).toBe("not_found");
  });

  test("an admin cannot hand out owner, and the last owner cannot be demoted", async () => {
    expect(await outcome(async () => ops.teams.changeMemberRole(await as(actors.admin, teamId), { userId: actors.viewer.userId, role: "owner" }))).toBe("forbidden");
    expect(await outcome(async () => ops.teams.changeMemberRole(await as(actors.owner, teamId), { userId: actors.owner.userId, role: "admin" }))).toBe("conflict");
  });

  test("a descriptions job of another team answers not_found, even through a connection of one's own", async () => {
    const { jobId } = await ops.schema.regenerateDescriptions(await as(actors.owner, teamId), { connectionId });
    const status = await ops.schema.descriptionsStatus(await as(actors.admin, teamId), { connectionId, jobId });
    expect(status.state).toBe("waiting");
    // Job ids are sequential: team B's owner guesses team A's, naming a connection team B owns.
    const theirs = await ops.connections.createConnection(await as(actors.outsider, otherTeamId), { values: connectionValues(unique("b")) });
    expect(await outcome(async () => ops.schema.descriptionsStatus(await as(actors.outsider, otherTeamId), { connectionId: theirs.id, jobId }))).toBe("not_found");
  });

  test("a team sees and replays only its own dead letters", async () => {
    const { Queue } = await import("bullmq");
    const { QUEUES } = await import("@portcullis/jobs");
    const connection = { url: process.env.REDIS_URL! };
    const dlq = new Queue(QUEUES.auditDeadLetter, { connection, prefix: process.env.QUEUE_PREFIX! });
    const audit = new Queue(QUEUES.audit, { connection, prefix: process.env.QUEUE_PREFIX! });
    try {
      // Letters exactly as the worker's sweep writes them (job id = event id).
      const letter = async (team: unknown, sql: string) => {
        const id = crypto.randomUUID();
        const event = { id, time: new Date().toISOString(), teamId: team, verdict: "allowed", tool: "execute_sql", sql };
        await dlq.add("dead-letter", { event, failedReason: `insert failed: ${sql}`, attemptsMade: 10, failedAt: new Date().toISOString(), sourceQueue: QUEUES.audit }, { jobId: id });
        return id;
      };
      const mine = [await letter(teamId, "SELECT 1 /* A */"), await letter(teamId, "SELECT 2 /* A */")];
      const theirs = [await letter(otherTeamId, "SELECT secret /* B */")];
      await letter(undefined, "malformed: no team");

      const a = await ops.settings.teamDeadLetters(await as(actors.admin, teamId));
      expect(a.letters.map((l) => l.id).sort()).toEqual([...mine].sort());
      expect(a.count).toBe(2);
      expect(JSON.stringify(a)).not.toContain("secret");
      const b = await ops.settings.teamDeadLetters(await as(actors.outsider, otherTeamId));
      expect(b.letters.map((l) => l.id)).toEqual(theirs);

      expect(await ops.settings.replayTeamDeadLetters(await as(actors.owner, teamId))).toEqual({ replayed: 2 });
      const replays = (await prisma.auditOutbox.findMany({ where: { teamId } })).map((r) => JSON.parse(r.event) as { tool: string; detail: string }).filter((e) => e.tool === "audit.dead_letters.replay");
      expect(replays).toHaveLength(1);
      expect(JSON.parse(replays[0]!.detail)).toMatchObject({ after: { replayed: 2, letterIds: expect.arrayContaining(mine) } });
      const left = (await dlq.getJobs(["waiting"])).map((j) => j.id);
      expect(left).toEqual(expect.arrayContaining(theirs));
      expect(left).not.toEqual(expect.arrayContaining([mine[0]]));
      expect(left).not.toEqual(expect.arrayContaining([mine[1]]));
      const requeued = await Promise.all(mine.map((id) => audit.getJob(id)));
      expect(requeued.map((j) => (j?.data as { teamId?: string } | undefined)?.teamId)).toEqual([teamId, teamId]);
      expect(await audit.getJob(theirs[0]!)).toBeUndefined();
      expect((await ops.settings.teamDeadLetters(await as(actors.owner, teamId))).count).toBe(0);
    } finally {
      await Promise.all([dlq.close(), audit.close()]);
    }
  });

  test("scope validation explains precisely", async () => {
    const result = ops.links.validateScopeDocument({ access: "raed", tables: { customer: { access: "none", hiddenColumns: ["email"] } } });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map((e) => e.path)).toContain("access");
  });
});

describe("roles: only owners act on owners and admins; admins manage members, viewers and auditors", () => {
  const TARGETS: Role[] = ["owner", "admin", "member", "viewer", "auditor"];
  const allowed = (actor: "owner" | "admin", ...roles: Role[]) => actor === "owner" || roles.every((r) => r === "member" || r === "viewer" || r === "auditor");

  async function memberWith(role: Role) {
    const u = await user(`t-${role}`);
    const { addMember } = await import("@portcullis/db/operations");
    await addMember(prisma, { teamId, userId: u.id, role });
    return u.id;
  }
  const roleOf = async (userId: string) => (await prisma.membership.findUnique({ where: { teamId_userId: { teamId, userId } } }))?.role ?? null;

  for (const actor of ["owner", "admin"] as const) {
    for (const target of TARGETS) {
      test(`${actor} invites a ${target}`, async () => {
        const before = await prisma.invitation.count({ where: { teamId, role: target } });
        const got = await outcome(async () => ops.teams.inviteMember(await as(actors[actor], teamId), { email: null, role: target }));
        expect(got).toBe(allowed(actor, target) ? "ok" : "forbidden");
        expect(await prisma.invitation.count({ where: { teamId, role: target } })).toBe(before + (allowed(actor, target) ? 1 : 0));
      });

      test(`${actor} revokes an invitation for a ${target}`, async () => {
        const inv = await ops.teams.inviteMember(await as(actors.owner, teamId), { email: null, role: target });
        const got = await outcome(async () => ops.teams.revokeInvitation(await as(actors[actor], teamId), { invitationId: inv.id }));
        expect(got).toBe(allowed(actor, target) ? "ok" : "forbidden");
        const row = await prisma.invitation.findUniqueOrThrow({ where: { id: inv.id } });
        expect(row.revokedAt !== null).toBe(allowed(actor, target));
      });

      test(`${actor} removes a ${target}`, async () => {
        const id = await memberWith(target);
        const got = await outcome(async () => ops.teams.removeMember(await as(actors[actor], teamId), { userId: id }));
        expect(got).toBe(allowed(actor, target) ? "ok" : "forbidden");
        expect(await roleOf(id)).toBe(allowed(actor, target) ? null : target);
      });

      for (const next of TARGETS.filter((r) => r !== target)) {
        test(`${actor} changes a ${target} to ${next}`, async () => {
          const id = await memberWith(target);
          const got = await outcome(async () => ops.teams.changeMemberRole(await as(actors[actor], teamId), { userId: id, role: next }));
          expect(got).toBe(allowed(actor, target, next) ? "ok" : "forbidden");
          expect(await roleOf(id)).toBe(allowed(actor, target, next) ? next : target);
        });
      }
    }
  }

  test("an admin may still leave the team, and members and viewers too", async () => {
    for (const role of ["admin", "member", "viewer"] as const) {
      const id = await memberWith(role);
      expect(await outcome(async () => ops.teams.removeMember(await as({ userId: id }, teamId), { userId: id }))).toBe("ok");
      expect(await roleOf(id)).toBeNull();
    }
  });
});

describe("keys act as their holder: an admin cannot mint one acting as an owner or another admin", () => {
  test.each([
    ["admin", "owner", "forbidden"],
    ["admin", "admin", "forbidden"],
    ["admin", "member", "ok"],
    ["owner", "admin", "ok"],
    ["owner", "owner", "ok"],
  ] as const)("%s issues a key for a %s: %s", async (actor, holderRole, expected) => {
    const u = await user(`holder-${holderRole}`);
    const { addMember } = await import("@portcullis/db/operations");
    await addMember(prisma, { teamId, userId: u.id, role: holderRole });
    if (holderRole === "member") await ops.links.setLinkAccess(await as(actors.owner, teamId), { linkId, userId: u.id, granted: true });
    const before = await prisma.apiKey.count({ where: { userId: u.id } });
    expect(await outcome(async () => ops.keys.issueKey(await as(actors[actor], teamId), { linkId, name: "as-them", expiresInDays: 1, userId: u.id }))).toBe(expected);
    expect(await prisma.apiKey.count({ where: { userId: u.id } })).toBe(before + (expected === "ok" ? 1 : 0));
  });
});

test("withdrawing link access from an owner (they use every link) revokes none of their keys", async () => {
  const k = await ops.keys.issueKey(await as(actors.owner, teamId), { linkId, name: "owners-own", expiresInDays: 1 });
  await ops.links.setLinkAccess(await as(actors.admin, teamId), { linkId, userId: actors.owner.userId, granted: false });
  expect((await prisma.apiKey.findUniqueOrThrow({ where: { id: k.id } })).revokedAt).toBeNull();
});

describe("grants die with the membership", () => {
  async function holder(role: Role = "member") {
    const u = await user("holder");
    const { addMember } = await import("@portcullis/db/operations");
    await addMember(prisma, { teamId, userId: u.id, role });
    const owner = await as(actors.owner, teamId);
    await ops.links.setLinkAccess(owner, { linkId, userId: u.id, granted: true });
    const key = await ops.keys.issueKey(await as({ userId: u.id }, teamId), { linkId, name: "cli", expiresInDays: 7 });
    const client = await prisma.oAuthClient.create({
      data: { clientId: `https://client-${randomBytes(4).toString("hex")}.example/meta.json`, kind: "metadata_document", name: "Some IDE", redirectUris: ["http://127.0.0.1/cb"], metadata: {} },
    });
    const grant = await prisma.oAuthGrant.create({ data: { teamId, clientId: client.id, userId: u.id, linkId } });
    const later = new Date(Date.now() + 3600_000);
    await prisma.oAuthToken.createMany({
      data: [
        { grantId: grant.id, kind: "access", tokenHash: randomBytes(32).toString("hex"), expiresAt: later },
        { grantId: grant.id, kind: "refresh", tokenHash: randomBytes(32).toString("hex"), expiresAt: later },
      ],
    });
    return { userId: u.id, keyId: key.id, grantId: grant.id };
  }

  async function live(h: { userId: string; keyId: string; grantId: string }) {
    const [key, grant, tokens] = await Promise.all([
      prisma.apiKey.findUniqueOrThrow({ where: { id: h.keyId } }),
      prisma.oAuthGrant.findUnique({ where: { id: h.grantId } }),
      prisma.oAuthToken.findMany({ where: { grantId: h.grantId } }),
    ]);
    return { key: key.revokedAt === null, grant: !!grant && grant.revokedAt === null, tokens: tokens.filter((t) => t.revokedAt === null).length };
  }

  test("removing a member revokes their keys, OAuth grants and tokens; a re-invite does not bring them back", async () => {
    const h = await holder();
    expect(await live(h)).toEqual({ key: true, grant: true, tokens: 2 });
    await ops.teams.removeMember(await as(actors.admin, teamId), { userId: h.userId });
    expect(await live(h)).toEqual({ key: false, grant: false, tokens: 0 });
    const { addMember } = await import("@portcullis/db/operations");
    await addMember(prisma, { teamId, userId: h.userId, role: "member" });
    expect(await live(h)).toEqual({ key: false, grant: false, tokens: 0 });
  });

  test("a demotion to viewer takes keys and grants away too; a role change between member and admin does not", async () => {
    const h = await holder();
    await ops.teams.changeMemberRole(await as(actors.owner, teamId), { userId: h.userId, role: "admin" });
    expect(await live(h)).toEqual({ key: true, grant: true, tokens: 2 });
    await ops.teams.changeMemberRole(await as(actors.owner, teamId), { userId: h.userId, role: "viewer" });
    expect(await live(h)).toEqual({ key: false, grant: false, tokens: 0 });
  });

  test("leaving the team revokes them as well", async () => {
    const h = await holder();
    await ops.teams.removeMember(await as({ userId: h.userId }, teamId), { userId: h.userId });
    expect(await live(h)).toEqual({ key: false, grant: false, tokens: 0 });
  });
});

describe("configuration changes are recorded with the change", () => {
  /** The outbox rows written after `mark()`, oldest first. */
  const mark = async () => new Set((await prisma.auditOutbox.findMany({ where: { teamId }, select: { id: true } })).map((r) => r.id));
  async function outboxSince(seen: Set<string>) {
    const rows = (await prisma.auditOutbox.findMany({ where: { teamId }, orderBy: { createdAt: "asc" } })).filter((r) => !seen.has(r.id));
    return rows.map((r) => JSON.parse(r.event) as { tool: string; userId: string | null; kind: string; detail: string; sourceIp: string | null });
  }

  test("connections, links, access, keys, members and settings each leave one outbox row, without secrets", async () => {
    const since = await mark();
    const owner = await as(actors.owner, teamId);
    const password = new URL(chinook.url).password;
    const c = await ops.connections.createConnection(owner, { values: connectionValues(unique("audited")) as never });
    const sealed = (await prisma.connection.findUniqueOrThrow({ where: { id: c.id } })).secretCiphertext;
    await ops.connections.updateConnection(owner, { connectionId: c.id, values: connectionValues(unique("audited2")) as never });
    const l = await ops.links.createLinkForTeam(owner, { connectionId: c.id, name: unique("al"), scope: { access: "read" } });
    await ops.links.updateLink(owner, { linkId: l.id, scope: { access: "read", tables: { customer: { access: "none" } } } });
    await ops.links.updateLink(owner, { linkId: l.id, status: "disabled" });
    await ops.links.setLinkAccess(owner, { linkId: l.id, userId: actors.member.userId, granted: true });
    const k = await ops.keys.issueKey(owner, { linkId: l.id, name: "audited", expiresInDays: 1 });
    await ops.keys.revokeKey(owner, { keyId: k.id });
    await ops.links.deleteLink(owner, { linkId: l.id });
    await ops.connections.deleteConnection(owner, { connectionId: c.id });
    await ops.teams.updateTeamSettings(owner, { name: "Team A", auditRetentionDays: 45 });
    const events = await outboxSince(since);
    expect(events.map((e) => e.tool)).toEqual([
      "connection.create", "connection.update", "link.create", "link.scope.update", "link.disable", "link.access.grant",
      "api_key.issue", "api_key.revoke", "link.delete", "connection.delete", "team.settings.update",
    ]);
    expect(events.every((e) => e.kind === "config_change" && e.userId === actors.owner.userId)).toBe(true);
    const all = JSON.stringify(events);
    // The test role's password equals its user name, so look for it where only a secret would be.
    if (password) expect(all).not.toContain(`:${password}@`);
    expect(all).not.toMatch(/secretCiphertext|"password"/);
    expect(all).not.toContain(k.key);
    expect(all).not.toContain(sealed);
    const scopeChange = JSON.parse(events[3]!.detail) as { before: { scope: unknown }; after: { scope: { tables: unknown } } };
    expect(scopeChange.after.scope.tables).toEqual({ customer: expect.objectContaining({ access: "none" }) });
    const settings = JSON.parse(events[10]!.detail) as { before: { auditRetentionDays: number }; after: { auditRetentionDays: number } };
    expect(settings.after.auditRetentionDays).toBe(45);
  });

  test("member invitations, role changes and removals are recorded with before and after", async () => {
    const since = await mark();
    const owner = await as(actors.owner, teamId);
    const { addMember } = await import("@portcullis/db/operations");
    const u = await user("audited-member");
    await addMember(prisma, { teamId, userId: u.id, role: "viewer" });
    const inv = await ops.teams.inviteMember(owner, { email: `${unique("ai")}@example.com`, role: "member" });
    await ops.teams.revokeInvitation(owner, { invitationId: inv.id });
    await ops.teams.changeMemberRole(owner, { userId: u.id, role: "member" });
    await ops.teams.removeMember(owner, { userId: u.id });
    const events = await outboxSince(since);
    expect(events.map((e) => e.tool)).toEqual(["member.invite", "member.invitation.revoke", "member.role.update", "member.remove"]);
    const change = JSON.parse(events[2]!.detail) as { target: { id: string }; before: { role: string }; after: { role: string } };
    expect(change).toMatchObject({ target: { id: u.id }, before: { role: "viewer" }, after: { role: "member" } });
    expect(JSON.stringify(events)).not.toContain(inv.url.split("/invite/")[1]!);
  });

  test("a refused change records nothing", async () => {
    const since = await mark();
    await outcome(async () => ops.teams.changeMemberRole(await as(actors.admin, teamId), { userId: actors.owner.userId, role: "viewer" }));
    await outcome(async () => ops.links.updateLink(await as(actors.member, teamId), { linkId, scope: { access: "admin" } }));
    expect(await outboxSince(since)).toEqual([]);
  });
});

describe("the Playground and disabled links", () => {
  test("a disabled link is refused with a clear message before the gateway is asked", async () => {
    const owner = await as(actors.owner, teamId);
    const l = await ops.links.createLinkForTeam(owner, { connectionId, name: unique("off"), scope: { access: "read" } });
    await ops.links.updateLink(owner, { linkId: l.id, status: "disabled" });
    let message = "";
    const got = await outcome(async () => {
      try {
        await ops.playground.runPlayground(owner, { linkId: l.id, sql: "SELECT 1" });
      } catch (error) {
        message = (error as Error).message;
        throw error;
      }
    });
    expect(got).toBe("forbidden");
    expect(message).toMatch(/disabled/);
  });
});

describe("members see nothing of links they were not granted", () => {
  test("their keys on a link whose grant was withdrawn disappear from their key list with the link's name", async () => {
    const owner = await as(actors.owner, teamId);
    const l = await ops.links.createLinkForTeam(owner, { connectionId, name: unique("withdrawn-secret"), scope: { access: "read" } });
    await ops.links.setLinkAccess(owner, { linkId: l.id, userId: actors.member.userId, granted: true });
    const member = await as(actors.member, teamId);
    await ops.keys.issueKey(member, { linkId: l.id, name: "soon-gone", expiresInDays: 1 });
    expect(JSON.stringify(await ops.keys.listKeys(member))).toContain("withdrawn-secret");
    await ops.links.setLinkAccess(owner, { linkId: l.id, userId: actors.member.userId, granted: false });
    expect(JSON.stringify(await ops.keys.listKeys(member))).not.toContain("withdrawn-secret");
    expect(JSON.stringify(await ops.links.listLinks(member))).not.toContain("withdrawn-secret");
    expect(await outcome(async () => ops.links.getLink(member, l.id))).toBe("not_found");
    // Not even how many there are: the connection list counts only the member's links.
    const granted = await prisma.linkAccess.count({ where: { userId: actors.member.userId, link: { connectionId } } });
    const all = await prisma.link.count({ where: { connectionId } });
    expect(all).toBeGreaterThan(granted);
    expect((await ops.connections.listConnections(member)).find((c) => c.id === connectionId)?._count.links).toBe(granted);
    expect((await ops.connections.listConnections(owner)).find((c) => c.id === connectionId)?._count.links).toBe(all);
  });
});

describe("deleting a team", () => {
  test("takes its keys, grants and tokens with it, in one transaction; a wrong confirmation deletes nothing", async () => {
    const owner = await user("doomed-owner");
    const doomed = await ops.teams.createTeamForUser({ userId: owner.id }, { name: "Doomed" });
    const ctx = await as({ userId: owner.id }, doomed.id);
    const c = await ops.connections.createConnection(ctx, { values: connectionValues(unique("doomed")) as never });
    const l = await ops.links.createLinkForTeam(ctx, { connectionId: c.id, name: "d", scope: { access: "read" } });
    const k = await ops.keys.issueKey(ctx, { linkId: l.id, name: "d", expiresInDays: 1 });
    const client = await prisma.oAuthClient.create({ data: { clientId: `https://doomed-${randomBytes(4).toString("hex")}.example/m.json`, kind: "metadata_document", name: "IDE", redirectUris: [], metadata: {} } });
    const grant = await prisma.oAuthGrant.create({ data: { teamId: doomed.id, clientId: client.id, userId: owner.id, linkId: l.id } });
    await prisma.oAuthToken.create({ data: { grantId: grant.id, kind: "access", tokenHash: randomBytes(32).toString("hex"), expiresAt: new Date(Date.now() + 3600_000) } });

    expect(await outcome(async () => ops.teams.deleteTeam(ctx, { confirmSlug: "something-else" }))).toBe("invalid_input");
    expect(await prisma.team.count({ where: { id: doomed.id } })).toBe(1);

    await ops.teams.deleteTeam(ctx, { confirmSlug: doomed.slug });
    expect(await prisma.team.count({ where: { id: doomed.id } })).toBe(0);
    expect(await prisma.apiKey.count({ where: { id: k.id } })).toBe(0);
    expect(await prisma.oAuthGrant.count({ where: { id: grant.id } })).toBe(0);
    expect(await prisma.oAuthToken.count({ where: { grantId: grant.id } })).toBe(0);
  });
});

describe("a stored password stays with its server", () => {
  test("a blank password is reused for the same server, database and user, and refused for any other", async () => {
    const owner = await as(actors.owner, teamId);
    const c = await ops.connections.createConnection(owner, { values: connectionValues(unique("kept")) as never });
    const target = new URL(chinook.url);
    const fields = { mode: "fields" as const, host: target.hostname, port: Number(target.port), database: target.pathname.slice(1), username: decodeURIComponent(target.username), password: "", sslMode: "disable" as const };
    const before = await prisma.connection.findUniqueOrThrow({ where: { id: c.id } });

    // Same target: the stored password is used and the test succeeds.
    const same = await ops.connections.testConnection(owner, { connectionId: c.id, values: { name: "kept", ...fields } });
    expect(same.ok).toBe(true);
    // Any other address, port, database or user: refused before anything is sent anywhere.
    for (const change of [{ host: "127.0.0.2" }, { port: 1 }, { database: "postgres" }, { username: "someone_else" }]) {
      expect(await outcome(async () => ops.connections.testConnection(owner, { connectionId: c.id, values: { name: "kept", ...fields, ...change } }))).toBe("invalid_input");
      expect(await outcome(async () => ops.connections.updateConnection(owner, { connectionId: c.id, values: { name: "kept", ...fields, ...change } }))).toBe("invalid_input");
    }
    const after = await prisma.connection.findUniqueOrThrow({ where: { id: c.id } });
    expect(after.host).toBe(before.host);
    expect(after.secretCiphertext).toBe(before.secretCiphertext);
  });
});

describe("an invitation is only as good as its sender's authority now", () => {
  async function adminWhoInvites(role: Role) {
    const u = await user("inviting-admin");
    const { addMember } = await import("@portcullis/db/operations");
    await addMember(prisma, { teamId, userId: u.id, role: "admin" });
    const token = new URL((await ops.teams.inviteMember(await as({ userId: u.id }, teamId), { email: null, role })).url).pathname.split("/").pop()!;
    return { adminId: u.id, token };
  }
  const membershipOf = async (userId: string) => prisma.membership.findUnique({ where: { teamId_userId: { teamId, userId } } });

  test("a removed admin cannot walk back in through a shareable invitation they kept", async () => {
    const { adminId, token } = await adminWhoInvites("viewer");
    await ops.teams.removeMember(await as(actors.owner, teamId), { userId: adminId });
    expect(await outcome(() => ops.teams.acceptInvitation({ userId: adminId }, { token }))).toBe("not_found");
    expect(await membershipOf(adminId)).toBeNull();
  });

  test("an admin demoted to member: the invitations they sent no longer admit anyone", async () => {
    const { adminId, token } = await adminWhoInvites("member");
    await ops.teams.changeMemberRole(await as(actors.owner, teamId), { userId: adminId, role: "member" });
    const stranger = await user("stranger");
    expect(await outcome(() => ops.teams.acceptInvitation({ userId: stranger.id }, { token }))).toBe("not_found");
    expect(await membershipOf(stranger.id)).toBeNull();
  });

  test("an admin still in place: their invitation works", async () => {
    const { token } = await adminWhoInvites("viewer");
    const invited = await user("invited");
    expect(await outcome(() => ops.teams.acceptInvitation({ userId: invited.id }, { token }))).toBe("ok");
    expect((await membershipOf(invited.id))?.role).toBe("viewer");
  });
});

describe("the scope editor's table list goes through the target policy", () => {
  test("a stored connection whose address the policy refuses is never opened", async () => {
    // Saved as the database row would be after its name was rebound (or by an older version): the
    // dashboard checks the address again when it opens the session. Multicast is refused under every policy.
    const { addConnection } = await import("@portcullis/db/operations");
    const { parseTargetUrl } = await import("@portcullis/db/target");
    const refused = await addConnection(prisma, { teamId, name: unique("rebound"), fields: { ...parseTargetUrl(chinook.url), host: "224.0.0.1" }, test: false });
    const failure = await ops.links.connectionTables(await as(actors.owner, teamId), { connectionId: refused.id }).catch((e: Error) => e);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(/could not read the tables of .*224\.0\.0\.1 is a multicast or reserved address, which can never be a target/);
  });
});
