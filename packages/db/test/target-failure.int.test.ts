import { createServer, type Server, type Socket } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testConnectionFields, type ConnectionFields, type ConnectionTestResult } from "../src/operations/index.js";
import { describeTargetFailure } from "../src/target-failure.js";
import { parseTargetUrl, type TargetPolicy } from "../src/target.js";
import { createEmptyDatabase, freePort, testPgUrl, type TestDatabase } from "../src/testing/index.js";
import { startSshd, type TestSshd } from "../src/testing/sshd.js";

// Every stage the connection test names, each produced by a real failure: a name that does not resolve,
// a closed port, a silent server, the test cluster refusing a password or a database, a server without
// TLS, the operator's policy, and a real sshd refusing a key or offering another host key.
let target: TestDatabase;
let bastion: TestSshd;
let silent: Server;
let silentPort: number;
const sockets: Socket[] = [];

beforeAll(async () => {
  [target, bastion] = await Promise.all([createEmptyDatabase("failtarget"), startSshd()]);
  // Accepts TCP and never answers: what a hung server or a half-open firewall looks like.
  silent = createServer((socket) => sockets.push(socket));
  silentPort = await freePort();
  await new Promise<void>((resolve) => silent.listen(silentPort, "127.0.0.1", resolve));
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  silent?.close();
  await Promise.all([target?.drop(), bastion?.stop()]);
});

const open: TargetPolicy = { networks: "any", allowAddresses: new Set(), stackDatabases: new Set(["*"]), allowPowerfulRoles: true };
const base = (): ConnectionFields => ({ ...parseTargetUrl(target.url), sslMode: "disable" });
const run = (fields: ConnectionFields, policy: TargetPolicy = open) => testConnectionFields(fields, { policy, metadata: testPgUrl() });

function failedAt(result: ConnectionTestResult, stage: string, words: RegExp): void {
  expect(result, JSON.stringify(result)).toMatchObject({ ok: false, stage });
  expect(result.message).toMatch(words);
  expect(result.error).toBe(result.message);
}

/** The error a bare pg client meets, for the classification on its own (the gateway's path). */
async function pgError(config: pg.ClientConfig): Promise<unknown> {
  const client = new pg.Client(config);
  client.on("error", () => {});
  const error = await client.connect().then(() => undefined, (e: unknown) => e);
  void client.end().catch(() => {});
  expect(error, "the connection was expected to fail").toBeDefined();
  return error;
}

describe("describeTargetFailure, stage by stage, from real failures", () => {
  it("dns: a name that does not resolve", async () => {
    failedAt(await run({ ...base(), host: "no-such-host.invalid" }), "dns", /"no-such-host\.invalid" does not resolve/);
    const raw = await pgError({ host: "no-such-host.invalid", port: 5432, user: "u", database: "d" });
    expect(describeTargetFailure(raw, { ...base(), host: "no-such-host.invalid" }).stage).toBe("dns");
  });

  it("tcp: nothing listens on the port", async () => {
    const port = await freePort();
    failedAt(await run({ ...base(), port }), "tcp", new RegExp(`nothing is accepting connections at 127\\.0\\.0\\.1:${port}`));
  });

  it("timeout: the server accepts and never answers", async () => {
    const raw = await pgError({ host: "127.0.0.1", port: silentPort, user: "u", database: "d", connectionTimeoutMillis: 300 });
    const failure = describeTargetFailure(raw, { ...base(), port: silentPort });
    expect(failure.stage).toBe("timeout");
    expect(failure.message).toMatch(/timed out/);
  });

  it("pg_auth: a wrong password, in words, without echoing it", async () => {
    const result = await run({ ...base(), password: "not-the-password-4711" });
    failedAt(result, "pg_auth", /password authentication failed for user "portcullis"/);
    expect(JSON.stringify(result)).not.toContain("4711");
  });

  it("database_missing: a database that does not exist", async () => {
    failedAt(await run({ ...base(), database: "no_such_database" }), "database_missing", /database "no_such_database" does not exist/);
  });

  it("tls: TLS required of a server that has none", async () => {
    failedAt(await run({ ...base(), sslMode: "require" }), "tls", /does not support SSL/);
  });

  it("policy: an address the operator's networks exclude", async () => {
    const strict: TargetPolicy = { ...open, networks: "private" };
    const result = await run(base(), strict);
    failedAt(result, "policy", /loopback address.*TARGET_NETWORKS=private/);
    expect(result.code).toBe("target_refused");
  });
});

describe("the SSH stages, against a real sshd", () => {
  const viaBastion = (hop: Partial<NonNullable<ConnectionFields["ssh"]>["hops"][number]> = {}, fields: Partial<ConnectionFields> = {}): ConnectionFields => ({
    ...base(),
    ssh: {
      hops: [{ host: bastion.host, port: bastion.port, username: bastion.username, privateKey: bastion.clientKeys.ed25519.privateKey, hostKeySha256: bastion.hostKeyFingerprint, ...hop }],
    },
    ...fields,
  });

  it("the control: the right key and host key reach the database through the bastion", async () => {
    expect(await run(viaBastion())).toMatchObject({ ok: true, route: "ssh" });
  });

  it("ssh_host_key: unconfirmed, and different from the confirmed one", async () => {
    const first = await run(viaBastion({ hostKeySha256: null }));
    failedAt(first, "ssh_host_key", new RegExp(`offered host key ${bastion.hostKeyFingerprint.replace(/[+/]/g, "\\$&")}, which is not confirmed yet: confirm it`));
    expect(first.hostKeys).toEqual([{ position: 0, host: bastion.host, offered: bastion.hostKeyFingerprint, pinned: null }]);
    const other = `SHA256:${"A".repeat(43)}`;
    const changed = await run(viaBastion({ hostKeySha256: other }));
    failedAt(changed, "ssh_host_key", /but SHA256:A{43} is the confirmed one: refused/);
    expect(changed.hostKeys).toEqual([{ position: 0, host: bastion.host, offered: bastion.hostKeyFingerprint, pinned: other }]);
  });

  it("ssh_auth: a key the server does not accept, and a passphrase that does not open the key", async () => {
    failedAt(await run(viaBastion({ privateKey: bastion.clientKeys.unauthorized.privateKey })), "ssh_auth", /did not accept the private key for user/);
    failedAt(
      await run(viaBastion({ privateKey: bastion.clientKeys.rsaWithPassphrase.privateKey, passphrase: "not it" })),
      "ssh_auth",
      /passphrase does not open the private key/,
    );
  });

  it("tcp to the SSH server: nothing listens where the bastion should be", async () => {
    const port = await freePort();
    failedAt(await run(viaBastion({ port })), "tcp", new RegExp(`nothing is accepting SSH connections at 127\\.0\\.0\\.1:${port}`));
  });

  it("tcp behind the tunnel: the bastion cannot reach the database port", async () => {
    const port = await freePort();
    failedAt(await run(viaBastion({}, { port })), "tcp", new RegExp(`could not connect to 127\\.0\\.0\\.1:${port}|nothing is accepting connections at 127\\.0\\.0\\.1:${port} from there`));
  });

  it("ssh: the hop is not an SSH server (a PostgreSQL port)", async () => {
    const pgPort = parseTargetUrl(target.url).port;
    failedAt(await run(viaBastion({ port: pgPort })), "ssh", new RegExp(`SSH handshake with 127\\.0\\.0\\.1:${pgPort}.*failed.*check that 127\\.0\\.0\\.1:${pgPort} is an SSH server`));
  });

  it("timeout: an SSH server that accepts and never answers is named, not just the database", async () => {
    const result = await run(viaBastion({ port: silentPort }));
    expect(result, JSON.stringify(result)).toMatchObject({ ok: false, stage: "timeout" });
    expect(result.message).toMatch(new RegExp(`SSH route \\(127\\.0\\.0\\.1:${silentPort}\\) timed out|SSH server at 127\\.0\\.0\\.1:${silentPort}.*did not complete the handshake`));
  }, 30_000);

  it("dns for the SSH host", async () => {
    failedAt(await run(viaBastion({ host: "no-such-bastion.invalid" })), "dns", /the SSH host name "no-such-bastion\.invalid" does not resolve/);
  });
});
