import { freePort } from "@portcullis/db/testing";
import { afterAll, beforeAll, expect, test } from "vitest";
import { GatewayWorld, rawPost, type LinkFixture } from "./fixtures.js";
import { awayFromMinuteEnd } from "./minute-window.js";

/**
 * Redis unreachable for the gateway's whole life (nothing listens on its port): the per-key rate
 * limit and the per-link failed-authentication limit keep working from this instance's own counts, as
 * documented in rate-limit.ts — a 429 with Retry-After where the limit is reached, a 401 for a bad key,
 * never a 500 — and calls are served meanwhile. The gateway also stops without waiting for Redis
 * (afterAll: the revocation subscriber's QUIT used to wait for a Redis that never came).
 */
let world: GatewayWorld;
let url: string;
let link: LinkFixture;

beforeAll(async () => {
  world = await GatewayWorld.create();
  link = await world.addLink({ access: "read" });
  const nothing = await freePort();
  ({ url } = await world.startGateway({
    REDIS_URL: `redis://127.0.0.1:${nothing}`,
    GATEWAY_RATE_LIMIT_PER_MINUTE: "5",
    GATEWAY_AUTH_FAILURES_PER_LINK_PER_MINUTE: "3",
  }));
}, 60_000);
afterAll(async () => {
  await world?.close();
});

const call = (key: string, n: number) =>
  rawPost(`${url}/mcp/${link.linkId}`, { jsonrpc: "2.0", id: n, method: "tools/call", params: { name: "execute_sql", arguments: { sql: `SELECT ${n} AS n` } } }, { authorization: `Bearer ${key}` });

test("with Redis down the per-key and per-link limits are enforced locally: 200s, then 429 with Retry-After; never a 500", async () => {
  await awayFromMinuteEnd();
  const statuses: number[] = [];
  for (let n = 1; n <= 7; n++) {
    const r = await call(link.key, n);
    statuses.push(r.status);
    if (r.status === 429) expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
  }
  expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);

  const bogus = link.key.replace(/.{6}$/, "xxxxxx");
  const refused: number[] = [];
  for (let n = 0; n < 5; n++) refused.push((await call(bogus, 100 + n)).status);
  // Three failures put the link under attack: unknown credentials are then refused without a lookup.
  expect(refused).toEqual([401, 401, 401, 429, 429]);
}, 60_000);
