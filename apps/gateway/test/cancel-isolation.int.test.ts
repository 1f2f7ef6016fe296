import { afterAll, beforeAll, expect, test } from "vitest";
import { GatewayWorld, modernCall, modernHeaders, type LinkFixture } from "./fixtures.js";

/**
 * A disconnecting caller's cancel must never reach another caller's statement. Found by attack: the
 * cancel (pg_cancel_backend) went through the same pool, waited in line behind the statements it should
 * relieve, and ran after the backend had been handed to the next caller — cancelling *their* statement.
 * Two links on one connection, a pool of two: the attacker fills it, the victim queues, the attacker
 * disconnects; the victim's read must still succeed.
 */
let world: GatewayWorld;
let attacker: LinkFixture;
let victim: LinkFixture;

beforeAll(async () => {
  world = await GatewayWorld.create();
  const { url } = await world.startGateway({ GATEWAY_RATE_LIMIT_PER_MINUTE: "100000", GATEWAY_POOL_MAX: "2" });
  attacker = await world.addLink({ access: "read", schemas: ["public"], limits: { statementTimeoutMs: 60_000 } }, undefined, url);
  victim = await world.addLink({ access: "read", schemas: ["public"], limits: { statementTimeoutMs: 60_000 } }, undefined, url);
});
afterAll(() => world?.close());

function call(link: LinkFixture, sql: string, signal?: AbortSignal): Promise<Response> {
  const headers = { "content-type": "application/json", accept: "application/json", ...modernHeaders(link.key, "tools/call", "execute_sql") };
  return fetch(link.url, { method: "POST", signal, headers, body: JSON.stringify(modernCall(sql)) });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// pg_sleep is refused by the policy; a counted series runs for a calibrated time instead.
let perTenMillionMs = 1000;
const slow = (seconds: number) => `SELECT count(*) AS n FROM generate_series(1, ${Math.round(((seconds * 1000) / perTenMillionMs) * 10_000_000)}) g`;

test("the attacker's disconnect cancels its own statement only; the victim queued behind it gets its rows", async () => {
  const started = Date.now();
  await (await call(victim, "SELECT count(*) FROM generate_series(1, 10000000) g")).json();
  perTenMillionMs = Math.max(50, Date.now() - started);
  const aborted = new AbortController();
  const first = call(attacker, slow(3), aborted.signal).catch(() => null);
  await sleep(150);
  const second = call(attacker, slow(4)).then((r) => r.json());
  await sleep(300);
  // The pool (2) is full: the victim waits for a connection; the attacker's cancel would queue too.
  const victimCall = call(victim, slow(2)).then((r) => r.json() as Promise<{ result?: { isError?: boolean; structuredContent?: unknown } }>);
  await sleep(400);
  aborted.abort();
  const [victimReply] = await Promise.all([victimCall, second, first]);
  expect(victimReply.result?.isError, JSON.stringify(victimReply).slice(0, 400)).toBeUndefined();
  expect(victimReply.result?.structuredContent).toMatchObject({ status: "ok", rowCount: 1 });
}, 60_000);
