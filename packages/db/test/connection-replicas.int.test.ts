import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import { PortcullisError } from "../src/errors.js";
import { addConnection, createTeam, retestConnection, testConnectionFields, type ConnectionFields } from "../src/operations/index.js";
import { generateSecretKey, SecretKeyring } from "../src/secrets/index.js";
import { parseTargetUrl, type TargetPolicy } from "../src/target.js";
import { createMetadataDatabase, freePort, testPgUrl, withClient, type TestDatabase } from "../src/testing/index.js";
import { startReplicationPair, type ReplicationPair } from "../src/testing/replication.js";

// A real primary and streaming replica (pg_basebackup -R), apart from the test cluster that holds the
// metadata database: the connection test reaches every server of a connection and judges each.
let pair: ReplicationPair;
let meta: TestDatabase;
let prisma: PrismaClient;
let teamId: string;
const keyring = SecretKeyring.parse(generateSecretKey("k1"));
const policy: TargetPolicy = { networks: "any", allowAddresses: new Set(), stackDatabases: new Set(), allowPowerfulRoles: true };

beforeAll(async () => {
  [pair, meta] = await Promise.all([startReplicationPair(), createMetadataDatabase()]);
  prisma = createPrismaClient(meta.url);
  teamId = (await createTeam(prisma, { name: `Replicas ${randomBytes(3).toString("hex")}`, plan: "team" })).id;
}, 120_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await Promise.all([pair?.destroy(), meta?.drop()]);
});

function fields(replicas: ConnectionFields["replicas"]): ConnectionFields {
  return { ...parseTargetUrl(pair.primary.url(pair.database)), sslMode: "disable", replicas, replicaMaxLagMs: 5_000 };
}
const run = (f: ConnectionFields) => testConnectionFields(f, { policy, metadata: prisma });
const replica = () => ({ name: "r1", host: "127.0.0.1", port: pair.replicas[0]!.port });

describe("the connection test reaches each replica", () => {
  it("a streaming replica is up, in recovery, with its lag; the connection saves it (team_id on the row)", async () => {
    const result = await run(fields([replica()]));
    expect(result).toMatchObject({ ok: true, replicas: [{ name: "r1", ok: true, inRecovery: true }] });
    expect(result.replicas![0]!.lagMs).toBeGreaterThanOrEqual(0);

    const saved = await addConnection(prisma, { teamId, name: "with-replica", fields: fields([replica()]) }, keyring, { policy });
    const rows = await prisma.$queryRawUnsafe<{ name: string; port: number; team_id: string }[]>(
      "SELECT name, port, team_id::text FROM connection_replicas WHERE connection_id = $1::uuid",
      saved.id,
    );
    expect(rows).toEqual([{ name: "r1", port: pair.replicas[0]!.port, team_id: teamId }]);
    expect(saved.replicaMaxLagMs).toBe(5_000);
  });

  it("a replica whose replay is paused reports its lag growing", async () => {
    await pair.pauseReplay(0);
    try {
      await withClient(pair.primary.url(pair.database), (c) => c.query("CREATE TABLE IF NOT EXISTS lag_probe (at timestamptz); INSERT INTO lag_probe VALUES (now())"));
      await new Promise((r) => setTimeout(r, 1_500));
      const result = await run(fields([replica()]));
      expect(result.replicas![0]).toMatchObject({ ok: true, inRecovery: true });
      expect(result.replicas![0]!.lagMs).toBeGreaterThan(1_000);
    } finally {
      await pair.resumeReplay(0);
    }
  });

  it("a primary named as a replica is refused: it is not in recovery", async () => {
    const result = await run(fields([{ name: "posing", host: "127.0.0.1", port: pair.primary.port }]));
    expect(result).toMatchObject({ ok: false, stage: "policy", code: "replica_failed", replicas: [{ name: "posing", ok: false, inRecovery: false }] });
    expect(result.message).toMatch(/replica "posing" .*not in recovery: it is a primary/);
    const error = await addConnection(prisma, { teamId, name: "posing", fields: fields([{ name: "posing", host: "127.0.0.1", port: pair.primary.port }]) }, keyring, { policy }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PortcullisError);
    expect(await prisma.connection.count({ where: { teamId, name: "posing" } })).toBe(0);
  });

  it("Portcullis's own PostgreSQL named as a replica is refused, like as a primary", async () => {
    // Same user and password as the pair (portcullis/portcullis): only what the server is can refuse it.
    const stack = parseTargetUrl(testPgUrl());
    const result = await run(fields([{ name: "sneaky", host: "127.0.0.1", port: stack.port }]));
    expect(result).toMatchObject({ ok: false, stage: "policy", replicas: [{ name: "sneaky", ok: false }] });
    expect(result.message).toMatch(/replica "sneaky" .*Portcullis's own PostgreSQL server/);
  });

  it("an unreachable replica fails the test at its stage, naming it", async () => {
    const port = await freePort();
    const result = await run(fields([replica(), { name: "gone", host: "127.0.0.1", port }]));
    expect(result).toMatchObject({ ok: false, stage: "tcp", replicas: [{ name: "r1", ok: true }, { name: "gone", ok: false, stage: "tcp" }] });
    expect(result.message).toMatch(new RegExp(`replica "gone" \\(127\\.0\\.0\\.1:${port}\\): nothing is accepting connections`));
  });

  it("a stored connection's replica is re-tested from its rows", async () => {
    const saved = await addConnection(prisma, { teamId, name: "retested", fields: fields([replica()]) }, keyring, { policy });
    await prisma.connectionReplica.updateMany({ where: { connectionId: saved.id }, data: { port: pair.primary.port } });
    const result = await retestConnection(prisma, { teamId, connectionId: saved.id }, keyring, { policy });
    expect(result).toMatchObject({ ok: false, replicas: [{ name: "r1", inRecovery: false }] });
    expect((await prisma.connection.findUniqueOrThrow({ where: { id: saved.id } })).status).toBe("error");
  });
});
