import { AsyncLocalStorage } from "node:async_hooks";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { startSshd, type TestSshd } from "../../../packages/db/src/testing/sshd";
import { createActionWorld, loadActions, type ActionWorld, type Result, type Who } from "./support/action-world";

/**
 * The connection form's SSH tunnel through its real server actions, against a real OpenSSH bastion in
 * front of the test PostgreSQL: the test shows the offered host key, a save without it answers with
 * that test and writes nothing, the pinned key is what is stored, a stored first-use key is confirmed
 * only as seen, stored keys stay with their server, and members and viewers change nothing. Judged by
 * the connection and hop rows before and after.
 */
const jar = vi.hoisted(() => ({ store: undefined as { getStore(): string | undefined } | undefined }));
vi.mock("next/headers", () => ({
  cookies: async () => {
    const token = jar.store?.getStore();
    return {
      getAll: () => (token ? [{ name: "next-auth.session-token", value: token }] : []),
      get: (name: string) => (token && name === "next-auth.session-token" ? { name, value: token } : undefined),
    };
  },
  headers: async () => new Headers({ "user-agent": "vitest connections", "x-real-ip": "203.0.113.9" }),
}));
vi.mock("next/cache", () => ({ revalidatePath: () => {}, revalidateTag: () => {} }));

let world: ActionWorld;
let sshd: TestSshd;
let actions: Record<string, (input: unknown) => Promise<Result>>;
const sessions = new AsyncLocalStorage<string>();
jar.store = sessions;

function call(who: Who, name: string, input: unknown): Promise<Result> {
  return sessions.run(world.tokens[who], () => actions[name]!(input));
}

/** The form's values for the Chinook database behind the bastion. */
function values(name: string, hop: Record<string, unknown> = {}) {
  const url = new URL(world.chinook.url);
  return {
    name,
    mode: "fields",
    host: url.hostname,
    port: Number(url.port || 5432),
    database: url.pathname.slice(1),
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    sslMode: "disable",
    sshHops: [{ host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.clientKeys.ed25519.privateKey, ...hop }],
    replicas: [],
  };
}

/** Every row a connection change could touch, for before/after comparisons. */
async function rows(teamId = world.teamA) {
  const p = world.prisma;
  return JSON.stringify(
    await Promise.all([
      p.connection.findMany({ where: { teamId }, orderBy: { id: "asc" } }),
      p.connectionSshHop.findMany({ where: { teamId }, orderBy: [{ connectionId: "asc" }, { position: "asc" }] }),
      p.connectionReplica.findMany({ where: { teamId }, orderBy: { id: "asc" } }),
    ]),
  );
}

beforeAll(async () => {
  [world, sshd] = await Promise.all([createActionWorld("conn"), startSshd()]);
  actions = await loadActions([path.join(__dirname, "../src/features/connections/actions.ts")]);
}, 180_000);

afterAll(async () => {
  await sshd?.stop();
  await world?.drop();
});

describe("SSH tunnel in the connection form", () => {
  test("test shows the offered key; saving without it writes nothing; with it, the pinned key and sealed key are stored", async () => {
    const tested = await call("admin", "testConnectionAction", { teamId: world.teamA, values: values("tunnel") });
    expect(tested).toMatchObject({ ok: true, data: { ok: false, stage: "ssh_host_key", hostKeys: [{ position: 0, offered: sshd.hostKeyFingerprint, pinned: null }] } });

    const before = await rows();
    const unpinned = await call("admin", "createConnectionAction", { teamId: world.teamA, values: values("tunnel") });
    expect(unpinned).toMatchObject({ ok: true, data: { test: { ok: false, stage: "ssh_host_key" } } });
    expect(await rows()).toBe(before);

    const saved = await call("admin", "createConnectionAction", { teamId: world.teamA, values: values("tunnel", { hostKeySha256: sshd.hostKeyFingerprint }) });
    expect(saved).toMatchObject({ ok: true, data: { id: expect.any(String) } });
    const id = (saved as { data: { id: string } }).data.id;
    const hop = await world.prisma.connectionSshHop.findFirstOrThrow({ where: { connectionId: id } });
    expect(hop).toMatchObject({ teamId: world.teamA, host: sshd.host, port: sshd.port, hostKeySha256: sshd.hostKeyFingerprint });
    expect(hop.privateKeyCiphertext).not.toContain("PRIVATE KEY");
    expect((await world.prisma.connection.findUniqueOrThrow({ where: { id } })).status).toBe("ok");
    expect(sshd.log()).toContain("Accepted publickey");

    // The edit page gets whether a key is stored, never the key or its ciphertext.
    const { getConnection } = await import("../src/features/connections/operations");
    const { resolveTeam } = await import("../src/lib/authz");
    const page = JSON.stringify(await getConnection({ ...(await resolveTeam({ userId: world.users.admin }, world.teamA)), user: { userId: world.users.admin } } as never, id));
    expect(page).toContain('"keyStored":true');
    expect(page).not.toMatch(/PRIVATE KEY|Ciphertext|v1\./);
  }, 60_000);

  test("an edit keeps the stored key only for the same SSH server and user", async () => {
    const created = await call("admin", "createConnectionAction", { teamId: world.teamA, values: values("kept", { hostKeySha256: sshd.hostKeyFingerprint }) });
    const id = (created as { data: { id: string } }).data.id;
    const kept = await call("admin", "updateConnectionAction", { teamId: world.teamA, connectionId: id, values: { ...values("kept", { privateKey: undefined, hostKeySha256: sshd.hostKeyFingerprint }), password: "" } });
    // Blank key and password, same bastion and database: the stored ones are used, and the test passed.
    expect(kept).toMatchObject({ ok: true, data: { id } });

    const before = await rows();
    // Same key text left blank, but the hop now names another server: the stored key is not lent to it
    // (the password typed, so the key is what is refused).
    const moved = await call("admin", "updateConnectionAction", {
      teamId: world.teamA, connectionId: id, values: values("kept", { privateKey: undefined, host: "localhost", hostKeySha256: null }),
    });
    expect(moved).toMatchObject({ ok: false, code: "invalid_input" });
    expect((moved as { error: string }).error).toMatch(/private key/);
    expect(await rows()).toBe(before);
    // FX1: with the password blank, a changed route (hop moved, a replica added) never gets the stored one.
    for (const edit of [
      { ...values("kept", { privateKey: undefined, host: "localhost", hostKeySha256: null }), password: "" },
      { ...values("kept", { privateKey: undefined, hostKeySha256: sshd.hostKeyFingerprint }), password: "", replicas: [{ name: "r1", host: "127.0.0.1", port: sshd.port }] },
    ]) {
      for (const action of ["testConnectionAction", "updateConnectionAction"]) {
        const refused = await call("admin", action, { teamId: world.teamA, connectionId: id, values: edit });
        expect(refused, action).toMatchObject({ ok: false, code: "invalid_input", fieldErrors: { password: expect.stringMatching(/^re-enter the password: the connection's route changed/i) } });
      }
    }
    expect(await rows()).toBe(before);
  }, 60_000);

  test("a stored first-use key: members and viewers cannot confirm or edit; another fingerprint is refused; the seen one is pinned and works", async () => {
    const { addConnection, testConnectionFields } = await import("@portcullis/db/operations");
    const v = values("first-use");
    const fields = { host: v.host, port: v.port, database: v.database, username: v.username, password: v.password, sslMode: "disable" as const, ssh: { hops: v.sshHops } };
    const tested = await testConnectionFields(fields, { metadata: world.prisma });
    const row = await addConnection(world.prisma, { teamId: world.teamA, name: "first-use", fields, tested });
    expect((await world.prisma.connectionSshHop.findFirstOrThrow({ where: { connectionId: row.id } })).hostKeySeenSha256).toBe(sshd.hostKeyFingerprint);

    const confirm = { teamId: world.teamA, connectionId: row.id, position: 0, fingerprint: sshd.hostKeyFingerprint };
    for (const who of ["member", "viewer", "approver", "outsider"] as const) {
      const before = await rows();
      const attempts = await Promise.all([
        call(who, "confirmHostKeyAction", confirm),
        call(who, "updateConnectionAction", { teamId: world.teamA, connectionId: row.id, values: values("first-use", { hostKeySha256: sshd.hostKeyFingerprint }) }),
        call(who, "createConnectionAction", { teamId: world.teamA, values: values(`by-${who}`, { hostKeySha256: sshd.hostKeyFingerprint }) }),
        call(who, "deleteConnectionAction", { teamId: world.teamA, connectionId: row.id }),
      ]);
      for (const result of attempts) expect(result, who).toMatchObject({ ok: false, code: who === "outsider" ? "not_found" : "forbidden" });
      expect(await rows(), who).toBe(before);
    }

    const before = await rows();
    const other = "SHA256:" + "A".repeat(43);
    const refused = await call("admin", "confirmHostKeyAction", { ...confirm, fingerprint: other });
    expect(refused).toMatchObject({ ok: false, code: "invalid_input" });
    expect(await rows()).toBe(before);

    const pinned = await call("admin", "confirmHostKeyAction", confirm);
    expect(pinned).toMatchObject({ ok: true, data: { pinned: true, test: { ok: true } } });
    expect((await world.prisma.connectionSshHop.findFirstOrThrow({ where: { connectionId: row.id } })).hostKeySha256).toBe(sshd.hostKeyFingerprint);
    expect((await world.prisma.connection.findUniqueOrThrow({ where: { id: row.id } })).status).toBe("ok");
  }, 90_000);

  test("a wrong database password through the tunnel fails at the pg_auth stage, in words", async () => {
    const result = await call("admin", "testConnectionAction", { teamId: world.teamA, values: { ...values("wrong", { hostKeySha256: sshd.hostKeyFingerprint }), password: "not-the-password" } });
    expect(result).toMatchObject({ ok: true, data: { ok: false, stage: "pg_auth" } });
    expect((result as { data: { message: string } }).data.message).toMatch(/password/i);
  }, 60_000);
});
