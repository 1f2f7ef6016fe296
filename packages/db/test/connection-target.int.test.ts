import { randomBytes } from "node:crypto";
import { lookup } from "node:dns/promises";
import { connect } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import { PortcullisError } from "../src/errors.js";
import { addConnection, assertScopeAllowedForConnection, createTeam, createUser, retestConnection, testConnectionFields } from "../src/operations/index.js";
import { generateSecretKey, SecretKeyring } from "../src/secrets/index.js";
import { parseTargetUrl, resolveTargetClientConfig, targetPolicyFromEnv, type Resolver, type TargetPolicy } from "../src/target.js";
import { createEmptyDatabase, createMetadataDatabase, testPgUrl, testRedisUrl, type TestDatabase } from "../src/testing/index.js";

// The test cluster holds the metadata database AND the target databases, exactly like the demo stack
// where any signed-up user could add 127.0.0.1:54329 with the metadata superuser's credentials.
let meta: TestDatabase;
let other: TestDatabase;
let prisma: PrismaClient;
let teamId: string;
const keyring = SecretKeyring.parse(generateSecretKey("k1"));
const suffix = randomBytes(4).toString("hex");
const roles = { plain: `h6_plain_${suffix}`, creator: `h6_creator_${suffix}`, files: `h6_files_${suffix}`, via: `h6_via_${suffix}` };
const password = "a-test-password";
const superuser = parseTargetUrl(testPgUrl());

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: testPgUrl() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  [meta, other] = await Promise.all([createMetadataDatabase(), createEmptyDatabase("h6target")]);
  prisma = createPrismaClient(meta.url);
  const user = await createUser(prisma, { email: `h6-${suffix}@example.com`, password: "a long passphrase" });
  teamId = (await createTeam(prisma, { name: `H6 ${suffix}`, plan: "team", ownerId: user.id })).id;
  await admin(`CREATE ROLE ${roles.plain} LOGIN PASSWORD '${password}';
    CREATE ROLE ${roles.creator} LOGIN CREATEROLE PASSWORD '${password}';
    CREATE ROLE ${roles.via} NOLOGIN;
    GRANT pg_read_server_files TO ${roles.via};
    CREATE ROLE ${roles.files} LOGIN PASSWORD '${password}' IN ROLE ${roles.via};`);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await Promise.all([meta?.drop(), other?.drop()]);
  await admin(Object.values(roles).map((r) => `DROP ROLE IF EXISTS ${r};`).join(" ")).catch(() => {});
});

/** Everything on: only what the check under test can refuse. */
function policy(overrides: Partial<TargetPolicy> = {}): TargetPolicy {
  return { networks: "any", allowAddresses: new Set(), stackDatabases: new Set(), allowPowerfulRoles: false, ...overrides };
}

const metaFields = () => ({ ...parseTargetUrl(meta.url), sslMode: "disable" as const });
const otherFields = (username = roles.plain) => ({ ...parseTargetUrl(other.url), username, password, sslMode: "disable" as const });
const connectionCount = () => prisma.connection.count({ where: { teamId } });

async function refusal(promise: Promise<unknown>): Promise<PortcullisError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(PortcullisError);
  return error as PortcullisError;
}

describe("the stack's own PostgreSQL is never a target", () => {
  // An attacker's DNS name for the metadata server; every other name through the system resolver.
  const aliases: Resolver = async (host) =>
    host === "metadata-alias.example" ? [{ address: "127.0.0.1", family: 4 }] : lookup(host, { all: true });

  it.each([
    ["127.0.0.1", "the address up.sh prints"],
    ["localhost", "a name"],
    ["::ffff:127.0.0.1", "an IPv4-mapped IPv6 spelling"],
    ["metadata-alias.example", "a DNS alias"],
    ["2130706433", "a decimal spelling"],
  ])("refuses %s (%s) with the metadata superuser, and stores nothing", async (host) => {
    const before = await connectionCount();
    const error = await refusal(
      addConnection(prisma, { teamId, name: `stack-${host}`, fields: { ...metaFields(), host } }, keyring, { policy: policy(), resolve: aliases }),
    );
    expect(error.message).toMatch(/Portcullis's own PostgreSQL server/);
    expect(await connectionCount()).toBe(before);
  });

  it("refuses another database of the same cluster, whatever the role, unless the operator names it", async () => {
    const result = await testConnectionFields(otherFields(), { policy: policy(), metadata: prisma });
    expect(result).toMatchObject({ ok: false, code: "target_refused" });
    expect(result.error).toMatch(/own PostgreSQL server.*TARGET_STACK_DATABASES/);
    // The dashboard's path (no Prisma client at hand) identifies the stack through its URL.
    expect(await testConnectionFields(otherFields(), { policy: policy(), metadata: meta.url })).toMatchObject({ ok: false, code: "target_refused" });
    const allowed = policy({ stackDatabases: new Set([other.name]) });
    expect(await testConnectionFields(otherFields(), { policy: allowed, metadata: prisma })).toMatchObject({ ok: true });
  });

  it("never allows the metadata database itself, even when the operator allows every stack database", async () => {
    const result = await testConnectionFields({ ...metaFields(), username: roles.plain, password }, { policy: policy({ stackDatabases: new Set(["*"]) }), metadata: prisma });
    expect(result).toMatchObject({ ok: false, code: "target_refused" });
  });

  it("re-testing a stored connection applies the same refusal", async () => {
    // An operator's script stored it without a test (as fixtures do); the dashboard's re-test catches it.
    const row = await addConnection(prisma, { teamId, name: "stored-stack", fields: metaFields(), test: false }, keyring);
    const result = await retestConnection(prisma, row.id, keyring, { policy: policy() });
    expect(result).toMatchObject({ ok: false, code: "target_refused" });
    expect((await prisma.connection.findUniqueOrThrow({ where: { id: row.id } })).status).toBe("error");
    await prisma.connection.delete({ where: { id: row.id } });
  });
});

describe("the stack's own Redis is never a target", () => {
  it("refuses the Redis address and port without opening a PostgreSQL session to it", async () => {
    const redis = new URL(testRedisUrl());
    const port = Number(redis.port);
    const connectionsBefore = await redisStat("total_connections_received");
    for (const host of ["127.0.0.1", "localhost", "127.0.0.2", "::ffff:127.0.0.1"]) {
      const result = await testConnectionFields(
        { host, port, database: "x", username: "x", password: "x", sslMode: "disable" },
        { policy: policy({ redis: { host: redis.hostname, port } }), metadata: prisma, resolve: async (h) => [{ address: h === "localhost" ? "127.0.0.1" : h, family: 4 }] },
      );
      expect(result, host).toMatchObject({ ok: false, code: "target_refused" });
      expect(result.error).toMatch(/own Redis/);
    }
    // One connection: the stat query itself.
    expect(await redisStat("total_connections_received")).toBe(connectionsBefore + 1);
  });
});

describe("network placement follows TARGET_NETWORKS", () => {
  const fields = (host: string) => ({ host, port: 5432, database: "d", username: "u", password: "p", sslMode: "disable" as const });

  it("refuses loopback, link-local (cloud metadata) and private addresses unless the operator allows them", async () => {
    const strict = policy({ networks: "public" });
    const privateOnly = policy({ networks: "private" });
    const cases: [string, TargetPolicy, RegExp][] = [
      ["127.0.0.1", privateOnly, /loopback/],
      // Spellings the system resolver turns into 127.0.0.1: the resolved address is what is judged.
      ["2130706433", privateOnly, /\(127\.0\.0\.1\) is a loopback/],
      ["0x7f000001", privateOnly, /loopback/],
      ["127.1", privateOnly, /loopback/],
      ["0177.0.0.1", privateOnly, /loopback/],
      ["0.0.0.0", privateOnly, /loopback/],
      ["::1", privateOnly, /loopback/],
      ["169.254.169.254", privateOnly, /link-local/],
      ["fe80::1", privateOnly, /link-local/],
      ["::ffff:169.254.169.254", privateOnly, /link-local/],
      ["64:ff9b::7f00:1", privateOnly, /loopback/],
      ["10.1.2.3", strict, /private/],
      ["fd00::1", strict, /private/],
      ["224.0.0.1", policy(), /multicast or reserved/],
    ];
    for (const [host, p, reason] of cases) {
      const result = await testConnectionFields(fields(host), { policy: p, metadata: prisma });
      expect(result, host).toMatchObject({ ok: false, code: "target_refused" });
      expect(result.error, host).toMatch(reason);
    }
  });

  it("never reaches a local socket: a socket directory or an empty host resolves to nothing and is refused", async () => {
    const probe = new pg.Client({ connectionString: testPgUrl() });
    await probe.connect();
    const socketDir = String((await probe.query("SHOW unix_socket_directories")).rows[0].unix_socket_directories).split(",")[0]!.trim();
    await probe.end();
    // The attack is real: node-postgres given that directory as the host opens a local socket session.
    const direct = new pg.Client({ ...otherFields(), user: superuser.username, password: superuser.password, host: socketDir, port: otherFields().port });
    await direct.connect();
    await direct.end();
    for (const host of [socketDir, "/tmp", "", "  "]) {
      const result = await testConnectionFields({ ...otherFields(), host }, { policy: policy({ stackDatabases: new Set([other.name]) }), metadata: prisma });
      expect(result, JSON.stringify(host)).toMatchObject({ ok: false, code: "ENOTFOUND" });
    }
  });

  it("checks every address a name resolves to (a public answer cannot smuggle a loopback one)", async () => {
    const rebinding: Resolver = async () => [{ address: "93.184.215.14", family: 4 }, { address: "127.0.0.1", family: 4 }];
    const result = await testConnectionFields(fields("rebind.example"), { policy: policy({ networks: "private" }), metadata: prisma, resolve: rebinding });
    expect(result).toMatchObject({ ok: false, code: "target_refused" });
    expect(result.error).toMatch(/rebind\.example \(127\.0\.0\.1\) is a loopback address/);
  });

  it("connects to the address it checked, not to a second resolution of the name", async () => {
    // The system resolver cannot resolve .invalid names: the test only succeeds if the session went to
    // the address the check resolved and approved.
    const resolve: Resolver = async () => [{ address: "127.0.0.1", family: 4 }];
    const p = policy({ networks: "public", allowAddresses: new Set([`127.0.0.1:${otherFields().port}`]), stackDatabases: new Set([other.name]) });
    const result = await testConnectionFields({ ...otherFields(), host: "pinned.invalid" }, { policy: p, metadata: prisma, resolve });
    expect(result).toMatchObject({ ok: true });
    // The allowance is for that address and port only.
    const elsewhere = await testConnectionFields({ ...otherFields(), port: 1 }, { policy: p, metadata: prisma });
    expect(elsewhere).toMatchObject({ ok: false, code: "target_refused" });
  });

  it("reads its settings from the environment, strict by default", () => {
    const defaults = targetPolicyFromEnv({});
    expect(defaults.networks).toBe("private");
    expect(defaults.allowPowerfulRoles).toBe(false);
    const demo = targetPolicyFromEnv({
      TARGET_NETWORKS: "public",
      TARGET_ALLOW_ADDRESSES: "127.0.0.1:54329, [::1]:5432",
      TARGET_STACK_DATABASES: "chinook",
      REDIS_URL: "redis://:secret@127.0.0.1:63799",
    });
    expect([...demo.allowAddresses]).toEqual(["127.0.0.1:54329", "0:0:0:0:0:0:0:1:5432"]);
    expect([...demo.stackDatabases]).toEqual(["chinook"]);
    expect(demo.redis).toEqual({ host: "127.0.0.1", port: 63799 });
    expect(() => targetPolicyFromEnv({ TARGET_NETWORKS: "everything" })).toThrow(/TARGET_NETWORKS/);
  });
});

describe("powerful target roles", () => {
  const onOther = (extra: Partial<TargetPolicy> = {}) => policy({ stackDatabases: new Set([other.name]), ...extra });

  it.each([
    ["superuser", () => ({ ...parseTargetUrl(other.url), username: superuser.username, password: superuser.password }), /is a superuser/],
    ["CREATEROLE", () => otherFields(roles.creator), /has CREATEROLE/],
    ["inherited pg_read_server_files", () => otherFields(roles.files), /member of pg_read_server_files/],
  ])("a %s role is refused on save with an explanation, and nothing is stored", async (_kind, fields, why) => {
    const before = await connectionCount();
    const error = await refusal(addConnection(prisma, { teamId, name: `powerful-${_kind}`, fields: { ...fields(), sslMode: "disable" } }, keyring, { policy: onOther() }));
    expect(error.message).toMatch(why);
    expect(error.message).toMatch(/CREATE ROLE portcullis_reader LOGIN/);
    expect(await connectionCount()).toBe(before);
  });

  it("a least-privilege role is saved with its facts recorded", async () => {
    const row = await addConnection(prisma, { teamId, name: "plain", fields: otherFields() }, keyring, { policy: onOther() });
    expect(row.status).toBe("ok");
    expect(row.rolePrivileges).toMatchObject({ role: roles.plain, superuser: false, createRole: false, serverRoles: [] });
    expect(() => assertScopeAllowedForConnection(row, { access: "admin" }, { allowPowerfulRoles: false })).not.toThrow();
    await prisma.connection.delete({ where: { id: row.id } });
  });

  it("when the operator allows powerful roles, they are saved but never get an admin link", async () => {
    const fields = { ...parseTargetUrl(other.url), username: superuser.username, password: superuser.password, sslMode: "disable" as const };
    const row = await addConnection(prisma, { teamId, name: "allowed-superuser", fields }, keyring, { policy: onOther({ allowPowerfulRoles: true }) });
    const stored = await prisma.connection.findUniqueOrThrow({ where: { id: row.id } });
    expect(stored.rolePrivileges).toMatchObject({ superuser: true });
    const allowing = { allowPowerfulRoles: true };
    expect(() => assertScopeAllowedForConnection(stored, { access: "read" }, allowing)).not.toThrow();
    expect(() => assertScopeAllowedForConnection(stored, { access: "read", tables: { album: { access: "write" } } }, allowing)).not.toThrow();
    for (const scope of [{ access: "admin" }, { access: "read", tables: { album: { access: "admin" } } }])
      expect(() => assertScopeAllowedForConnection(stored, scope, allowing)).toThrow(/admin access is refused on this connection: the role "portcullis" is a superuser/);
    // The operator withdrew the allowance: no link of any kind on it.
    expect(() => assertScopeAllowedForConnection(stored, { access: "read" }, { allowPowerfulRoles: false })).toThrow(/links on this connection are refused/);
    await prisma.connection.delete({ where: { id: row.id } });
  });

  it("a role made powerful after saving is caught by the next test, and its facts are updated", async () => {
    const role = `h6_later_${suffix}`;
    await admin(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    try {
      const row = await addConnection(prisma, { teamId, name: "later", fields: otherFields(role) }, keyring, { policy: onOther() });
      await admin(`GRANT pg_execute_server_program TO ${role}`);
      const result = await retestConnection(prisma, row.id, keyring, { policy: onOther() });
      expect(result).toMatchObject({ ok: false, code: "powerful_role" });
      expect(result.error).toMatch(/member of pg_execute_server_program/);
      const stored = await prisma.connection.findUniqueOrThrow({ where: { id: row.id } });
      expect(stored.status).toBe("error");
      expect(stored.rolePrivileges).toMatchObject({ serverRoles: ["pg_execute_server_program"] });
      expect(() => assertScopeAllowedForConnection(stored, { access: "read" }, { allowPowerfulRoles: false })).toThrow(PortcullisError);
      await prisma.connection.delete({ where: { id: row.id } });
    } finally {
      await admin(`DROP ROLE IF EXISTS ${role}`);
    }
  });
});

/** A counter from Redis's INFO stats, over a raw socket (no client library needed for one command). */
function redisStat(name: string): Promise<number> {
  const url = new URL(testRedisUrl());
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let data = "";
    socket.on("error", reject);
    socket.on("data", (chunk) => {
      data += chunk.toString();
      const match = new RegExp(`${name}:(\\d+)`).exec(data);
      if (match && data.endsWith("\r\n")) {
        socket.end();
        resolve(Number(match[1]));
      }
    });
    socket.write(`${url.password ? `AUTH ${decodeURIComponent(url.password)}\r\n` : ""}INFO stats\r\n`);
  });
}

describe("sessions opened later (gateway pools, worker)", () => {
  it("re-check the stored host at connect time and pin the session: a name rebound to loopback is refused", async () => {
    const row = await addConnection(prisma, { teamId, name: "rebound", fields: { ...otherFields(), host: "db.rebind.invalid" }, test: false }, keyring);
    const strict = policy({ networks: "private" });
    // Saved while it pointed at a public address; now the attacker's DNS answers 127.0.0.1.
    await expect(resolveTargetClientConfig(row, strict, keyring, async () => [{ address: "127.0.0.1", family: 4 }])).rejects.toThrow(/loopback address/);
    const config = await resolveTargetClientConfig(row, policy(), keyring, async () => [{ address: "127.0.0.1", family: 4 }]);
    expect(config.host).toBe("127.0.0.1");
    const client = new pg.Client(config);
    await client.connect();
    try {
      expect((await client.query("SELECT current_user AS u")).rows[0].u).toBe(roles.plain);
    } finally {
      await client.end();
    }
    await prisma.connection.delete({ where: { id: row.id } });
  });
});

describe("the application's own role", () => {
  it("saves inside a transaction as a non-superuser metadata role (the identity check raises no error that would abort it)", async () => {
    const appRole = `h6_app_${suffix}`;
    await admin(`CREATE ROLE ${appRole} LOGIN PASSWORD '${password}'`);
    const grant = new pg.Client({ connectionString: meta.url });
    await grant.connect();
    // An operator may revoke pg_control_system() (readable by every role on a stock server): the
    // identity then rests on the start time, and the attempt must not abort the caller's transaction.
    await grant.query(`GRANT USAGE ON SCHEMA public TO ${appRole}; GRANT ALL ON ALL TABLES IN SCHEMA public TO ${appRole};
      REVOKE EXECUTE ON FUNCTION pg_catalog.pg_control_system() FROM PUBLIC`);
    await grant.end();
    const url = new URL(meta.url);
    url.username = appRole;
    url.password = password;
    const asApp = createPrismaClient(url.toString());
    try {
      const row = await asApp.$transaction((tx) =>
        addConnection(tx as unknown as PrismaClient, { teamId, name: "in-transaction", fields: otherFields() }, keyring, { policy: policy({ stackDatabases: new Set([other.name]) }) }),
      );
      expect(await prisma.connection.count({ where: { id: row.id } })).toBe(1);
      // And the stack is still recognised from that role (by start time, the system identifier being unreadable to it).
      const refused = await asApp.$transaction((tx) => testConnectionFields(otherFields(), { policy: policy(), metadata: tx as unknown as PrismaClient }));
      expect(refused).toMatchObject({ ok: false, code: "target_refused" });
      await prisma.connection.delete({ where: { id: row.id } });
    } finally {
      await asApp.$disconnect();
      const revoke = new pg.Client({ connectionString: meta.url });
      await revoke.connect();
      await revoke.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${appRole}; REVOKE USAGE ON SCHEMA public FROM ${appRole};
        GRANT EXECUTE ON FUNCTION pg_catalog.pg_control_system() TO PUBLIC`);
      await revoke.end();
      await admin(`DROP ROLE IF EXISTS ${appRole}`);
    }
  });
});
