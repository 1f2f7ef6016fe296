import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { migrate } from "@portcullis/db/migrate";
import { generateSecretKey, getKeyring } from "@portcullis/db/secrets";
import { createChinookDatabase, testRedisUrl, withClient, type TestDatabase } from "@portcullis/db/testing";
import { parseGatewayEnv } from "../src/env.js";
import { createGateway, type Gateway } from "../src/gateway.js";
import { rawPost, toolText, waitFor } from "./fixtures.js";
import { addConnection, createApiKey, createLink, createTeam, createUser, parseTargetUrlForTests, revokeApiKey } from "./operations.js";
import { TempCluster } from "./pg-cluster.js";

/**
 * The metadata PostgreSQL stops while the gateway serves: keys it has cached and keys it never saw
 * get 503 with Retry-After (a client retries; a 500 reads as a bug, a 401 makes it drop the key). When
 * the database is back, calls are served again and the access-change listener hears changes again
 * (a revocation made with plain operations, nothing published on Redis, takes effect).
 */
let cluster: TempCluster;
let target: TestDatabase;
let prisma: PrismaClient;
let gateway: Gateway;
let url = "";
let spoolDir = "";
const keys: { linkId: string; warm: { key: string; id: string }; cold: { key: string; id: string } } = {
  linkId: "",
  warm: { key: "", id: "" },
  cold: { key: "", id: "" },
};

beforeAll(async () => {
  [cluster, target, spoolDir] = await Promise.all([TempCluster.create(), createChinookDatabase(), mkdtemp(path.join(tmpdir(), "gw-spool-"))]);
  await withClient(cluster.url(), (c) => c.query("CREATE DATABASE meta"));
  await migrate(cluster.url("meta"));
  const secretKeys = generateSecretKey("k1");
  prisma = createPrismaClient(cluster.url("meta"));
  const user = await createUser(prisma, { email: `outage-${randomBytes(3).toString("hex")}@example.com` });
  const team = await createTeam(prisma, { name: "outage", ownerId: user.id });
  const connection = await addConnection(prisma, { teamId: team.id, name: "target", fields: parseTargetUrlForTests(target.url), test: false }, getKeyring(secretKeys));
  const link = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "read", scope: { access: "read" } as never });
  const issue = async (name: string) => {
    const { key, record } = await createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: user.id, name });
    return { key, id: record.id };
  };
  keys.linkId = link.id;
  keys.warm = await issue("warm");
  keys.cold = await issue("cold");
  gateway = createGateway(
    parseGatewayEnv({
      DATABASE_URL: cluster.url("meta"),
      REDIS_URL: testRedisUrl(),
      PORTCULLIS_SECRET_KEYS: secretKeys,
      GATEWAY_PORT: "0",
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_AUDIT_SPOOL_DIR: spoolDir,
      QUEUE_PREFIX: `gwtest-${randomBytes(4).toString("hex")}`,
      LOG_LEVEL: process.env.GATEWAY_TEST_LOG_LEVEL ?? "silent",
      TARGET_NETWORKS: "any",
      TARGET_ALLOW_POWERFUL_ROLES: "true",
    }),
  );
  url = `${await gateway.start()}/mcp/${link.id}`;
  expect(await gateway.accessListenerReady(10_000)).toBe(true);
}, 120_000);

afterAll(async () => {
  await gateway?.stop();
  await prisma?.$disconnect();
  await Promise.all([cluster?.destroy(), target?.drop(), spoolDir && rm(spoolDir, { recursive: true, force: true })]);
});

const call = (key: string, n: number) =>
  rawPost(url, { jsonrpc: "2.0", id: n, method: "tools/call", params: { name: "execute_sql", arguments: { sql: `SELECT ${n} AS n` } } }, { authorization: `Bearer ${key}` });

test("metadata database down: 503 with Retry-After for cached and unseen keys; back up: served, and access changes heard again", async () => {
  const before = await call(keys.warm.key, 1);
  expect(before.status).toBe(200);
  expect(toolText(before.json.result)).toContain("[[1]]");

  await prisma.$disconnect();
  await cluster.stop();
  for (const [key, n] of [[keys.warm.key, 2], [keys.cold.key, 3], [keys.warm.key, 4]] as const) {
    const r = await call(key, n);
    expect(r.status, r.text).toBe(503);
    expect(r.headers.get("retry-after")).toBe("1");
    expect(r.json.error.message).toMatch(/metadata database/);
  }
  const ready = await fetch(url.replace(/\/mcp\/.*/, "/readyz"));
  expect(ready.status).toBe(503);

  await cluster.start();
  const back = await waitFor(() => call(keys.cold.key, 5), (r) => r.status === 200, 20_000, 200);
  expect(toolText(back.json.result)).toContain("[[5]]");
  expect(await gateway.accessListenerReady(10_000)).toBe(true);
  expect((await call(keys.warm.key, 6)).status).toBe(200);

  // The listener is LISTENing again: a revocation written to the database alone reaches this instance.
  prisma = createPrismaClient(cluster.url("meta"));
  await revokeApiKey(prisma, { apiKeyId: keys.warm.id });
  const revoked = await waitFor(() => call(keys.warm.key, 7), (r) => r.status !== 200, 3_000, 50);
  expect(revoked.status).toBe(401);
  expect((await call(keys.cold.key, 8)).status).toBe(200);
}, 90_000);
