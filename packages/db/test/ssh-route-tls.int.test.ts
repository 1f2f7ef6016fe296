import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { generateSecretKey, SecretKeyring } from "../src/secrets/index.js";
import { sealSshSecret } from "../src/ssh/index.js";
import type { TargetConnectionRow, TargetPolicy } from "../src/target.js";
import { sealClientKey } from "../src/target-tls.js";
import { openTargetRoute } from "../src/target-route.js";
import { startSshd, type TestSshd } from "../src/testing/sshd.js";
import { startTlsPostgres, type TlsPostgres } from "../src/testing/tls-postgres.js";

// TLS is negotiated end to end through the tunnel: the bastion forwards bytes, pg upgrades the channel
// to TLS, and the server (clientcert=verify-full, hostnossl rejected) checks our certificate.
const keyring = SecretKeyring.parse(generateSecretKey("k1"));
let bastion: TestSshd;
let db: TlsPostgres;

beforeAll(async () => {
  [bastion, db] = await Promise.all([startSshd(), startTlsPostgres()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([bastion?.stop(), db?.stop()]);
});

const onlyBastion = (): TargetPolicy => ({ networks: "public", allowAddresses: new Set([`127.0.0.1:${bastion.port}`]), stackDatabases: new Set(), allowPowerfulRoles: true });

function row(overrides: Partial<TargetConnectionRow> = {}, clientKey = db.clientKey, clientCert = db.clientCert): TargetConnectionRow {
  const id = randomUUID();
  return {
    id,
    host: db.host,
    port: db.port,
    database: db.database,
    username: db.user,
    secretCiphertext: keyring.seal(db.password, id).ciphertext,
    sslMode: "verify_full",
    sslCaCert: db.ca,
    sslClientCert: clientCert,
    sslClientKeyCiphertext: sealClientKey(keyring, id, clientKey).ciphertext,
    sshHops: [
      {
        position: 0,
        host: bastion.host,
        port: bastion.port,
        username: bastion.username,
        privateKeyCiphertext: sealSshSecret(keyring, id, 0, "key", bastion.clientKeys.ed25519.privateKey),
        passphraseCiphertext: null,
        hostKeySha256: bastion.hostKeyFingerprint,
      },
    ],
    ...overrides,
  };
}

async function sslOf(r: TargetConnectionRow): Promise<{ ssl: boolean; client_dn: string | null }> {
  const route = await openTargetRoute(r, { policy: onlyBastion(), keyring });
  const client = new pg.Client(route.config);
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.query("SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).rows[0];
  } finally {
    await client.end().catch(() => {});
    await route.close();
  }
}

it("verify_full with a client certificate works through the tunnel (the server sees TLS and our certificate)", async () => {
  const seen = await sslOf(row());
  expect(seen.ssl).toBe(true);
  expect(seen.client_dn).toContain(db.user);
});

it("the server name is checked through the tunnel: db.internal passes, a name the certificate lacks fails", async () => {
  expect((await sslOf(row({ sslServerName: "db.internal" }))).ssl).toBe(true);
  await expect(sslOf(row({ sslServerName: "elsewhere.example" }))).rejects.toThrow(/elsewhere\.example/);
});

it("a server certificate from another CA is refused through the tunnel", async () => {
  await expect(sslOf(row({ sslCaCert: db.otherCa }))).rejects.toMatchObject({ code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/) });
});

it("a client certificate the server does not trust is refused through the tunnel", async () => {
  const error = (await sslOf(row({}, db.wrongClientKey, db.wrongClientCert)).catch((e: unknown) => e)) as Error & { code?: string };
  // The server's TLS alert reaches us through the tunnel intact (not a bare "connection terminated").
  expect(error.code).toBe("ERR_SSL_TLSV1_ALERT_UNKNOWN_CA");
});
