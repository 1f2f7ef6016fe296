import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { generateSecretKey } from "@portcullis/db/secrets";
import { createMetadataDatabase, startReplicationPair, testRedisUrl, type ReplicationPair, type TestDatabase } from "@portcullis/db/testing";
import { startTlsPostgres, type TlsPostgres } from "../../../packages/db/src/testing/tls-postgres.js";

// Each cli() run is a Node process loading the CLI through tsx (~1.7 s of CPU): a case of six or seven
// took 33-35 s on a loaded 2-core machine and passed 60 s at nice 19, failing on the timeout (and the
// next case on what the cut one left). No speed is judged here.
vi.setConfig({ testTimeout: 180_000 });

/**
 * `connection add` with a client certificate (against a PostgreSQL that requires one, with
 * clientcert=verify-full) and with read replicas (real streaming replication), as an operator runs
 * it: each option reaches the server, failures are named by stage, and nothing secret is printed.
 */
const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../../..");
let meta: TestDatabase;
let prisma: PrismaClient;
let tls: TlsPostgres;
let pair: ReplicationPair;
let dir: string;
const env: Record<string, string | undefined> = { ...process.env, PORTCULLIS_SECRET_KEYS: generateSecretKey("k1"), TARGET_NETWORKS: "any", TARGET_ALLOW_POWERFUL_ROLES: "true" };

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("node", ["--import", "tsx", "apps/cli/src/main.ts", ...args], { cwd: root, env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const file = (name: string) => path.join(dir, name);

beforeAll(async () => {
  [meta, tls, pair] = await Promise.all([createMetadataDatabase(), startTlsPostgres(), startReplicationPair({ replicas: 1 })]);
  Object.assign(env, { DATABASE_URL: meta.url, REDIS_URL: testRedisUrl() });
  prisma = createPrismaClient(meta.url);
  dir = await mkdtemp(path.join(tmpdir(), "cli-tls-"));
  await Promise.all([
    writeFile(file("ca.pem"), tls.ca),
    writeFile(file("other-ca.pem"), tls.otherCa),
    writeFile(file("client.pem"), tls.clientCert),
    writeFile(file("client.key"), tls.clientKey, { mode: 0o600 }),
  ]);
  const team = await cli(["team", "create", "--name", "Reach"]);
  expect(team.code, team.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await Promise.all([meta?.drop(), tls?.stop(), pair?.destroy()]);
});

describe("connection add --ssl-cert/--ssl-key/--ssl-root-cert/--ssl-server-name", () => {
  const base = () => ["connection", "add", "--team", "reach", "--host", tls.host, "--port", String(tls.port), "--database", tls.database, "--user", tls.user, "--password", tls.password, "--ssl-mode", "verify-full"];

  it("verify-full by the certificate's other name with a client certificate connects; the key is stored sealed and never printed", async () => {
    const added = await cli([...base(), "--name", "mtls", "--ssl-root-cert", file("ca.pem"), "--ssl-cert", file("client.pem"), "--ssl-key", file("client.key"), "--ssl-server-name", "db.internal", "--json"]);
    expect(added.code, added.stdout + added.stderr).toBe(0);
    const out = JSON.parse(added.stdout) as { connection: Record<string, unknown> };
    expect(out.connection).toMatchObject({ status: "ok", sslServerName: "db.internal", hasClientCert: true, hasClientKey: true });
    expect(added.stdout).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE|Ciphertext/);
    const row = await prisma.connection.findFirstOrThrow({ where: { name: "mtls" } });
    expect(row.sslClientCert).toContain("BEGIN CERTIFICATE");
    expect(row.sslClientKeyCiphertext).toMatch(/^v1\.k1\./);
    expect(row.sslClientKeyCiphertext).not.toContain("PRIVATE KEY");
    const listed = await cli(["connection", "list", "--team", "reach", "--json"]);
    expect(listed.stdout).not.toMatch(/PRIVATE KEY|v1\.k1\./);
  }, 180_000);

  it("without the client certificate, with another CA, or with a name the certificate lacks: refused at its stage, nothing saved", async () => {
    const noCert = await cli([...base(), "--name", "no-cert", "--ssl-root-cert", file("ca.pem"), "--ssl-server-name", "db.internal"]);
    expect(noCert.code).toBe(1);
    expect(noCert.stderr).toMatch(/failed at (pg_auth|tls)/);

    const otherCa = await cli([...base(), "--name", "other-ca", "--ssl-root-cert", file("other-ca.pem"), "--ssl-cert", file("client.pem"), "--ssl-key", file("client.key"), "--ssl-server-name", "db.internal"]);
    expect(otherCa.code).toBe(1);
    expect(otherCa.stderr).toContain("failed at tls");

    const wrongName = await cli([...base(), "--name", "wrong-name", "--ssl-root-cert", file("ca.pem"), "--ssl-cert", file("client.pem"), "--ssl-key", file("client.key"), "--ssl-server-name", "db.example.org"]);
    expect(wrongName.code).toBe(1);
    expect(wrongName.stderr).toContain("failed at tls");
    expect(wrongName.stderr).toContain("db.example.org");

    expect(await prisma.connection.count({ where: { name: { in: ["no-cert", "other-ca", "wrong-name"] } } })).toBe(0);
  }, 180_000);
});

describe("connection add --replica", () => {
  it("a streaming replica is tested with the primary (up, lag); a stopped one fails the test by name; a primary posing as a replica is refused", async () => {
    const primary = new URL(pair.primary.url(pair.database));
    const replica = pair.replicas[0]!;
    const added = await cli([
      "connection", "add", "--team", "reach", "--name", "with-replica", "--url", `${pair.primary.url(pair.database)}${primary.search ? "&" : "?"}sslmode=disable`,
      "--replica", `r1=127.0.0.1:${replica.port}`, "--replica-max-lag", "5", "--json",
    ]);
    expect(added.code, added.stdout + added.stderr).toBe(0);
    const row = await prisma.connection.findFirstOrThrow({ where: { name: "with-replica" }, include: { replicas: true } });
    expect(row.replicaMaxLagMs).toBe(5000);
    expect(row.replicas.map((r) => [r.name, r.port])).toEqual([["r1", replica.port]]);

    const tested = await cli(["connection", "test", "--team", "reach", "with-replica", "--json"]);
    expect(tested.code, tested.stdout).toBe(0);
    expect(JSON.parse(tested.stdout)).toMatchObject({ result: { ok: true, replicas: [{ name: "r1", ok: true, inRecovery: true, lagMs: expect.any(Number) }] } });
    const human = await cli(["connection", "test", "--team", "reach", "with-replica"]);
    expect(human.stdout).toMatch(/replica r1: up, \d+ ms behind/);

    await pair.stopReplica(0);
    try {
      const down = await cli(["connection", "test", "--team", "reach", "with-replica"]);
      expect(down.code).toBe(1);
      expect(down.stdout).toContain('replica "r1"');
      expect(down.stdout).toMatch(/replica r1: down/);
    } finally {
      await pair.startReplica(0);
    }

    const posing = await cli([
      "connection", "add", "--team", "reach", "--name", "fake-replica", "--url", `${pair.primary.url(pair.database)}${primary.search ? "&" : "?"}sslmode=disable`,
      "--replica", `fake=127.0.0.1:${primary.port}`,
    ]);
    expect(posing.code).toBe(1);
    expect(posing.stderr).toContain("not in recovery");
    expect(await prisma.connection.count({ where: { name: "fake-replica" } })).toBe(0);
  }, 120_000);
});
