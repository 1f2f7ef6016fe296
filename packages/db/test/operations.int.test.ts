import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import { PortcullisError } from "../src/errors.js";
import { hashApiKey } from "../src/keys.js";
import { addConnection, addMember, createApiKey, createLink, createTeam, createUser, reencryptSecrets, retestConnection, revokeApiKey } from "../src/operations/index.js";
import { verifyPassword } from "../src/passwords.js";
import { generateSecretKey, SecretKeyring } from "../src/secrets/index.js";
import { seedDemo } from "../src/seed/index.js";
import { targetClientConfig, parseTargetUrl } from "../src/target.js";
import { createChinookDatabase, createMetadataDatabase, testPgUrl, type TestDatabase } from "../src/testing/index.js";

let meta: TestDatabase;
let target: TestDatabase;
let prisma: PrismaClient;
const keyring = SecretKeyring.parse(generateSecretKey("k1"));

beforeAll(async () => {
  [meta, target] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
  prisma = createPrismaClient(meta.url);
  // These operations save the test cluster's superuser on loopback, in the metadata database's own
  // cluster: exactly what the operator settings below exist to allow (the refusals themselves are
  // tested in connection-target.int.test.ts).
  process.env.TARGET_NETWORKS = "any";
  process.env.TARGET_STACK_DATABASES = "*";
  process.env.TARGET_ALLOW_POWERFUL_ROLES = "true";
});

afterAll(async () => {
  await prisma?.$disconnect();
  await Promise.all([meta?.drop(), target?.drop()]);
});

const fields = () => ({ ...parseTargetUrl(target.url), sslMode: "disable" as const });

async function expectCode(promise: Promise<unknown>, code: PortcullisError["code"], message?: RegExp) {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(PortcullisError);
  expect((error as PortcullisError).code).toBe(code);
  if (message) expect((error as Error).message).toMatch(message);
}

describe("shared operations", () => {
  it("stores users with argon2id hashes and refuses weak or duplicate input", async () => {
    const user = await createUser(prisma, { email: " Ana@Example.com ", password: "a long passphrase" });
    expect(user.email).toBe("ana@example.com");
    expect(user.passwordHash).toMatch(/^\$argon2id\$/);
    expect(await verifyPassword(user.passwordHash, "a long passphrase")).toBe(true);
    expect(await verifyPassword(user.passwordHash, "wrong")).toBe(false);
    await expectCode(createUser(prisma, { email: "ana@example.com", password: "another passphrase" }), "conflict");
    await expectCode(createUser(prisma, { email: "x@example.com", password: "short" }), "invalid_input", /10 characters/);
    await expectCode(createUser(prisma, { email: "not-an-email", password: "long enough pass" }), "invalid_input");
  });

  it("enforces the free plan's limits of one connection and one link with a clear message", async () => {
    const owner = await createUser(prisma, { email: "free@example.com", password: "a long passphrase" });
    const team = await createTeam(prisma, { name: "Free Team", plan: "free", ownerId: owner.id });
    const connection = await addConnection(prisma, { teamId: team.id, name: "one", fields: fields() }, keyring);
    expect(connection.status).toBe("ok");
    expect(connection.lastTestResult).toMatchObject({ ok: true, serverVersion: expect.stringMatching(/^\d+/) });
    await expectCode(addConnection(prisma, { teamId: team.id, name: "two", fields: fields() }, keyring), "plan_limit", /free plan allows 1 connection/);
    await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "l1", scope: { access: "read" } });
    await expectCode(createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "l2", scope: { access: "read" } }), "plan_limit", /1 link/);
  });

  it("refuses a connection that fails its test, saying why, and never stores it", async () => {
    const team = await createTeam(prisma, { name: "Tester" });
    await expectCode(
      addConnection(prisma, { teamId: team.id, name: "bad", fields: { ...fields(), password: "nope" } }, keyring),
      "invalid_input",
      /password authentication failed/,
    );
    await expectCode(
      addConnection(prisma, { teamId: team.id, name: "gone", fields: { ...fields(), database: "no_such_db" } }, keyring),
      "invalid_input",
      /database "no_such_db" does not exist/,
    );
    await expectCode(
      addConnection(prisma, { teamId: team.id, name: "closed", fields: { ...fields(), port: 1 } }, keyring),
      "invalid_input",
      /nothing is accepting connections/,
    );
    expect(await prisma.connection.count({ where: { teamId: team.id } })).toBe(0);
  });

  it("does not let a link or key cross teams", async () => {
    const a = await createTeam(prisma, { name: "Team A" });
    const b = await createTeam(prisma, { name: "Team B" });
    const connection = await addConnection(prisma, { teamId: a.id, name: "a-db", fields: fields() }, keyring);
    await expectCode(createLink(prisma, { teamId: b.id, connectionId: connection.id, name: "steal", scope: { access: "read" } }), "not_found");
    const link = await createLink(prisma, { teamId: a.id, connectionId: connection.id, name: "a-link", scope: { access: "read" } });
    const outsider = await createUser(prisma, { email: "outsider@example.com", password: "a long passphrase" });
    await addMember(prisma, { teamId: b.id, userId: outsider.id, role: "owner" });
    await expectCode(createApiKey(prisma, { teamId: a.id, linkId: link.id, userId: outsider.id, name: "k" }), "not_found", /not a member/);
    await expectCode(createApiKey(prisma, { teamId: b.id, linkId: link.id, userId: outsider.id, name: "k" }), "not_found", /link not found/);
  });

  it("gives keys only to members granted the link, never to viewers", async () => {
    const team = await createTeam(prisma, { name: "Roles" });
    const connection = await addConnection(prisma, { teamId: team.id, name: "db", fields: fields() }, keyring);
    const link = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "l", scope: { access: "read" } });
    const member = await createUser(prisma, { email: "member@example.com", password: "a long passphrase" });
    const viewer = await createUser(prisma, { email: "viewer@example.com", password: "a long passphrase" });
    await addMember(prisma, { teamId: team.id, userId: member.id, role: "member" });
    await addMember(prisma, { teamId: team.id, userId: viewer.id, role: "viewer" });
    await expectCode(createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: viewer.id, name: "k" }), "forbidden");
    await expectCode(createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: member.id, name: "k" }), "forbidden", /not been granted/);
    await prisma.linkAccess.create({ data: { linkId: link.id, userId: member.id } });
    const { key, record } = await createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: member.id, name: "k" });
    expect(record.hash).toBe(hashApiKey(key));
    await expectCode(
      createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: member.id, name: "k", expiresAt: new Date(Date.now() - 1000) }),
      "invalid_input",
    );

    const published: unknown[] = [];
    const revoked = await revokeApiKey(prisma, { teamId: team.id, apiKeyId: record.id }, async (message) => published.push(message));
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    expect(published).toEqual([{ kind: "api_key", apiKeyId: record.id, hash: record.hash }]);
    // Idempotent: revoking again keeps the first time and still broadcasts.
    const again = await revokeApiKey(prisma, { apiKeyId: record.id }, async (message) => published.push(message));
    expect(again.revokedAt).toEqual(revoked.revokedAt);
  });

  it("re-encrypts every secret under a new primary key, after which the old key can go", async () => {
    const team = await createTeam(prisma, { name: "Rotation" });
    const connection = await addConnection(prisma, { teamId: team.id, name: "db", fields: fields() }, keyring);
    const newKey = generateSecretKey("k2");
    const rotated = SecretKeyring.parse(`${newKey},k1:${keyring.primary.key.toString("base64")}`);
    const result = await reencryptSecrets(prisma, rotated);
    expect(result.remaining).toBe(0);
    expect(result.reencrypted).toBeGreaterThanOrEqual(1);
    const onlyNew = SecretKeyring.parse(newKey);
    const row = await prisma.connection.findUniqueOrThrow({ where: { id: connection.id } });
    expect(row.secretKeyId).toBe("k2");
    // The rotated secret still opens a real session on the target.
    const client = new pg.Client(targetClientConfig(row, onlyNew));
    await client.connect();
    await client.end();
    expect((await retestConnection(prisma, connection.id, onlyNew)).ok).toBe(true);
  });
});

describe("demo seed", () => {
  it("creates the demo and is idempotent, returning the same keys on a second run", async () => {
    const seedMeta = await createMetadataDatabase();
    const seedPrisma = createPrismaClient(seedMeta.url);
    const keysFile = path.join(await mkdtemp(path.join(tmpdir(), "seed-")), "keys.json");
    try {
      const env = process.env.PORTCULLIS_SECRET_KEYS;
      process.env.PORTCULLIS_SECRET_KEYS ??= generateSecretKey("k1");
      const first = await seedDemo(seedPrisma, { targetAdminUrl: testPgUrl("postgres"), keysFile });
      const second = await seedDemo(seedPrisma, { targetAdminUrl: testPgUrl("postgres"), keysFile });
      if (env === undefined) delete process.env.PORTCULLIS_SECRET_KEYS;
      expect(second).toEqual(first);
      expect(first.links.map((l) => l.name)).toEqual(["chinook-read-only", "chinook-pii-safe"]);
      expect(await seedPrisma.apiKey.count()).toBe(2);
      const pii = await seedPrisma.link.findFirstOrThrow({ where: { name: "chinook-pii-safe" } });
      expect(JSON.stringify(pii.scope)).toContain("email");
      for (const link of first.links) {
        const key = await seedPrisma.apiKey.findFirstOrThrow({ where: { linkId: link.id } });
        expect(key.hash).toBe(hashApiKey(link.apiKey));
      }
    } finally {
      await seedPrisma.$disconnect();
      await seedMeta.drop();
    }
  });
});
