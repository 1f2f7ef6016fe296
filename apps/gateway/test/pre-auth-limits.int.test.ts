import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { GatewayWorld, auditEvents, rawPost, waitFor } from "./fixtures.js";
import { awayFromMinuteEnd } from "./minute-window.js";

/**
 * Requests with random keys: limited per source address and per link before any lookup, counted across
 * instances (two gateways, one Redis), answered 429 with Retry-After, and audited once per source,
 * link and minute rather than once per request. Sources are told apart by X-Forwarded-For behind
 * TRUST_PROXY=1 (one trusted hop), which also shows the header is believed only as far as configured.
 */
let world: GatewayWorld;
let a: string;
let b: string;
let plain: string;

beforeAll(async () => {
  world = await GatewayWorld.create();
  const limits = { TRUST_PROXY: "1", GATEWAY_AUTH_FAILURES_PER_IP_PER_MINUTE: "6", GATEWAY_AUTH_FAILURES_PER_LINK_PER_MINUTE: "40" };
  [{ url: a }, { url: b }, { url: plain }] = await Promise.all([world.startGateway(limits), world.startGateway(limits), world.startGateway()]);
});
afterAll(() => world?.close());

const call = { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "execute_sql", arguments: { sql: "SELECT 1" } } };
const randomKey = () => `pck_${randomBytes(24).toString("base64url")}`;
/** A documentation-range IPv6 address in a /64 of its own: counters in the shared test Redis never collide. */
const freshSource = () => `2001:db8:${randomBytes(2).toString("hex")}:${randomBytes(2).toString("hex")}::7`;
const from = (ip: string, token: string) => ({ authorization: `Bearer ${token}`, "x-forwarded-for": ip });


test("failed authentications from one address, spread over two instances, end in 429 before any lookup", async () => {
  await awayFromMinuteEnd();
  const link = await world.addLink({ access: "read" });
  const ip = freshSource();
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) {
    statuses.push((await rawPost(`${i % 2 ? b : a}/mcp/${link.linkId}`, call, from(ip, randomKey()))).status);
    await new Promise((r) => setTimeout(r, 40)); // > the counters' 100 ms flush every few requests
  }
  const unauthorized = statuses.filter((s) => s === 401).length;
  expect(unauthorized).toBeGreaterThanOrEqual(6);
  // Shared through Redis: not 6 per instance, at most a flush interval's overshoot.
  expect(unauthorized).toBeLessThanOrEqual(9);
  expect(statuses.slice(-15).every((s) => s === 429)).toBe(true);
  const refused = await rawPost(`${a}/mcp/${link.linkId}`, call, from(ip, link.key));
  expect(refused.status).toBe(429); // the address is refused whatever it sends, until the minute ends
  expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(60);
  // Another address with the real key is served.
  expect((await rawPost(`${b}/mcp/${link.linkId}`, call, from(freshSource(), link.key))).status).toBe(200);

  // 31 refused requests, yet only the first of each kind per instance is in the team's trail so far.
  const events = await waitFor(
    () => auditEvents(world),
    (es) => es.filter((e) => e.linkId === link.linkId && e.kind === "request_refused").length >= 3,
  );
  await new Promise((r) => setTimeout(r, 300));
  const mine = (await auditEvents(world)).filter((e) => e.linkId === link.linkId && e.kind === "request_refused");
  expect(mine.every((e) => e.sourceIp === ip)).toBe(true);
  expect(mine.length).toBeLessThanOrEqual(4); // {unauthenticated, auth_failures_ip} x 2 instances
  expect(events.some((e) => e.ruleId === "auth_failures_ip")).toBe(true);
});

test("a link attacked from many addresses accepts only credentials already verified", async () => {
  await awayFromMinuteEnd();
  const link = await world.addLink({ access: "read" });
  const warmed = await world.addLink({ access: "read" });
  // A member's key verified on instance A before the attack.
  expect((await rawPost(`${a}/mcp/${link.linkId}`, call, from(freshSource(), link.key))).status).toBe(200);
  const statuses: number[] = [];
  for (let i = 0; i < 60; i++) {
    statuses.push((await rawPost(`${i % 2 ? b : a}/mcp/${link.linkId}`, call, from(freshSource(), randomKey()))).status);
    if (i % 5 === 0) await new Promise((r) => setTimeout(r, 120));
  }
  expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(48);
  expect(statuses.slice(-10).every((s) => s === 429)).toBe(true);
  // The member keeps working on the instance that knows the key; other links are not affected.
  expect((await rawPost(`${a}/mcp/${link.linkId}`, call, from(freshSource(), link.key))).status).toBe(200);
  expect((await rawPost(`${b}/mcp/${warmed.linkId}`, call, from(freshSource(), warmed.key))).status).toBe(200);
});

test("X-Forwarded-For is ignored unless TRUST_PROXY says how many hops to believe", async () => {
  const link = await world.addLink({ access: "read" });
  const spoofed = "198.51.100.23";
  // TRUST_PROXY=0 (the default): the socket's peer is the source, whatever the header claims.
  for (let i = 0; i < 10; i++) expect((await rawPost(`${plain}/mcp/${link.linkId}`, call, from(spoofed, randomKey()))).status).toBe(401);
  // TRUST_PROXY=1: the last entry (what our one proxy appended) counts, not a client-written first one.
  await rawPost(`${a}/mcp/${link.linkId}`, call, from(`${spoofed}, 192.0.2.44`, randomKey()));
  const events = await waitFor(
    () => auditEvents(world),
    (es) => es.filter((e) => e.linkId === link.linkId).length >= 2,
  );
  const sources = new Set(events.filter((e) => e.linkId === link.linkId).map((e) => e.sourceIp));
  expect(sources).toEqual(new Set(["127.0.0.1", "192.0.2.44"]));
});

test("guessing link ids from one address is refused by address too", async () => {
  await awayFromMinuteEnd();
  const ip = freshSource();
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) {
    statuses.push((await rawPost(`${a}/mcp/${randomUUID()}`, call, from(ip, randomKey()))).status);
    await new Promise((r) => setTimeout(r, 30));
  }
  expect(statuses.slice(-8).every((s) => s === 429)).toBe(true);
});

test("a path naming no link (anything but a UUID) is refused before it names a counter, and counts against its source", async () => {
  await awayFromMinuteEnd();
  const ip = freshSource();
  const marker = `junk${randomBytes(4).toString("hex")}`;
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) {
    statuses.push((await rawPost(`${a}/mcp/${marker}-${i}`, call, from(ip, randomKey()))).status);
    await new Promise((r) => setTimeout(r, 40));
  }
  expect(statuses.slice(0, 6).every((s) => s === 401)).toBe(true);
  expect(statuses.slice(-3).every((s) => s === 429)).toBe(true);
  const { Redis } = await import("ioredis");
  const { testRedisUrl } = await import("@portcullis/db/testing");
  const redis = new Redis(testRedisUrl());
  try {
    expect(await redis.keys(`*${marker}*`)).toEqual([]);
  } finally {
    redis.disconnect();
  }
});
