import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import { promisify } from "node:util";
import ssh2 from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import { PortcullisError } from "../src/errors.js";
import {
  addConnection,
  completeFieldsFromStored,
  confirmHostKey,
  createTeam,
  recordOfferedForStoredHops,
  testConnectionFields,
  updateConnection,
  type ConnectionFields,
} from "../src/operations/index.js";
import { generateSecretKey, SecretKeyring } from "../src/secrets/index.js";
import { hostKeyFingerprint } from "../src/ssh/fingerprint.js";
import { parseTargetUrl, type TargetPolicy } from "../src/target.js";
import { createEmptyDatabase, createMetadataDatabase, type TestDatabase } from "../src/testing/index.js";
import { startSshd, type TestSshd } from "../src/testing/sshd.js";

// Attack finding 1: a team admin edits a stored connection, leaves the password blank ("keep it") and
// changes where it goes — a replica, an SSH hop in front, the TLS protection. Every such edit must be
// refused before anything is dialled: the attacker's fake PostgreSQL asks for a cleartext password and
// records every password message it gets; it must never get one.
const run = promisify(execFile);
const keyring = SecretKeyring.parse(generateSecretKey("k1"));

interface FakePostgres {
  port: number;
  passwords: string[];
  close(): void;
}

/** Startup → (SSLRequest answered 'S' with `cert`, or 'N') → AuthenticationCleartextPassword → records the 'p' message. */
async function startFakePostgres(cert?: { key: string; cert: string }): Promise<FakePostgres> {
  const passwords: string[] = [];
  const speak = (socket: net.Socket | tls.TLSSocket) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 5) {
        if (buf[0] === 0x70) {
          const len = buf.readInt32BE(1);
          if (buf.length < 1 + len) return;
          passwords.push(buf.subarray(5, len).toString().replace(/\0$/, ""));
          socket.end();
          return;
        }
        const len = buf.readInt32BE(0);
        if (buf.length < len) return;
        const code = buf.readInt32BE(4);
        buf = buf.subarray(len);
        if (code === 80877103) {
          if (!cert || socket instanceof tls.TLSSocket) {
            socket.write("N");
            continue;
          }
          socket.off("data", onData);
          socket.write("S");
          const secure = new tls.TLSSocket(socket, { isServer: true, key: cert.key, cert: cert.cert });
          secure.on("error", () => {});
          speak(secure);
          return;
        }
        const ask = Buffer.alloc(9);
        ask.write("R", 0);
        ask.writeInt32BE(8, 1);
        ask.writeInt32BE(3, 5);
        socket.write(ask);
      }
    };
    socket.on("data", onData);
    socket.on("error", () => {});
  };
  const server = net.createServer((socket) => speak(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as net.AddressInfo).port, passwords, close: () => server.close() };
}

/** A CA and certificates made by openssl, as an attacker (or a shared internal CA) would have them. */
async function certificates() {
  const dir = await mkdtemp(path.join(tmpdir(), "fx1-certs-"));
  const ssl = (...args: string[]) => run("openssl", args, { cwd: dir });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  for (const ca of ["legit", "attacker"]) await ssl("req", "-x509", "-new", ...ec, "-keyout", `${ca}.key`, "-out", `${ca}.crt`, "-days", "2", "-subj", `/CN=${ca} CA`);
  const issue = async (name: string, ca: string, altNames: string) => {
    await ssl("req", "-new", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
    await writeFile(path.join(dir, `${name}.ext`), `subjectAltName=${altNames}\n`);
    await ssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-out", `${name}.crt`, "-days", "2", "-extfile", `${name}.ext`);
  };
  // The attacker's own CA can name any server; the shared CA signed the attacker's real host evil.internal.
  await issue("forged", "attacker", "IP:127.0.0.1,DNS:db.internal");
  await issue("evil", "legit", "DNS:evil.internal");
  const read = (f: string) => readFile(path.join(dir, f), "utf8");
  const out = {
    legitCa: await read("legit.crt"),
    attackerCa: await read("attacker.crt"),
    forged: { key: await read("forged.key"), cert: await read("forged.crt") },
    evil: { key: await read("evil.key"), cert: await read("evil.crt") },
  };
  await rm(dir, { recursive: true, force: true });
  return out;
}

let meta: TestDatabase;
let target: TestDatabase;
let prisma: PrismaClient;
let teamId: string;
let policy: TargetPolicy;
let plain: FakePostgres;
let forged: FakePostgres;
let evil: FakePostgres;
let certs: Awaited<ReturnType<typeof certificates>>;
let bastion: ssh2.Server;
let bastionPort: number;
let bastionFingerprint: string;
let bastionLogins = 0;
let sshd: TestSshd;
const attackerKey = ssh2.utils.generateKeyPairSync("ed25519").private;
const storedHopKey = ssh2.utils.generateKeyPairSync("ed25519").private;

beforeAll(async () => {
  [meta, target, certs, sshd] = await Promise.all([createMetadataDatabase(), createEmptyDatabase("reuse"), certificates(), startSshd()]);
  [plain, forged, evil] = await Promise.all([startFakePostgres(), startFakePostgres(certs.forged), startFakePostgres(certs.evil)]);
  // The attacker's bastion: any login is welcome, and every forward, whatever it asks for, reaches the fake.
  const hostKey = ssh2.utils.generateKeyPairSync("ed25519");
  bastionFingerprint = hostKeyFingerprint((ssh2.utils.parseKey(hostKey.public) as ssh2.ParsedKey).getPublicSSH());
  bastion = new ssh2.Server({ hostKeys: [hostKey.private] }, (client) => {
    client.on("authentication", (ctx) => ctx.accept());
    client.on("ready", () => {
      bastionLogins++;
      client.on("tcpip", (accept) => {
        const channel = accept();
        const socket = net.connect(plain.port, "127.0.0.1");
        socket.on("error", () => {});
        channel.pipe(socket).pipe(channel);
      });
    });
    client.on("error", () => {});
  });
  await new Promise<void>((resolve) => bastion.listen(0, "127.0.0.1", resolve));
  bastionPort = (bastion.address() as net.AddressInfo).port;
  prisma = createPrismaClient(meta.url);
  teamId = (await createTeam(prisma, { name: `Reuse ${randomBytes(3).toString("hex")}`, plan: "team" })).id;
  await prisma.team.update({ where: { id: teamId }, data: { maxConnections: null } });
  const real = parseTargetUrl(target.url);
  policy = {
    networks: "public",
    allowAddresses: new Set([plain, forged, evil].map((f) => `127.0.0.1:${f.port}`).concat(`127.0.0.1:${bastionPort}`, `127.0.0.1:${real.port}`, `127.0.0.1:${sshd.port}`)),
    stackDatabases: new Set([target.name]),
    allowPowerfulRoles: true,
  };
}, 60_000);

afterAll(async () => {
  await prisma?.$disconnect();
  for (const fake of [plain, forged, evil]) fake?.close();
  bastion?.close();
  await Promise.all([meta?.drop(), target?.drop(), sshd?.stop()]);
});

/** The real test database, reachable directly with its real password: the stored connection. */
const primary = (overrides: Partial<ConnectionFields> = {}): ConnectionFields => ({ ...parseTargetUrl(target.url), sslMode: "disable", ...overrides });
const overTls = (port: number): ConnectionFields =>
  primary({ host: "127.0.0.1", port, password: `tls-${randomBytes(6).toString("hex")}`, sslMode: "verify_full", sslCaCert: certs.legitCa, tls: { serverName: "db.internal" } });

let serial = 0;
async function store(fields: ConnectionFields) {
  // Stored as an operator's fixture (untested): these routes lead nowhere real on purpose.
  return addConnection(prisma, { teamId, name: `stored-${++serial}`, fields, test: false }, keyring);
}

async function refused(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(PortcullisError);
  expect((error as PortcullisError).code).toBe("invalid_input");
  return (error as PortcullisError).message;
}

/** The dashboard's Test (complete, then test the unsaved fields) and Save; neither may dial the fake. */
async function attack(stored: ConnectionFields, edit: ConnectionFields, words: RegExp) {
  const row = await store(stored);
  const before = await prisma.connection.findUniqueOrThrow({ where: { id: row.id }, include: { sshHops: true, replicas: true } });
  const logins = bastionLogins;
  for (const fake of [plain, forged, evil]) fake.passwords.length = 0;
  const outcome = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);
  const tested = await outcome(completeFieldsFromStored(prisma, teamId, row.id, edit, keyring).then((f) => testConnectionFields(f, { policy, metadata: prisma })));
  const saved = await outcome(updateConnection(prisma, { teamId, connectionId: row.id, fields: edit }, keyring, { policy }));
  // First what matters: the stored password reached no fake server, and no stored key logged in anywhere.
  for (const fake of [plain, forged, evil]) expect(fake.passwords).toEqual([]);
  expect(bastionLogins).toBe(logins);
  expect(await refused(Promise.reject(tested))).toMatch(words);
  expect(await refused(Promise.reject(saved))).toMatch(words);
  expect(String((tested as Error).message)).not.toContain(stored.password);
  expect(await prisma.connection.findUniqueOrThrow({ where: { id: row.id }, include: { sshHops: true, replicas: true } })).toEqual(before);
}

const routeChanged = (why: string) => new RegExp(`^re-enter the password: the connection's route changed \\(${why}\\)`);
const hop = (host: string, port: number, extra: Partial<NonNullable<ConnectionFields["ssh"]>["hops"][number]> = {}) => ({ host, port, username: "deploy", ...extra });

describe("a kept password goes nowhere but where it was saved for", () => {
  it("a replica added in the same edit", async () => {
    await attack(primary(), primary({ password: "", replicas: [{ name: "r1", host: "127.0.0.1", port: plain.port }] }), routeChanged("replica r1 is new or moved"));
  });

  it("a replica moved to another server", async () => {
    const replicas = [{ name: "r1", host: "replica.internal.example", port: 5432 }];
    await attack(primary({ replicas }), primary({ password: "", replicas: [{ name: "r1", host: "127.0.0.1", port: plain.port }] }), routeChanged("replica r1 is new or moved"));
  });

  it("an SSH hop added in front (the attacker's bastion, its key pinned in the form)", async () => {
    const edit = primary({ password: "", ssh: { hops: [hop("127.0.0.1", bastionPort, { username: "mallory", privateKey: attackerKey, hostKeySha256: bastionFingerprint })] } });
    await attack(primary(), edit, routeChanged("the SSH route changed"));
  });

  it("an SSH hop moved to another host (the stored key kept too)", async () => {
    const stored = primary({ ssh: { hops: [hop("bastion.internal.example", 22, { privateKey: storedHopKey, hostKeySha256: `SHA256:${"B".repeat(43)}` })] } });
    const edit = primary({ password: "", ssh: { hops: [hop("127.0.0.1", bastionPort, { privateKey: attackerKey, hostKeySha256: bastionFingerprint })] } });
    await attack(stored, edit, routeChanged("the SSH route changed"));
  });

  it("a host key pin supplied by the form for a stored, unconfirmed hop", async () => {
    const stored = primary({ ssh: { hops: [hop("127.0.0.1", bastionPort, { privateKey: storedHopKey, hostKeySha256: null })] } });
    await attack(stored, primary({ password: "", ssh: { hops: [hop("127.0.0.1", bastionPort, { hostKeySha256: bastionFingerprint })] } }), routeChanged("the SSH route changed"));
    // The password typed, the stored SSH key kept: the form's pin is still not trusted with that key.
    const typed = primary({ ssh: { hops: [hop("127.0.0.1", bastionPort, { hostKeySha256: bastionFingerprint })] } });
    await attack(stored, typed, /^hop 1 \(127\.0\.0\.1:\d+\): a host key from the form is not trusted while stored secrets are kept/);
  });

  it("the TLS mode lowered to disable", async () => {
    await attack(overTls(plain.port), { ...overTls(plain.port), password: "", sslMode: "disable" }, routeChanged("the TLS mode changed"));
  });

  it("the CA changed to one that signed the attacker's certificate", async () => {
    await attack(overTls(forged.port), { ...overTls(forged.port), password: "", sslCaCert: certs.attackerCa }, routeChanged("the CA certificate changed"));
  });

  it("the server name changed to another host the same CA signed", async () => {
    await attack(overTls(evil.port), { ...overTls(evil.port), password: "", tls: { serverName: "evil.internal" } }, routeChanged("the TLS server name changed"));
  });
});

describe("the legitimate edit", () => {
  it("same route, blank password: tested with the stored password and saved under the new name", async () => {
    const row = await store(primary({ replicas: [{ name: "r1", host: "replica.internal.example", port: 5432 }] }));
    // A replica removed sends nothing anywhere new.
    const same = primary({ password: "" });
    const tested = await completeFieldsFromStored(prisma, teamId, row.id, same, keyring).then((f) => testConnectionFields(f, { policy, metadata: prisma }));
    expect(tested).toMatchObject({ ok: true, route: "direct" });
    const { connection, test } = await updateConnection(prisma, { teamId, connectionId: row.id, name: "renamed", fields: same }, keyring, { policy });
    expect(test).toMatchObject({ ok: true });
    expect(connection).toMatchObject({ name: "renamed", status: "ok" });
    expect(keyring.open(connection.secretCiphertext, row.id)).toBe(primary().password);
  });

  it("every secret typed again: a new route with the form's pin is the operator's to test", async () => {
    const row = await store(primary());
    const fields = primary({ ssh: { hops: [hop("127.0.0.1", bastionPort, { username: "mallory", privateKey: attackerKey, hostKeySha256: bastionFingerprint })] } });
    const complete = await completeFieldsFromStored(prisma, teamId, row.id, fields, keyring);
    expect(complete.ssh?.hops[0]?.hostKeySha256).toBe(bastionFingerprint);
  });
});

describe("confirming a saved hop's key from the edit form", () => {
  it("the Test of the unchanged route records what the stored hop offered; confirmHostKey pins only that, and the kept secrets then work", async () => {
    const viaSshd = (hostKeySha256: string | null, privateKey?: string) =>
      primary({ password: privateKey ? primary().password : "", ssh: { hops: [{ host: sshd.host, port: sshd.port, username: sshd.username, privateKey, hostKeySha256 }] } });
    const row = await store(viaSshd(null, sshd.clientKeys.ed25519.privateKey));
    const edit = viaSshd(null);
    const first = await testConnectionFields(await completeFieldsFromStored(prisma, teamId, row.id, edit, keyring), { policy, metadata: prisma });
    expect(first).toMatchObject({ ok: false, stage: "ssh_host_key", hostKeys: [{ position: 0, offered: sshd.hostKeyFingerprint, pinned: null }] });
    // A key offered on another route (the hop moved to the attacker's bastion) is not recorded for this hop.
    const moved = { ...first, hostKeys: [{ position: 0, host: "127.0.0.1", offered: bastionFingerprint, pinned: null }] };
    await recordOfferedForStoredHops(prisma, teamId, row.id, primary({ ssh: { hops: [{ host: "127.0.0.1", port: bastionPort, username: "deploy" }] } }), moved);
    expect((await prisma.connectionSshHop.findFirstOrThrow({ where: { connectionId: row.id } })).hostKeySeenSha256).toBeNull();

    await recordOfferedForStoredHops(prisma, teamId, row.id, edit, first);
    expect((await prisma.connectionSshHop.findFirstOrThrow({ where: { connectionId: row.id } })).hostKeySeenSha256).toBe(sshd.hostKeyFingerprint);
    expect(await confirmHostKey(prisma, teamId, row.id, 0, sshd.hostKeyFingerprint, keyring, { policy })).toMatchObject({ pinned: true, test: { ok: true } });
    // The form now sends the pinned key back with blank secrets: the same route, so the stored ones are used.
    const again = await testConnectionFields(await completeFieldsFromStored(prisma, teamId, row.id, viaSshd(sshd.hostKeyFingerprint), keyring), { policy, metadata: prisma });
    expect(again).toMatchObject({ ok: true, route: "ssh" });
  }, 60_000);
});

// Round 2, L1: the password typed again, hop 1 kept with its key blank, and where the bastion forwards
// changed. The stored key would then open the bastion towards any host and port it reaches (the Test's
// stages turning that into a scan of the inside network). The real sshd must see no login at all.
describe("a kept hop key opens only the route it was saved for", () => {
  const logins = () => (sshd.log().match(/Accepted publickey/g) ?? []).length;
  const viaSshd = (privateKey: string | undefined, overrides: Partial<ConnectionFields> = {}, later: ReturnType<typeof hop>[] = []) =>
    primary({ ...overrides, ssh: { hops: [{ host: sshd.host, port: sshd.port, username: sshd.username, privateKey, hostKeySha256: sshd.hostKeyFingerprint }, ...later] } });
  const storedViaSshd = () => store(viaSshd(sshd.clientKeys.ed25519.privateKey));

  async function refusedWithoutLogin(edit: ConnectionFields, words: RegExp) {
    const row = await storedViaSshd();
    const before = logins();
    plain.passwords.length = 0;
    const tested = completeFieldsFromStored(prisma, teamId, row.id, edit, keyring).then((f) => testConnectionFields(f, { policy, metadata: prisma }));
    expect(await refused(tested)).toMatch(words);
    expect(await refused(updateConnection(prisma, { teamId, connectionId: row.id, fields: edit }, keyring, { policy }))).toMatch(words);
    // Give a login that slipped through time to reach sshd's log before counting.
    await new Promise((r) => setTimeout(r, 300));
    expect(logins()).toBe(before);
    expect(plain.passwords).toEqual([]);
  }

  it("the database port changed to another service the bastion reaches", async () => {
    await refusedWithoutLogin(viaSshd(undefined, { host: "127.0.0.1", port: plain.port }), /^re-enter the SSH key for hop 1: where it leads changed \(the database server changed\)/);
  }, 30_000);

  it("the database host changed", async () => {
    await refusedWithoutLogin(viaSshd(undefined, { host: "localhost" }), /^re-enter the SSH key for hop 1: where it leads changed \(the database server changed\)/);
  }, 30_000);

  it("a later hop added after the kept one", async () => {
    // No pin for the new hop: the form's pins are refused while keys are kept, so an attacker leaves it blank.
    const later = [hop("127.0.0.1", bastionPort, { username: "mallory", privateKey: attackerKey })];
    const attackerLogins = bastionLogins;
    await refusedWithoutLogin(viaSshd(undefined, {}, later), /^re-enter the SSH key for hop 1: where it leads changed \(the SSH hops changed\)/);
    expect(bastionLogins).toBe(attackerLogins);
  }, 30_000);

  it("a replica added behind the kept hop", async () => {
    await refusedWithoutLogin(viaSshd(undefined, { replicas: [{ name: "r1", host: "127.0.0.1", port: plain.port }] }), /^re-enter the SSH key for hop 1: where it leads changed \(replica r1 is new or moved\)/);
  }, 30_000);

  it("unchanged route, password typed, key blank: the stored key logs in and the renamed connection tests ok", async () => {
    const row = await storedViaSshd();
    const before = logins();
    const edit = viaSshd(undefined);
    expect(await testConnectionFields(await completeFieldsFromStored(prisma, teamId, row.id, edit, keyring), { policy, metadata: prisma })).toMatchObject({ ok: true, route: "ssh" });
    const { connection, test } = await updateConnection(prisma, { teamId, connectionId: row.id, name: `kept-${serial}`, fields: edit }, keyring, { policy });
    expect(test).toMatchObject({ ok: true });
    expect(connection).toMatchObject({ status: "ok" });
    expect(logins()).toBeGreaterThan(before);
  }, 30_000);
});
