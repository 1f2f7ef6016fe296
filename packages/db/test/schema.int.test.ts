import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, Prisma, type PrismaClient } from "../src/client.js";
import { createMetadataDatabase, type TestDatabase } from "../src/testing/index.js";

/**
 * The migrations are hand-written SQL, so this suite is what keeps them honest against
 * prisma/schema.prisma: every model is written and read back with every field set, through the
 * generated client, on a database built only by the migration runner.
 */
let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createMetadataDatabase();
  prisma = createPrismaClient(db.url);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

const soon = () => new Date(Date.now() + 3_600_000);

describe("schema.prisma agrees with the migrations", () => {
  it("every model's columns exist (a findFirst selects every scalar field)", async () => {
    const models = Object.values(Prisma.ModelName);
    expect(models.length).toBeGreaterThanOrEqual(19);
    for (const model of models) {
      const delegate = (prisma as unknown as Record<string, { findFirst: () => Promise<unknown> }>)[
        model.charAt(0).toLowerCase() + model.slice(1)
      ];
      await expect(delegate!.findFirst(), model).resolves.toBeNull();
    }
  });

  it("round-trips every model with every field and relation", async () => {
    const user = await prisma.user.create({
      data: {
        email: "owner@example.com",
        name: "Owner",
        passwordHash: "$argon2id$…",
        emailVerifiedAt: new Date(),
        failedLoginCount: 2,
        lockedUntil: soon(),
        lastLoginAt: new Date(),
        accounts: { create: { provider: "github", providerAccountId: "42" } },
        sessions: { create: { expiresAt: soon(), userAgent: "vitest", ip: "127.0.0.1", revokedAt: null } },
        passwordResets: { create: { tokenHash: "reset-hash", expiresAt: soon() } },
      },
    });
    const team = await prisma.team.create({
      data: {
        name: "Acme",
        slug: "acme",
        plan: "free",
        maxConnections: 1,
        maxLinks: 1,
        maxMembers: 3,
        auditRetentionDays: 30,
        memberships: { create: { userId: user.id, role: "owner" } },
        invitations: { create: { email: "new@example.com", role: "viewer", tokenHash: "inv-hash", invitedById: user.id, expiresAt: soon() } },
      },
    });
    const connection = await prisma.connection.create({
      data: {
        teamId: team.id,
        name: "prod",
        host: "db.internal",
        port: 6543,
        database: "app",
        username: "reader",
        secretCiphertext: "v1.k1.a.b.c",
        secretKeyId: "k1",
        sslMode: "verify_full",
        sslCaCert: "-----BEGIN CERTIFICATE-----",
        status: "ok",
        lastTestedAt: new Date(),
        lastTestResult: { ok: true, serverVersion: "15.4", latencyMs: 1.2 },
        sampleValuesOptIn: true,
        snapshots: { create: { snapshot: { tables: [] }, diff: { tablesAdded: [] }, tableCount: 0 } },
        descriptions: {
          create: [
            { schemaName: "public", tableName: "orders", description: "Orders", source: "ai", model: "gpt" },
            { schemaName: "public", tableName: "orders", columnName: "id", description: "Key", source: "human", updatedById: user.id },
          ],
        },
      },
    });
    const link = await prisma.link.create({
      data: {
        teamId: team.id,
        connectionId: connection.id,
        name: "read-only",
        scope: { access: "read", tables: { users: { hiddenColumns: ["email"] } } },
        status: "active",
        createdById: user.id,
        access: { create: { userId: user.id } },
      },
    });
    const apiKey = await prisma.apiKey.create({
      data: {
        teamId: team.id,
        linkId: link.id,
        userId: user.id,
        name: "laptop",
        prefix: "pcs_abcdefgh",
        hash: "f".repeat(64),
        expiresAt: soon(),
        lastUsedAt: new Date(),
        createdById: user.id,
      },
    });
    await prisma.auditChainHead.create({ data: { teamId: team.id, lastSeq: 1n, lastHash: "h1" } });
    await prisma.auditEvent.create({
      data: {
        id: "6f1c1f9e-3d4a-4d4e-9a53-0b2f7f1d9a11",
        teamId: team.id,
        time: new Date(),
        seq: 1n,
        kind: "tool_call",
        linkId: link.id,
        apiKeyId: apiKey.id,
        oauthClientId: "https://client.example/meta.json",
        userId: user.id,
        clientName: "cursor",
        clientVersion: "1.0",
        tool: "execute_sql",
        sql: "SELECT 1",
        fingerprint: "abc",
        tables: ["public.orders"],
        verdict: "blocked",
        ruleId: "hidden_column",
        reason: "column does not exist",
        durationMs: 1.5,
        rows: 0,
        bytes: 10,
        error: null,
        sourceIp: "10.0.0.1",
        requestId: "req-1",
        prevHash: "genesis",
        hash: "h1",
      },
    });
    const client = await prisma.oAuthClient.create({
      data: {
        clientId: "https://client.example/meta.json",
        kind: "metadata_document",
        name: "Example",
        clientUri: "https://client.example",
        logoUri: "https://client.example/logo.png",
        redirectUris: ["http://127.0.0.1/callback"],
        metadata: { client_name: "Example" },
        fetchedAt: new Date(),
      },
    });
    await prisma.oAuthAuthorizationCode.create({
      data: {
        codeHash: "code-hash",
        clientId: client.id,
        userId: user.id,
        linkId: link.id,
        redirectUri: "http://127.0.0.1/callback",
        codeChallenge: "challenge",
        resource: "http://gw/mcp/x",
        expiresAt: soon(),
      },
    });
    const grant = await prisma.oAuthGrant.create({
      data: {
        teamId: team.id,
        clientId: client.id,
        userId: user.id,
        linkId: link.id,
        lastUsedAt: new Date(),
        tokens: {
          create: [
            { kind: "access", tokenHash: "at-hash", expiresAt: soon() },
            { kind: "refresh", tokenHash: "rt-hash", expiresAt: soon(), rotatedAt: new Date() },
          ],
        },
      },
    });

    // Issue 14: member attributes (with their editor) and the team's sealed hash-mask secret.
    await prisma.linkMemberAttribute.create({ data: { linkId: link.id, userId: user.id, name: "rep_id", value: "3", updatedBy: user.id } });
    await prisma.teamMaskSecret.create({ data: { teamId: team.id, secretCiphertext: "v1.k1.a.b.c", secretKeyId: "k1" } });
    const attribute = await prisma.linkMemberAttribute.findFirstOrThrow({ include: { link: true, user: true, editor: true } });
    expect(attribute).toMatchObject({ name: "rep_id", value: "3", link: { id: link.id }, editor: { email: "owner@example.com" } });
    expect((await prisma.team.findUniqueOrThrow({ where: { id: team.id }, include: { maskSecret: true } })).maskSecret?.secretKeyId).toBe("k1");

    const loaded = await prisma.team.findUniqueOrThrow({
      where: { id: team.id },
      include: {
        memberships: { include: { user: { include: { accounts: true, sessions: true, passwordResets: true } } } },
        invitations: true,
        connections: { include: { snapshots: true, descriptions: { include: { updatedBy: true } } } },
        links: { include: { access: true, apiKeys: true, oauthCodes: true, oauthGrants: { include: { tokens: true, client: true } } } },
        auditEvents: true,
        auditChain: true,
      },
    });
    expect(loaded.memberships[0]!.user.accounts).toHaveLength(1);
    expect(loaded.memberships[0]!.user.sessions[0]!.userAgent).toBe("vitest");
    expect(loaded.memberships[0]!.user.passwordResets).toHaveLength(1);
    expect(loaded.invitations[0]!.role).toBe("viewer");
    expect(loaded.connections[0]!.sslMode).toBe("verify_full");
    expect(loaded.connections[0]!.lastTestResult).toEqual({ ok: true, serverVersion: "15.4", latencyMs: 1.2 });
    expect(loaded.connections[0]!.descriptions.find((d) => d.columnName === "id")!.updatedBy!.email).toBe("owner@example.com");
    expect(loaded.links[0]!.scope).toEqual({ access: "read", tables: { users: { hiddenColumns: ["email"] } } });
    expect(loaded.links[0]!.apiKeys[0]!.prefix).toBe("pcs_abcdefgh");
    expect(loaded.links[0]!.oauthGrants[0]!.tokens.map((t) => t.kind).sort()).toEqual(["access", "refresh"]);
    expect(loaded.links[0]!.oauthCodes).toHaveLength(1);
    expect(loaded.auditEvents[0]!.seq).toBe(1n);
    expect(loaded.auditEvents[0]!.tables).toEqual(["public.orders"]);
    expect(loaded.auditChain!.lastHash).toBe("h1");
    expect(grant.revokedAt).toBeNull();
  });

  it("enforces the unique constraints the application relies on", async () => {
    await expect(prisma.user.create({ data: { email: "owner@example.com" } })).rejects.toMatchObject({ code: "P2002" });
    await expect(prisma.team.create({ data: { name: "Other", slug: "acme" } })).rejects.toMatchObject({ code: "P2002" });
    const team = await prisma.team.findUniqueOrThrow({ where: { slug: "acme" } });
    // audit_events is partitioned by time: its key is (id, time), so an event stored twice (a replay
    // carrying the same id and time, even under another seq) is refused by the primary key.
    const stored = await prisma.auditEvent.findFirstOrThrow({ where: { teamId: team.id, seq: 1n } });
    await expect(
      prisma.auditEvent.create({
        data: { id: stored.id, teamId: team.id, time: stored.time, seq: 2n, verdict: "allowed", prevHash: "x", hash: "y" },
      }),
    ).rejects.toMatchObject({ code: "P2002" });
    expect(await prisma.auditEvent.count({ where: { teamId: team.id } })).toBe(1);
  });

  it("cascades a team's deletion to everything it owns", async () => {
    const team = await prisma.team.findUniqueOrThrow({ where: { slug: "acme" } });
    await prisma.team.delete({ where: { id: team.id } });
    expect(await prisma.connection.count()).toBe(0);
    expect(await prisma.link.count()).toBe(0);
    expect(await prisma.apiKey.count()).toBe(0);
    expect(await prisma.auditEvent.count()).toBe(0);
    expect(await prisma.oAuthGrant.count()).toBe(0);
    expect(await prisma.user.count()).toBe(1);
  });
});
