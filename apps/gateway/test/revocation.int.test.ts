import { afterAll, beforeAll, expect, test } from "vitest";
import { createRedis, REVOCATION_CHANNEL } from "@portcullis/jobs";
import { testRedisUrl } from "@portcullis/db/testing";
import { GatewayWorld, rawPost } from "./fixtures.js";
import { revokeApiKey } from "./operations.js";

/** Revocation reaches every instance within a second through the Redis broadcast, caches or not. */
let world: GatewayWorld;
let a: string;
let b: string;
const publisher = createRedis(testRedisUrl(), "producer");

beforeAll(async () => {
  world = await GatewayWorld.create();
  // A long cache TTL, so only the broadcast can explain a fast revocation.
  [{ url: a }, { url: b }] = await Promise.all([
    world.startGateway({ GATEWAY_AUTH_CACHE_TTL_MS: "600000" }),
    world.startGateway({ GATEWAY_AUTH_CACHE_TTL_MS: "600000" }),
  ]);
});
afterAll(async () => {
  await publisher.quit();
  await world?.close();
});

const call = { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "execute_sql", arguments: { sql: "SELECT 1" } } };

async function msUntilRefused(base: string, linkId: string, key: string, started: number): Promise<number> {
  for (;;) {
    const r = await rawPost(`${base}/mcp/${linkId}`, call, { authorization: `Bearer ${key}` });
    if (r.status === 401) return Date.now() - started;
    if (Date.now() - started > 5_000) throw new Error("still accepted after 5 s");
    await new Promise((res) => setTimeout(res, 10));
  }
}

test("a revoked key stops working on both instances within one second", async () => {
  const link = await world.addLink({ access: "read" });
  const headers = { authorization: `Bearer ${link.key}` };
  // Both instances have the key cached.
  for (const base of [a, b]) for (let i = 0; i < 3; i++) expect((await rawPost(`${base}/mcp/${link.linkId}`, call, headers)).status).toBe(200);
  const started = Date.now();
  await revokeApiKey(world.prisma, { apiKeyId: link.apiKeyId }, (message) => publisher.publish(REVOCATION_CHANNEL, JSON.stringify(message)));
  const [ta, tb] = await Promise.all([msUntilRefused(a, link.linkId, link.key, started), msUntilRefused(b, link.linkId, link.key, started)]);
  console.log(`revocation effective after ${ta} ms (instance A) and ${tb} ms (instance B)`);
  expect(Math.max(ta, tb)).toBeLessThan(1000);
});

test("a disabled link and a removed member stop working once broadcast", async () => {
  const link = await world.addLink({ access: "read" });
  const headers = { authorization: `Bearer ${link.key}` };
  expect((await rawPost(`${b}/mcp/${link.linkId}`, call, headers)).status).toBe(200);
  await world.prisma.link.update({ where: { id: link.linkId }, data: { status: "disabled" } });
  await publisher.publish(REVOCATION_CHANNEL, JSON.stringify({ kind: "link", linkId: link.linkId }));
  expect(await msUntilRefused(b, link.linkId, link.key, Date.now())).toBeLessThan(1000);
});

test("scope edits apply on every instance once broadcast", async () => {
  const link = await world.addLink({ access: "read" });
  const headers = { authorization: `Bearer ${link.key}` };
  const sql = { ...call, params: { name: "execute_sql", arguments: { sql: "SELECT name FROM genre LIMIT 1" } } };
  expect((await rawPost(`${a}/mcp/${link.linkId}`, sql, headers)).json.result.isError).toBeUndefined();
  await world.prisma.link.update({ where: { id: link.linkId }, data: { scope: { access: "read", tables: { genre: { access: "none" } } } } });
  await publisher.publish(REVOCATION_CHANNEL, JSON.stringify({ kind: "link", linkId: link.linkId }));
  await new Promise((r) => setTimeout(r, 200));
  const after = await rawPost(`${a}/mcp/${link.linkId}`, sql, headers);
  expect(after.json.result.isError).toBe(true);
  expect(after.json.result.content[0].text).toContain("undefined_table");
});
