import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import { PortcullisError } from "../src/errors.js";
import { addConnection, confirmHostKey, createTeam, reencryptSecrets, retestConnection, updateConnection, type ConnectionFields } from "../src/operations/index.js";
import { loadTargetRow } from "../src/operations/connection-stored.js";
import { generateSecretKey, SecretKeyring } from "../src/secrets/index.js";
import { SshHostKeyError } from "../src/ssh/errors.js";
import { openTargetRoute } from "../src/target-route.js";
import { parseTargetUrl, type TargetPolicy } from "../src/target.js";
import { createEmptyDatabase, createMetadataDatabase, type TestDatabase } from "../src/testing/index.js";
import { startSshd, type TestSshd } from "../src/testing/sshd.js";

// Two real OpenSSH servers (a jump host and a bastion) in front of the test cluster. The policy lets this
// machine dial only the SSH servers: a test that passes can only have reached the database through them.
let bastion: TestSshd;
let jump: TestSshd;
let meta: TestDatabase;
let target: TestDatabase;
let prisma: PrismaClient;
let teamId: string;
let otherTeamId: string;
const keyring = SecretKeyring.parse(generateSecretKey("k1"));
let policy: TargetPolicy;

beforeAll(async () => {
  [bastion, jump, meta, target] = await Promise.all([startSshd(), startSshd(), createMetadataDatabase(), createEmptyDatabase("sshtest")]);
  prisma = createPrismaClient(meta.url);
  const suffix = randomBytes(3).toString("hex");
  teamId = (await createTeam(prisma, { name: `SSH ${suffix}`, plan: "team" })).id;
  otherTeamId = (await createTeam(prisma, { name: `Other ${suffix}`, plan: "team" })).id;
  // The target shares the cluster with the metadata database (named allowed) and uses its superuser.
  policy = {
    networks: "public",
    allowAddresses: new Set([`127.0.0.1:${bastion.port}`, `127.0.0.1:${jump.port}`]),
    stackDatabases: new Set([target.name]),
    allowPowerfulRoles: true,
  };
}, 60_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await Promise.all([bastion?.stop(), jump?.stop(), meta?.drop(), target?.drop()]);
});

function fields(hops: TestSshd[], overrides: Partial<ConnectionFields> = {}): ConnectionFields {
  return {
    ...parseTargetUrl(target.url),
    sslMode: "disable",
    ssh: { hops: hops.map((s) => ({ host: s.host, port: s.port, username: s.username, privateKey: s.clientKeys.ed25519.privateKey })) },
    ...overrides,
  };
}

async function queryThrough(connectionId: string): Promise<string> {
  const { target: row } = await loadTargetRow(prisma, connectionId, teamId);
  const route = await openTargetRoute(row, { policy, keyring });
  const client = new pg.Client(route.config);
  client.on("error", () => {});
  try {
    await client.connect();
    return String((await client.query("SELECT current_database() AS db")).rows[0].db);
  } finally {
    await client.end().catch(() => {});
    await route.close();
  }
}

const hopRow = (connectionId: string, position = 0) => prisma.connectionSshHop.findUniqueOrThrow({ where: { connectionId_position: { connectionId, position } } });

async function refusal(promise: Promise<unknown>): Promise<PortcullisError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(PortcullisError);
  return error as PortcullisError;
}

describe("a host key's first use, end to end with a real sshd", () => {
  it("saves the connection unusable, shows the offered key, pins only that key, then queries through the tunnel", async () => {
    const saved = await addConnection(prisma, { teamId, name: "via-bastion", fields: fields([bastion]) }, keyring, { policy });
    expect(saved.status).toBe("error");
    expect(saved.lastTestResult).toMatchObject({
      ok: false,
      stage: "ssh_host_key",
      route: "ssh",
      hostKeys: [{ position: 0, host: bastion.host, offered: bastion.hostKeyFingerprint, pinned: null }],
    });
    expect((saved.lastTestResult as { message: string }).message).toContain(`offered host key ${bastion.hostKeyFingerprint}, which is not confirmed yet`);
    const seen = await hopRow(saved.id);
    expect(seen).toMatchObject({ hostKeySha256: null, hostKeySeenSha256: bastion.hostKeyFingerprint });

    // Unusable until confirmed: the route refuses the unconfirmed key.
    await expect(queryThrough(saved.id)).rejects.toBeInstanceOf(SshHostKeyError);

    // No blind pinning: another fingerprint (a real one, the jump host's) is refused, and so is another team.
    const wrong = await refusal(confirmHostKey(prisma, teamId, saved.id, 0, jump.hostKeyFingerprint, keyring, { policy }));
    expect(wrong.code).toBe("invalid_input");
    expect(wrong.message).toContain(`it offered ${bastion.hostKeyFingerprint}`);
    expect((await refusal(confirmHostKey(prisma, otherTeamId, saved.id, 0, bastion.hostKeyFingerprint, keyring, { policy }))).code).toBe("not_found");
    expect((await hopRow(saved.id)).hostKeySha256).toBeNull();

    const confirmed = await confirmHostKey(prisma, teamId, saved.id, 0, bastion.hostKeyFingerprint, keyring, { policy });
    expect(confirmed).toMatchObject({ pinned: true, test: { ok: true, route: "ssh" } });
    expect(await hopRow(saved.id)).toMatchObject({ hostKeySha256: bastion.hostKeyFingerprint, hostKeySeenSha256: null });
    expect((await prisma.connection.findUniqueOrThrow({ where: { id: saved.id } })).status).toBe("ok");
    expect(await queryThrough(saved.id)).toBe(target.name);
  });

  it("a key that changed later is refused and shown the same way (offered and pinned)", async () => {
    const saved = await addConnection(prisma, { teamId, name: "changed", fields: fields([bastion]) }, keyring, { policy });
    await confirmHostKey(prisma, teamId, saved.id, 0, bastion.hostKeyFingerprint, keyring, { policy });
    // The pinned key is no longer what the server presents (as after the bastion was replaced).
    await prisma.connectionSshHop.update({ where: { connectionId_position: { connectionId: saved.id, position: 0 } }, data: { hostKeySha256: jump.hostKeyFingerprint } });
    const result = await retestConnection(prisma, { teamId, connectionId: saved.id }, keyring, { policy });
    expect(result).toMatchObject({ ok: false, stage: "ssh_host_key", hostKeys: [{ position: 0, offered: bastion.hostKeyFingerprint, pinned: jump.hostKeyFingerprint }] });
    expect(result.message).toContain(`but ${jump.hostKeyFingerprint} is the confirmed one`);
    expect(await hopRow(saved.id)).toMatchObject({ hostKeySha256: jump.hostKeyFingerprint, hostKeySeenSha256: bastion.hostKeyFingerprint });
    expect((await prisma.connection.findUniqueOrThrow({ where: { id: saved.id } })).status).toBe("error");
    await expect(queryThrough(saved.id)).rejects.toBeInstanceOf(SshHostKeyError);
  });

  it("a jump host then a bastion: each hop's key is confirmed in turn, and the route works through both", async () => {
    const saved = await addConnection(prisma, { teamId, name: "via-jump", fields: fields([jump, bastion]) }, keyring, { policy });
    expect(saved.lastTestResult).toMatchObject({ stage: "ssh_host_key", hostKeys: [{ position: 0, offered: jump.hostKeyFingerprint }] });
    const first = await confirmHostKey(prisma, teamId, saved.id, 0, jump.hostKeyFingerprint, keyring, { policy });
    // The jump host is pinned; the test now reaches the bastion and stops at its first-seen key.
    expect(first).toMatchObject({ pinned: true, test: { ok: false, stage: "ssh_host_key", hostKeys: [{ position: 1, offered: bastion.hostKeyFingerprint, pinned: null }] } });
    expect((await hopRow(saved.id, 1)).hostKeySeenSha256).toBe(bastion.hostKeyFingerprint);
    const second = await confirmHostKey(prisma, teamId, saved.id, 1, bastion.hostKeyFingerprint, keyring, { policy });
    expect(second).toMatchObject({ pinned: true, test: { ok: true } });
    expect(await queryThrough(saved.id)).toBe(target.name);
  });

  it("never pins a key when the test with it reaches a server no test may accept (the metadata database)", async () => {
    const strict = { ...policy, stackDatabases: new Set<string>() };
    const metaFields = { ...fields([bastion]), ...parseTargetUrl(meta.url), sslMode: "disable" as const };
    const saved = await addConnection(prisma, { teamId, name: "to-metadata", fields: metaFields }, keyring, { policy: strict });
    const result = await confirmHostKey(prisma, teamId, saved.id, 0, bastion.hostKeyFingerprint, keyring, { policy: strict });
    expect(result).toMatchObject({ pinned: false, test: { ok: false, stage: "policy", code: "target_refused" } });
    expect(result.test.message).toMatch(/Portcullis's own PostgreSQL server/);
    expect((await hopRow(saved.id)).hostKeySha256).toBeNull();
  });

  it("keeps SSH keys and passphrases as ciphertext at rest, bound to their hop, re-sealed on rotation", async () => {
    const rsa = bastion.clientKeys.rsaWithPassphrase;
    const withPassphrase = fields([bastion]);
    withPassphrase.ssh!.hops[0] = { ...withPassphrase.ssh!.hops[0]!, privateKey: rsa.privateKey, passphrase: rsa.passphrase, hostKeySha256: bastion.hostKeyFingerprint };
    const saved = await addConnection(prisma, { teamId, name: "sealed-ssh", fields: withPassphrase }, keyring, { policy });
    // A fingerprint given with the fields (typed by the operator) is a confirmation: the test passes at once.
    expect(saved.status).toBe("ok");
    const raw = await prisma.$queryRawUnsafe<{ private_key_ciphertext: string; passphrase_ciphertext: string; team_id: string }[]>(
      "SELECT private_key_ciphertext, passphrase_ciphertext, team_id::text FROM connection_ssh_hops WHERE connection_id = $1::uuid",
      saved.id,
    );
    expect(raw).toHaveLength(1);
    expect(raw[0]!.team_id).toBe(teamId);
    expect(raw[0]!.private_key_ciphertext).toMatch(/^v1\.k1\./);
    expect(raw[0]!.passphrase_ciphertext).toMatch(/^v1\.k1\./);
    const text = JSON.stringify(raw);
    expect(text).not.toContain("PRIVATE KEY");
    expect(text).not.toContain(rsa.passphrase);
    expect(text).not.toContain(rsa.privateKey.split("\n")[1]!);

    // Moved to another position, the sealed key does not open (AAD names the hop).
    await prisma.$executeRawUnsafe("UPDATE connection_ssh_hops SET position = 1 WHERE connection_id = $1::uuid", saved.id);
    const moved = await retestConnection(prisma, { teamId, connectionId: saved.id }, keyring, { policy });
    expect(moved.ok).toBe(false);
    expect(moved.message).toMatch(/failed authentication/);
    await prisma.$executeRawUnsafe("UPDATE connection_ssh_hops SET position = 0 WHERE connection_id = $1::uuid", saved.id);

    const newKey = generateSecretKey("k2");
    const rotated = SecretKeyring.parse(`${newKey},k1:${keyring.primary.key.toString("base64")}`);
    expect((await reencryptSecrets(prisma, rotated)).remaining).toBe(0);
    expect((await hopRow(saved.id)).privateKeyCiphertext).toMatch(/^v1\.k2\./);
    expect((await hopRow(saved.id)).passphraseCiphertext).toMatch(/^v1\.k2\./);
    expect((await retestConnection(prisma, { teamId, connectionId: saved.id }, SecretKeyring.parse(newKey), { policy })).ok).toBe(true);
  });

  it("an edit keeps a hop's stored key and pinned host key for the same server and user, and asks again for another", async () => {
    const start = fields([bastion]);
    start.ssh!.hops[0]!.hostKeySha256 = bastion.hostKeyFingerprint;
    const saved = await addConnection(prisma, { teamId, name: "edited", fields: start }, keyring, { policy });
    const keep = fields([bastion]);
    delete keep.ssh!.hops[0]!.privateKey;
    const { test } = await updateConnection(prisma, { teamId, connectionId: saved.id, name: "edited", fields: keep }, keyring, { policy });
    expect(test).toMatchObject({ ok: true });
    expect((await hopRow(saved.id)).hostKeySha256).toBe(bastion.hostKeyFingerprint);
    // The stored key is never lent to another SSH server.
    const elsewhere = fields([jump]);
    delete elsewhere.ssh!.hops[0]!.privateKey;
    const refused = await refusal(updateConnection(prisma, { teamId, connectionId: saved.id, fields: elsewhere }, keyring, { policy }));
    expect(refused.message).toMatch(/enter the private key for .*no key is stored for that server and user/);
    expect((await refusal(updateConnection(prisma, { teamId: otherTeamId, connectionId: saved.id, fields: keep }, keyring, { policy }))).code).toBe("not_found");
  });
});
