import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import { PortcullisError } from "../src/errors.js";
import { addConnection, createTeam, reencryptSecrets, retestConnection, testConnectionFields, type ConnectionFields } from "../src/operations/index.js";
import { generateSecretKey, SecretKeyring } from "../src/secrets/index.js";
import { openTargetRoute } from "../src/target-route.js";
import type { TargetPolicy } from "../src/target.js";
import { createMetadataDatabase, type TestDatabase } from "../src/testing/index.js";
import { startTlsPostgres, type TlsPostgres } from "../src/testing/tls-postgres.js";
import { loadTargetRow } from "../src/operations/connection-stored.js";

// A server that speaks only TLS and wants a client certificate whose CN is the role
// (clientcert=verify-full), with certificates for localhost, 127.0.0.1 and db.internal.
let server: TlsPostgres;
let meta: TestDatabase;
let prisma: PrismaClient;
let teamId: string;
const keyring = SecretKeyring.parse(generateSecretKey("k1"));
const policy: TargetPolicy = { networks: "any", allowAddresses: new Set(), stackDatabases: new Set(), allowPowerfulRoles: false };

beforeAll(async () => {
  [server, meta] = await Promise.all([startTlsPostgres(), createMetadataDatabase()]);
  prisma = createPrismaClient(meta.url);
  teamId = (await createTeam(prisma, { name: `TLS ${randomBytes(3).toString("hex")}`, plan: "team" })).id;
});

afterAll(async () => {
  await prisma?.$disconnect();
  await Promise.all([server?.stop(), meta?.drop()]);
});

function fields(overrides: Partial<ConnectionFields> = {}): ConnectionFields {
  return {
    host: server.host,
    port: server.port,
    database: server.database,
    username: server.user,
    password: server.password,
    sslMode: "verify_full",
    sslCaCert: server.ca,
    tls: { clientCert: server.clientCert, clientKey: server.clientKey },
    ...overrides,
  };
}

const test = (f: ConnectionFields) => testConnectionFields(f, { policy, metadata: prisma });

describe("mTLS against a server with clientcert=verify-full", () => {
  it("verify_full with the right client certificate connects, and the session is TLS with that certificate", async () => {
    const result = await test(fields());
    expect(result).toMatchObject({ ok: true, route: "direct", serverVersion: expect.stringMatching(/^\d+/) });

    const row = await addConnection(prisma, { teamId, name: "mtls", fields: fields() }, keyring, { policy });
    expect(row.status).toBe("ok");
    const { target } = await loadTargetRow(prisma, row.id, teamId);
    const route = await openTargetRoute(target, { policy, keyring });
    const client = new pg.Client(route.config);
    await client.connect();
    try {
      const { rows } = await client.query(
        "SELECT s.note, t.ssl, t.client_dn FROM secrets_seen s, pg_stat_ssl t WHERE t.pid = pg_backend_pid()",
      );
      expect(rows).toEqual([{ note: "over mTLS", ssl: true, client_dn: `/CN=${server.user}` }]);
    } finally {
      await client.end();
      await route.close();
    }
    expect((await retestConnection(prisma, { teamId, connectionId: row.id }, keyring, { policy })).ok).toBe(true);
  });

  it("without a client certificate the server refuses, and the test says so at the TLS stage", async () => {
    const result = await test(fields({ tls: null }));
    expect(result).toMatchObject({ ok: false, stage: "tls", code: "28000" });
    expect(result.message).toMatch(/wants a valid client certificate for user "tls_user"/);
  });

  it("a client certificate from another CA (same CN) is refused in the handshake", async () => {
    const result = await test(fields({ tls: { clientCert: server.wrongClientCert, clientKey: server.wrongClientKey } }));
    expect(result).toMatchObject({ ok: false, stage: "tls" });
    expect(result.message).toMatch(/client certificate/);
  });

  it("trusting the wrong CA fails at TLS: the server's certificate is not trusted", async () => {
    const result = await test(fields({ sslCaCert: server.otherCa }));
    expect(result).toMatchObject({ ok: false, stage: "tls" });
    expect(result.message).toMatch(/not trusted/);
  });

  it("a CA bundle with several certificates is read whole (the right CA second)", async () => {
    expect(await test(fields({ sslCaCert: `${server.otherCa}\n${server.ca}` }))).toMatchObject({ ok: true });
  });

  it("connecting by address checks the server name: db.internal is in the certificate, another name is not", async () => {
    expect(await test(fields({ host: "127.0.0.1", tls: { clientCert: server.clientCert, clientKey: server.clientKey, serverName: "db.internal" } }))).toMatchObject({ ok: true });
    const wrong = await test(fields({ host: "127.0.0.1", tls: { clientCert: server.clientCert, clientKey: server.clientKey, serverName: "db.example.org" } }));
    expect(wrong).toMatchObject({ ok: false, stage: "tls", code: "ERR_TLS_CERT_ALTNAME_INVALID" });
    expect(wrong.message).toMatch(/does not name the host/);
    // verify_ca checks the chain only (libpq's verify-ca): the same name passes.
    expect(
      await test(fields({ sslMode: "verify_ca", host: "127.0.0.1", tls: { clientCert: server.clientCert, clientKey: server.clientKey, serverName: "db.example.org" } })),
    ).toMatchObject({ ok: true });
  });

  it("the host name as typed is checked when no server name is given (localhost is in the certificate)", async () => {
    expect(await test(fields({ host: "localhost" }))).toMatchObject({ ok: true });
  });

  it("refuses a key that is not the certificate's, before any network traffic", async () => {
    await expect(
      addConnection(prisma, { teamId, name: "mismatch", fields: fields({ tls: { clientCert: server.clientCert, clientKey: server.wrongClientKey } }) }, keyring, { policy }),
    ).rejects.toThrow(/does not belong to the client certificate/);
    const error = await addConnection(prisma, { teamId, name: "half", fields: fields({ tls: { clientCert: server.clientCert } }) }, keyring, { policy }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PortcullisError);
    expect((error as Error).message).toMatch(/needs its key/);
    expect(await prisma.connection.count({ where: { teamId, name: { in: ["mismatch", "half"] } } })).toBe(0);
  });

  it("stores the client key sealed (plain SQL sees ciphertext only), bound to its connection, and re-seals it on key rotation", async () => {
    const row = await addConnection(prisma, { teamId, name: "sealed", fields: fields() }, keyring, { policy });
    const raw = await prisma.$queryRawUnsafe<{ ssl_client_key_ciphertext: string; ssl_client_cert: string }[]>(
      "SELECT ssl_client_key_ciphertext, ssl_client_cert FROM connections WHERE id = $1::uuid",
      row.id,
    );
    const sealed = raw[0]!.ssl_client_key_ciphertext;
    expect(sealed).toMatch(/^v1\.k1\./);
    const keyBody = server.clientKey.split("\n").find((l) => l.length > 40)!;
    expect(sealed).not.toContain(keyBody);
    expect(JSON.stringify(raw)).not.toContain("PRIVATE KEY");
    expect(raw[0]!.ssl_client_cert).toContain("BEGIN CERTIFICATE");

    // Copied onto another connection's row, the sealed key does not open there.
    const other = await addConnection(prisma, { teamId, name: "other", fields: fields() }, keyring, { policy });
    await prisma.$executeRawUnsafe("UPDATE connections SET ssl_client_key_ciphertext = $1 WHERE id = $2::uuid", sealed, other.id);
    const copied = await retestConnection(prisma, { teamId, connectionId: other.id }, keyring, { policy });
    expect(copied.ok).toBe(false);
    expect(copied.message).toMatch(/failed authentication/);

    const newKey = generateSecretKey("k2");
    const rotated = SecretKeyring.parse(`${newKey},k1:${keyring.primary.key.toString("base64")}`);
    await prisma.connection.delete({ where: { id: other.id } });
    const result = await reencryptSecrets(prisma, rotated);
    expect(result.remaining).toBe(0);
    const after = await prisma.connection.findUniqueOrThrow({ where: { id: row.id } });
    expect(after.sslClientKeyCiphertext).toMatch(/^v1\.k2\./);
    expect((await retestConnection(prisma, { teamId, connectionId: row.id }, SecretKeyring.parse(newKey), { policy })).ok).toBe(true);
  });
});
