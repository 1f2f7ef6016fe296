import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecretKey, SecretKeyring } from "../src/secrets/index.js";
import { SshAuthError, SshConnectError, SshHostKeyError, sealSshSecret } from "../src/ssh/index.js";
import { parseTargetUrl, type TargetConnectionRow, type TargetPolicy, type TargetSshHop } from "../src/target.js";
import { openSshRoute } from "../src/ssh/route.js";
import { openTargetRoute, type TargetRoute } from "../src/target-route.js";
import { freePort, testPgUrl, withClient } from "../src/testing/index.js";
import { startSshd, type SshClientKey, type TestSshd } from "../src/testing/sshd.js";

// The test cluster (127.0.0.1:54339) is the database behind the tunnel; two real OpenSSH servers play
// the bastion and the jump host in front of it.
const keyring = SecretKeyring.parse(generateSecretKey("k1"));
const target = parseTargetUrl(testPgUrl());
let bastion: TestSshd;
let jump: TestSshd;

beforeAll(async () => {
  [bastion, jump] = await Promise.all([startSshd(), startSshd()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([bastion?.stop(), jump?.stop()]);
});

/**
 * Only the given SSH servers may be dialled by this machine: the database itself (loopback) is refused,
 * so a session that works can only have gone through the tunnel.
 */
function onlyHops(...servers: TestSshd[]): TargetPolicy {
  return { networks: "public", allowAddresses: new Set(servers.map((s) => `127.0.0.1:${s.port}`)), stackDatabases: new Set(), allowPowerfulRoles: true };
}

interface HopSpec {
  server: TestSshd;
  key?: SshClientKey;
  passphrase?: string | null;
  hostKey?: string | null;
}

function row(hops: HopSpec[], application = `ssh-route-${randomUUID().slice(0, 8)}`): TargetConnectionRow & { application: string } {
  const id = randomUUID();
  const sshHops: TargetSshHop[] = hops.map((h, position) => {
    const key = h.key ?? h.server.clientKeys.ed25519;
    const passphrase = h.passphrase === undefined ? key.passphrase : h.passphrase;
    return {
      position,
      host: h.server.host,
      port: h.server.port,
      username: h.server.username,
      privateKeyCiphertext: sealSshSecret(keyring, id, position, "key", key.privateKey),
      passphraseCiphertext: passphrase ? sealSshSecret(keyring, id, position, "passphrase", passphrase) : null,
      hostKeySha256: h.hostKey === undefined ? h.server.hostKeyFingerprint : h.hostKey,
    };
  });
  return {
    id,
    host: target.host,
    port: target.port,
    database: target.database,
    username: target.username,
    secretCiphertext: keyring.seal(target.password, id).ciphertext,
    sslMode: "disable",
    sslCaCert: null,
    sshHops,
    application,
  };
}

async function query<T>(route: TargetRoute, sql: string, application?: string): Promise<T[]> {
  const client = new pg.Client({ ...route.config, ...(application ? { application_name: application } : {}) });
  client.on("error", () => {});
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Sessions the database holds for an application name: proof that something did (or did not) reach it. */
async function sessionsNamed(application: string): Promise<number> {
  return withClient(testPgUrl(), async (c) => Number((await c.query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1", [application])).rows[0].n));
}

async function waitUntil(fn: () => Promise<boolean>, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return fn();
}

describe("openTargetRoute through SSH", () => {
  it("refuses to dial the database directly under this policy (the control for the tests below)", async () => {
    const direct = { ...row([]), sshHops: [] };
    await expect(openTargetRoute(direct, { policy: onlyHops(bastion), keyring })).rejects.toThrow(/loopback address/);
  });

  it("runs a query through one hop, holding one SSH connection, and close() ends it", async () => {
    const r = row([{ server: bastion }]);
    const before = await bastion.connections();
    const route = await openTargetRoute(r, { policy: onlyHops(bastion), keyring });
    expect(route.kind).toBe("ssh");
    const pool = new pg.Pool({ ...route.config, application_name: r.application, max: 3 });
    const rows = await Promise.all([1, 2, 3].map((i) => pool.query<{ n: number; db: string }>(`SELECT ${i} AS n, current_database() AS db, pg_sleep(0.05)`)));
    expect(rows.map((x) => x.rows[0]!.n)).toEqual([1, 2, 3]);
    expect(rows[0]!.rows[0]!.db).toBe(target.database);
    expect(await sessionsNamed(r.application)).toBe(3);
    // Three sessions, one SSH connection: the chain is shared by the route's sessions.
    expect(await bastion.connections()).toBe(before + 1);
    await pool.end();
    await route.close();
    await route.close();
    expect(await waitUntil(async () => (await bastion.connections()) === before)).toBe(true);
  });

  it("runs a query through a jump host and a bastion (ProxyJump): only the jump host is dialled from here", async () => {
    const r = row([{ server: jump }, { server: bastion }]);
    const [jumpBefore, bastionBefore] = [await jump.connections(), await bastion.connections()];
    // The bastion is not in this policy: it is reached from the jump host, never from this machine.
    const route = await openTargetRoute(r, { policy: onlyHops(jump), keyring });
    const client = new pg.Client(route.config);
    await client.connect();
    expect((await client.query("SELECT 'through two hops' AS via")).rows[0].via).toBe("through two hops");
    expect(await jump.connections()).toBe(jumpBefore + 1);
    expect(await bastion.connections()).toBe(bastionBefore + 1);
    await client.end();
    await route.close();
    expect(await waitUntil(async () => (await jump.connections()) === jumpBefore && (await bastion.connections()) === bastionBefore)).toBe(true);
  });

  it("refuses a first hop the target policy refuses, before dialling it", async () => {
    const r = row([{ server: bastion }]);
    await expect(openTargetRoute(r, { policy: onlyHops(jump), keyring })).rejects.toThrow(/loopback address/);
  });
});

describe("host keys are pinned", () => {
  it("a different host key is refused with what was offered and expected; nothing reaches the database", async () => {
    const r = row([{ server: bastion, hostKey: jump.hostKeyFingerprint }]);
    const logBefore = bastion.log().length;
    const route = await openTargetRoute(r, { policy: onlyHops(bastion), keyring });
    const error = await query(route, "SELECT 1", r.application).catch((e: unknown) => e);
    await route.close();
    expect(error).toBeInstanceOf(SshHostKeyError);
    const e = error as SshHostKeyError;
    expect(e.position).toBe(0);
    expect(e.offered).toBe(bastion.hostKeyFingerprint);
    expect(e.expected).toBe(jump.hostKeyFingerprint);
    expect(e.message).toContain(bastion.hostKeyFingerprint);
    expect(e.message).toContain(jump.hostKeyFingerprint);
    expect(await sessionsNamed(r.application)).toBe(0);
    // We hung up before authenticating: the key was never even offered to a server we do not trust.
    expect(bastion.log().slice(logBefore)).not.toMatch(/Accepted publickey/);
  });

  it("an unconfirmed host key (null) is refused, never trusted on first use", async () => {
    const r = row([{ server: bastion, hostKey: null }]);
    const route = await openTargetRoute(r, { policy: onlyHops(bastion), keyring });
    const error = (await query(route, "SELECT 1", r.application).catch((e: unknown) => e)) as SshHostKeyError;
    await route.close();
    expect(error).toBeInstanceOf(SshHostKeyError);
    expect(error.expected).toBeNull();
    expect(error.offered).toBe(bastion.hostKeyFingerprint);
    expect(error.message).toMatch(/not confirmed yet/);
    expect(await sessionsNamed(r.application)).toBe(0);
  });

  it("the second hop's key is checked too", async () => {
    const r = row([{ server: jump }, { server: bastion, hostKey: jump.hostKeyFingerprint }]);
    const route = await openTargetRoute(r, { policy: onlyHops(jump), keyring });
    const error = (await query(route, "SELECT 1").catch((e: unknown) => e)) as SshHostKeyError;
    await route.close();
    expect(error).toBeInstanceOf(SshHostKeyError);
    expect(error.position).toBe(1);
    expect(error.offered).toBe(bastion.hostKeyFingerprint);
  });

  it("a pasted fingerprint with base64 padding still matches", async () => {
    const r = row([{ server: bastion, hostKey: `${bastion.hostKeyFingerprint}=` }]);
    const route = await openTargetRoute(r, { policy: onlyHops(bastion), keyring });
    expect(await query<{ ok: number }>(route, "SELECT 1 AS ok")).toEqual([{ ok: 1 }]);
    await route.close();
  });
});

describe("client keys", () => {
  it("a key the server does not know is refused with SshAuthError", async () => {
    const r = row([{ server: bastion, key: bastion.clientKeys.unauthorized }]);
    const route = await openTargetRoute(r, { policy: onlyHops(bastion), keyring });
    const error = (await query(route, "SELECT 1", r.application).catch((e: unknown) => e)) as SshAuthError;
    await route.close();
    expect(error).toBeInstanceOf(SshAuthError);
    expect(error.reason).toBe("rejected");
    expect(error.message).toContain(`did not accept the private key for user "${bastion.username}"`);
    expect(await sessionsNamed(r.application)).toBe(0);
  });

  it("a passphrase-protected RSA key works with its passphrase", async () => {
    const r = row([{ server: bastion, key: bastion.clientKeys.rsaWithPassphrase }]);
    const route = await openTargetRoute(r, { policy: onlyHops(bastion), keyring });
    expect(await query<{ ok: string }>(route, "SELECT 'rsa' AS ok")).toEqual([{ ok: "rsa" }]);
    await route.close();
  });

  it("a wrong or missing passphrase is refused in words, before anything is dialled", async () => {
    const logBefore = bastion.log().length;
    const wrong = row([{ server: bastion, key: bastion.clientKeys.rsaWithPassphrase, passphrase: "not it" }]);
    const error = (await openTargetRoute(wrong, { policy: onlyHops(bastion), keyring }).catch((e: unknown) => e)) as SshAuthError;
    expect(error).toBeInstanceOf(SshAuthError);
    expect(error.reason).toBe("passphrase");
    expect(error.message).toMatch(/^the passphrase does not open the private key for .*@127\.0\.0\.1:\d+ \(hop 1\)/);
    expect(error.message).not.toContain("not it");
    const missing = row([{ server: bastion, key: bastion.clientKeys.rsaWithPassphrase, passphrase: null }]);
    const error2 = (await openTargetRoute(missing, { policy: onlyHops(bastion), keyring }).catch((e: unknown) => e)) as SshAuthError;
    expect(error2.reason).toBe("passphrase");
    expect(error2.message).toContain("the key is encrypted and no passphrase is stored");
    expect(bastion.log().slice(logBefore)).not.toMatch(/Connection from/);
  });

  it("a key sealed for another connection or hop does not open (AAD)", async () => {
    const r = row([{ server: bastion }]);
    const moved = { ...r, id: randomUUID() };
    const error = (await openTargetRoute(moved, { policy: onlyHops(bastion), keyring }).catch((e: unknown) => e)) as SshAuthError;
    expect(error).toBeInstanceOf(SshAuthError);
    expect(error.reason).toBe("key_unreadable");
  });
});

describe("a chain that drops", () => {
  let flaky: TestSshd;
  beforeAll(async () => {
    flaky = await startSshd();
  }, 30_000);
  afterAll(async () => {
    await flaky?.stop();
  });

  it("fails the running statement with a clear error, and the next session re-establishes the chain", async () => {
    const r = row([{ server: flaky }]);
    const route = await openTargetRoute(r, { policy: onlyHops(flaky), keyring });
    const pool = new pg.Pool({ ...route.config, max: 2 });
    const poolErrors: Error[] = [];
    pool.on("error", (e) => poolErrors.push(e));
    expect((await pool.query("SELECT 1 AS ok")).rows).toEqual([{ ok: 1 }]);
    const started = Date.now();
    const sleeping = pool.query("SELECT pg_sleep(30)").then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 300));
    await flaky.kill();
    const error = (await sleeping) as SshConnectError;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(error).toBeInstanceOf(SshConnectError);
    expect(error.stage).toBe("closed");
    expect(error.message).toMatch(/SSH connection to 127\.0\.0\.1:\d+ \(hop 1\) (closed|failed)/);
    // While the bastion is down, a new session fails in words (not a hang, not a crash).
    const down = (await pool.query("SELECT 1").catch((e: unknown) => e)) as SshConnectError;
    expect(down).toBeInstanceOf(SshConnectError);
    expect(down.stage).toBe("connect");
    await flaky.restart();
    expect((await pool.query("SELECT 'back' AS ok")).rows).toEqual([{ ok: "back" }]);
    await pool.end();
    await route.close();
  }, 30_000);

  it("a hung bastion (no reset, nothing answers) is noticed by keepalive: the statement fails instead of hanging", async () => {
    const r = row([{ server: flaky }]);
    const route = await openSshRoute(r, { policy: onlyHops(flaky), keyring, timings: { readyTimeoutMs: 3_000, keepaliveIntervalMs: 300, keepaliveCountMax: 2 } });
    const pool = new pg.Pool({ ...route.config, max: 1 });
    pool.on("error", () => {});
    expect((await pool.query("SELECT 1 AS ok")).rows).toEqual([{ ok: 1 }]);
    const sleeping = pool.query("SELECT pg_sleep(30)").then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await flaky.pause();
    try {
      const error = (await sleeping) as SshConnectError;
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(error).toBeInstanceOf(SshConnectError);
      expect(error.stage).toBe("closed");
      expect(error.message).toMatch(/Keepalive timeout/);
    } finally {
      await flaky.resume();
    }
    expect((await pool.query("SELECT 'again' AS ok")).rows).toEqual([{ ok: "again" }]);
    await pool.end();
    await route.close();
  }, 30_000);
});

describe("the last hop's forward", () => {
  it("a database the bastion cannot reach fails at stage 'forward', naming the hop and the address it tried", async () => {
    const closed = await freePort();
    const r = { ...row([{ server: bastion }]), port: closed };
    const route = await openTargetRoute(r, { policy: onlyHops(bastion), keyring });
    const error = (await query(route, "SELECT 1").catch((e: unknown) => e)) as SshConnectError;
    await route.close();
    expect(error).toBeInstanceOf(SshConnectError);
    expect(error.stage).toBe("forward");
    expect(error.position).toBe(0);
    expect(error.message).toContain(`could not open a connection to 127.0.0.1:${closed}`);
  });
});
