import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import { PortcullisError } from "../src/errors.js";
import {
  addConnection,
  addMember,
  createLink,
  createTeam,
  createUser,
  listMemberAttributes,
  reencryptMaskSecrets,
  reencryptSecrets,
  setMemberAttributes,
  teamMaskSecret,
  unsetMemberAttributes,
} from "../src/operations/index.js";
import { generateSecretKey, SecretKeyring } from "../src/secrets/index.js";
import { createMetadataDatabase, type TestDatabase } from "../src/testing/index.js";

let meta: TestDatabase;
let prisma: PrismaClient;
const keyring = SecretKeyring.parse(generateSecretKey("k1"));

beforeAll(async () => {
  meta = await createMetadataDatabase();
  prisma = createPrismaClient(meta.url);
  process.env.TARGET_NETWORKS = "any";
  process.env.TARGET_STACK_DATABASES = "*";
  process.env.TARGET_ALLOW_POWERFUL_ROLES = "true";
});

afterAll(async () => {
  await prisma?.$disconnect();
  await meta?.drop();
});

async function code(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error, "expected a refusal").toBeInstanceOf(PortcullisError);
  return (error as PortcullisError).code;
}

let n = 0;
/** A team with an owner, an admin, a granted member, an ungranted member, a viewer and two links. */
async function world() {
  n++;
  const mk = (who: string) => createUser(prisma, { email: `${who}${n}@example.com`, password: "a long passphrase" });
  const [owner, admin, member, outsider, viewer] = await Promise.all([mk("owner"), mk("admin"), mk("member"), mk("ungranted"), mk("viewer")]);
  const team = await createTeam(prisma, { name: `Attr ${n}`, ownerId: owner.id });
  await addMember(prisma, { teamId: team.id, userId: admin.id, role: "admin" });
  await addMember(prisma, { teamId: team.id, userId: member.id, role: "member" });
  await addMember(prisma, { teamId: team.id, userId: outsider.id, role: "member" });
  await addMember(prisma, { teamId: team.id, userId: viewer.id, role: "viewer" });
  const connection = await addConnection(
    prisma,
    { teamId: team.id, name: "db", test: false, fields: { host: "127.0.0.1", port: 5432, database: "x", username: "u", password: "p", sslMode: "disable" } },
    keyring,
  );
  const link = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "l1", scope: { access: "read", tables: {}, limits: { maxRows: 10, statementTimeoutMs: 1000 } } });
  const other = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "l2", scope: { access: "read", tables: {}, limits: { maxRows: 10, statementTimeoutMs: 1000 } } });
  await prisma.linkAccess.create({ data: { linkId: link.id, userId: member.id } });
  const actor = { teamId: team.id, actorUserId: owner.id, via: "cli" as const };
  return { team, owner, admin, member, outsider, viewer, link, other, actor };
}

const rowsOf = (linkId: string) => prisma.linkMemberAttribute.findMany({ where: { linkId }, orderBy: [{ userId: "asc" }, { name: "asc" }] });

describe("member attributes", () => {
  it("sets, lists and unsets a granted member's attributes, each change audited with before and after", async () => {
    const w = await world();
    const set = await setMemberAttributes(prisma, w.actor, { linkId: w.link.id, userId: w.member.id, values: { rep_id: "3", region: "emea" } });
    expect(set.attributes).toEqual({ region: "emea", rep_id: "3" });
    await setMemberAttributes(prisma, w.actor, { linkId: w.link.id, userId: w.member.id, values: { rep_id: "4" } });
    // Owners and admins use every link without a grant: they can have attributes too.
    await setMemberAttributes(prisma, w.actor, { linkId: w.link.id, userId: w.admin.id, values: { rep_id: "9" } });
    const listed = await listMemberAttributes(prisma, w.actor, { linkId: w.link.id });
    expect(listed).toEqual([
      { userId: w.admin.id, email: w.admin.email, attributes: { rep_id: "9" } },
      { userId: w.member.id, email: w.member.email, attributes: { region: "emea", rep_id: "4" } },
    ]);
    expect(await listMemberAttributes(prisma, w.actor, { linkId: w.link.id, userId: w.admin.id })).toHaveLength(1);
    const unset = await unsetMemberAttributes(prisma, w.actor, { linkId: w.link.id, userId: w.member.id, names: ["region", "never_set"] });
    expect(unset.removed).toEqual(["region"]);
    expect(unset.attributes).toEqual({ rep_id: "4" });

    const outbox = await prisma.auditOutbox.findMany({ where: { teamId: w.team.id }, orderBy: { createdAt: "asc" } });
    const details = outbox.map((o) => JSON.parse(JSON.parse(o.event).detail as string) as Record<string, unknown>);
    const changes = details.filter((d) => String(d.action).startsWith("link.member_attribute."));
    expect(changes.map((d) => d.action)).toEqual(["link.member_attribute.set", "link.member_attribute.set", "link.member_attribute.set", "link.member_attribute.unset"]);
    expect(changes[1]).toMatchObject({
      target: { type: "link", id: w.link.id, name: "l1" },
      via: "cli",
      before: { userId: w.member.id, attributes: { rep_id: "3" } },
      after: { userId: w.member.id, attributes: { rep_id: "4" } },
    });
    expect(changes[3]).toMatchObject({ before: { attributes: { region: "emea" } }, after: { attributes: {} } });
    // Nothing removed, nothing recorded.
    await unsetMemberAttributes(prisma, w.actor, { linkId: w.link.id, userId: w.member.id, names: ["region"] });
    expect(await prisma.auditOutbox.count({ where: { teamId: w.team.id } })).toBe(outbox.length);
  });

  it("refuses hostile and malformed input, other teams' links and members without the link, writing nothing", async () => {
    const w = await world();
    const v = await world();
    const base = { linkId: w.link.id, userId: w.member.id };
    const hostile: unknown[] = [
      { ...base, values: { rep_id: { $gt: "" } } },
      { ...base, values: { rep_id: ["3", "4"] } },
      { ...base, values: { rep_id: 3 } },
      { ...base, values: [["rep_id", "3"]] },
      { ...base, values: { "Rep-Id": "3" } },
      { ...base, values: { __proto__: "x" } },
      { ...base, values: JSON.parse('{"__proto__": "x"}') },
      { ...base, values: { rep_id: "a\u0000b" } },
      { ...base, values: { rep_id: "x".repeat(1025) } },
      { ...base, values: { rep_id: "é".repeat(513) } },
      { ...base, values: {} },
      { ...base, values: { rep_id: "3" }, teamId: v.team.id },
      { linkId: "not-a-uuid", userId: w.member.id, values: { rep_id: "3" } },
      { linkId: { equals: w.link.id }, userId: w.member.id, values: { rep_id: "3" } },
      null,
      "rep_id=3",
    ];
    for (const input of hostile) expect(await code(setMemberAttributes(prisma, w.actor, input)), JSON.stringify(input)).toBe("invalid_input");
    expect(await code(unsetMemberAttributes(prisma, w.actor, { ...base, names: [] }))).toBe("invalid_input");
    expect(await code(unsetMemberAttributes(prisma, w.actor, { ...base, names: "rep_id" }))).toBe("invalid_input");
    expect(await code(listMemberAttributes(prisma, w.actor, { linkId: w.link.id, userId: { not: null } }))).toBe("invalid_input");
    // Another team's link named under our team, and our link named under theirs: not found either way.
    expect(await code(setMemberAttributes(prisma, w.actor, { linkId: v.link.id, userId: v.member.id, values: { rep_id: "3" } }))).toBe("not_found");
    expect(await code(setMemberAttributes(prisma, v.actor, { linkId: w.link.id, userId: w.member.id, values: { rep_id: "3" } }))).toBe("not_found");
    expect(await code(listMemberAttributes(prisma, v.actor, { linkId: w.link.id }))).toBe("not_found");
    expect(await code(unsetMemberAttributes(prisma, v.actor, { linkId: w.link.id, userId: w.member.id, names: ["rep_id"] }))).toBe("not_found");
    // A user of another team, a member without the grant, a viewer.
    expect(await code(setMemberAttributes(prisma, w.actor, { linkId: w.link.id, userId: v.member.id, values: { rep_id: "3" } }))).toBe("not_found");
    expect(await code(setMemberAttributes(prisma, w.actor, { linkId: w.link.id, userId: w.outsider.id, values: { rep_id: "3" } }))).toBe("forbidden");
    expect(await code(setMemberAttributes(prisma, w.actor, { linkId: w.other.id, userId: w.member.id, values: { rep_id: "3" } }))).toBe("forbidden");
    expect(await code(setMemberAttributes(prisma, w.actor, { linkId: w.link.id, userId: w.viewer.id, values: { rep_id: "3" } }))).toBe("forbidden");
    expect(await prisma.linkMemberAttribute.count({ where: { link: { teamId: { in: [w.team.id, v.team.id] } } } })).toBe(0);
    expect(await prisma.auditOutbox.count({ where: { teamId: { in: [w.team.id, v.team.id] } } })).toBe(0);
    // The database refuses a bad name or an oversized value even from plain SQL.
    await expect(prisma.$executeRawUnsafe(`INSERT INTO link_member_attributes (link_id, user_id, name, value) VALUES ('${w.link.id}', '${w.member.id}', 'Bad', 'x')`)).rejects.toThrow();
    await expect(prisma.$executeRawUnsafe(`INSERT INTO link_member_attributes (link_id, user_id, name, value) VALUES ('${w.link.id}', '${w.member.id}', 'ok', repeat('x', 1025))`)).rejects.toThrow();
  });

  it("go with the member's use of the link: grant withdrawn, demotion, leaving the team, link deleted", async () => {
    const w = await world();
    const set = (userId: string, linkId = w.link.id) => setMemberAttributes(prisma, w.actor, { linkId, userId, values: { rep_id: "1" } });
    await set(w.member.id);
    await set(w.admin.id);
    await set(w.admin.id, w.other.id);
    await prisma.linkAccess.delete({ where: { linkId_userId: { linkId: w.link.id, userId: w.member.id } } });
    expect((await rowsOf(w.link.id)).map((r) => r.userId)).toEqual([w.admin.id]);
    // An admin demoted to member keeps attributes only where granted (nowhere here).
    await prisma.linkAccess.create({ data: { linkId: w.other.id, userId: w.admin.id } });
    await prisma.membership.update({ where: { teamId_userId: { teamId: w.team.id, userId: w.admin.id } }, data: { role: "member" } });
    expect(await rowsOf(w.link.id)).toEqual([]);
    expect((await rowsOf(w.other.id)).map((r) => r.userId)).toEqual([w.admin.id]);
    // Demoted to viewer: gone everywhere.
    await prisma.membership.update({ where: { teamId_userId: { teamId: w.team.id, userId: w.admin.id } }, data: { role: "viewer" } });
    expect(await rowsOf(w.other.id)).toEqual([]);
    // Leaving the team.
    await prisma.linkAccess.create({ data: { linkId: w.link.id, userId: w.member.id } });
    await set(w.member.id);
    await prisma.membership.delete({ where: { teamId_userId: { teamId: w.team.id, userId: w.member.id } } });
    expect(await rowsOf(w.link.id)).toEqual([]);
    // The link deleted.
    await set(w.owner.id, w.other.id);
    await prisma.link.delete({ where: { id: w.other.id } });
    expect(await prisma.linkMemberAttribute.count({ where: { userId: w.owner.id } })).toBe(0);
  });

  it("announces every change on the gateways' access channel, on commit", async () => {
    const w = await world();
    const listener = new pg.Client({ connectionString: meta.url });
    await listener.connect();
    const heard: Record<string, unknown>[] = [];
    listener.on("notification", (m) => heard.push(JSON.parse(m.payload!) as Record<string, unknown>));
    await listener.query("LISTEN portcullis_access");
    try {
      await setMemberAttributes(prisma, w.actor, { linkId: w.link.id, userId: w.member.id, values: { rep_id: "1" } });
      await unsetMemberAttributes(prisma, w.actor, { linkId: w.link.id, userId: w.member.id, names: ["rep_id"] });
      await new Promise((r) => setTimeout(r, 200));
      const ours = heard.filter((h) => h.table === "link_member_attributes");
      expect(ours).toHaveLength(2);
      for (const h of ours) expect(h).toMatchObject({ link: w.link.id, user: w.member.id });
    } finally {
      await listener.end();
    }
  });
});

describe("hash mask secret", () => {
  it("is created once per team even when asked concurrently, stored sealed, and re-sealed under a new key", async () => {
    const w = await world();
    const v = await world();
    const pool = new pg.Pool({ connectionString: meta.url, max: 8 });
    try {
      const secrets = await Promise.all(Array.from({ length: 8 }, () => teamMaskSecret(pool, w.team.id, keyring)));
      expect(secrets[0]).toHaveLength(32);
      for (const s of secrets) expect(s.equals(secrets[0]!)).toBe(true);
      expect(await prisma.teamMaskSecret.count({ where: { teamId: w.team.id } })).toBe(1);
      const other = await teamMaskSecret(pool, v.team.id, keyring);
      expect(other.equals(secrets[0]!)).toBe(false);
      const stored = await prisma.teamMaskSecret.findUniqueOrThrow({ where: { teamId: w.team.id } });
      expect(stored.secretCiphertext).not.toContain(secrets[0]!.toString("base64"));
      expect(stored.secretKeyId).toBe("k1");
      // Copied onto another team's row it does not open.
      await prisma.teamMaskSecret.update({ where: { teamId: v.team.id }, data: { secretCiphertext: stored.secretCiphertext } });
      await expect(teamMaskSecret(pool, v.team.id, keyring)).rejects.toThrow(/failed authentication/);
      await prisma.teamMaskSecret.delete({ where: { teamId: v.team.id } });

      const rotated = SecretKeyring.parse(`${generateSecretKey("k2")},${keyring.primary.id}:${keyring.primary.key.toString("base64")}`);
      const result = await reencryptMaskSecrets(pool, rotated);
      expect(result.remaining).toBe(0);
      expect(result.reencrypted).toBeGreaterThanOrEqual(1);
      expect((await prisma.teamMaskSecret.findUniqueOrThrow({ where: { teamId: w.team.id } })).secretKeyId).toBe("k2");
      expect((await teamMaskSecret(pool, w.team.id, SecretKeyring.parse(`k2:${rotated.primary.key.toString("base64")}`))).equals(secrets[0]!)).toBe(true);
      // `portcullis secrets reencrypt` (reencryptSecrets) re-seals them with the connections.
      const third = SecretKeyring.parse(`${generateSecretKey("k3")},k2:${rotated.primary.key.toString("base64")},k1:${keyring.primary.key.toString("base64")}`);
      const all = await reencryptSecrets(prisma, third);
      expect(all.remaining).toBe(0);
      expect((await prisma.teamMaskSecret.findUniqueOrThrow({ where: { teamId: w.team.id } })).secretKeyId).toBe("k3");
      expect((await teamMaskSecret(pool, w.team.id, third)).equals(secrets[0]!)).toBe(true);
      // Deleting the team deletes its secret.
      await prisma.team.delete({ where: { id: w.team.id } });
      expect(await prisma.teamMaskSecret.count({ where: { teamId: w.team.id } })).toBe(0);
    } finally {
      await pool.end();
    }
  });
});
