import { randomBytes } from "node:crypto";
import { NextRequest } from "next/server";
import { encode } from "next-auth/jwt";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createMetadataDatabase, testRedisUrl, type TestDatabase } from "@portcullis/db/testing";
import { createRedis, startHeartbeat } from "@portcullis/jobs";
import { parseGatewayEnv } from "../../gateway/src/env";
import { spawnGateway, type ChildGateway } from "../../gateway/test/child-gateway";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * /api/health against real parts: the test metadata database and Redis, a real gateway process and a
 * real worker heartbeat. Signed out, the answer is the overall status only; signed in, each part with
 * what its outage means. Parts go down for real (heartbeat stopped, gateway stopped) between calls.
 */
let meta: TestDatabase;
let gateway: ChildGateway;
const prefix = `health${randomBytes(3).toString("hex")}`;
const secret = randomBytes(24).toString("hex");

beforeAll(async () => {
  meta = await createMetadataDatabase();
  gateway = await spawnGateway(
    parseGatewayEnv({
      DATABASE_URL: meta.url,
      REDIS_URL: testRedisUrl(),
      PORTCULLIS_SECRET_KEYS: `t:${randomBytes(32).toString("base64")}`,
      GATEWAY_AUDIT_SPOOL_DIR: `/tmp/health-spool-${prefix}`,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: "silent",
    }),
  );
  useDashboardEnv(meta.url, { NEXTAUTH_SECRET: secret, QUEUE_PREFIX: prefix, GATEWAY_PUBLIC_URL: gateway.url, WEB_PUBLIC_URL: "http://localhost:3996" });
}, 120_000);

afterAll(async () => {
  await gateway?.stop();
  const { getPrisma } = await import("../src/lib/db");
  await getPrisma().$disconnect();
  const { getRedis } = await import("../src/lib/redis");
  getRedis().disconnect();
  await meta?.drop();
});

async function get(signedIn: boolean) {
  const { GET } = await import("../src/app/api/health/route");
  const headers: Record<string, string> = {};
  if (signedIn) headers.cookie = `next-auth.session-token=${await encode({ token: { uid: "u", sid: "s" }, secret })}`;
  const response = await GET(new NextRequest("http://localhost:3996/api/health", { headers }));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> & { parts?: { name: string; state: string; message?: string; detail?: string }[] } };
}
const part = (body: Awaited<ReturnType<typeof get>>["body"], name: string) => body.parts?.find((p) => p.name === name);

test("signed out: the overall status only; signed in: each part and what an outage means", async () => {
  const { forgetHealth } = await import("../src/app/api/health/collect");
  forgetHealth();
  const anonymous = await get(false);
  expect(anonymous.status).toBe(200);
  expect(anonymous.body).toEqual({ ok: false, status: "degraded" });

  // No worker beats under this prefix: the worker is reported down, in plain words.
  const member = await get(true);
  expect(member.status).toBe(200);
  expect(part(member.body, "database")?.state).toBe("ok");
  expect(part(member.body, "redis")?.state).toBe("ok");
  expect(part(member.body, "gateway")).toMatchObject({ state: "ok" });
  expect(part(member.body, "worker")).toMatchObject({ state: "down", detail: "0 running" });
  expect(part(member.body, "worker")?.message).toMatch(/worker is not running: calls are still answered and audited/);

  // Answers are cached for about 2 s: a second look within that time is the same report.
  const again = await get(true);
  expect(again.body.checkedAt).toBe(member.body.checkedAt);

  // Two workers beating: counted; everything fine.
  const redis = createRedis(testRedisUrl(), "worker");
  const beats = [startHeartbeat(redis, { prefix }), startHeartbeat(redis, { prefix })];
  await new Promise((r) => setTimeout(r, 200));
  forgetHealth();
  const healthy = await get(true);
  expect(part(healthy.body, "worker")).toMatchObject({ state: "ok", detail: "2 running" });
  expect(healthy.body).toMatchObject({ ok: true, status: "ok" });
  expect((await get(false)).body).toEqual({ ok: true, status: "ok" });

  // A worker that stops cleanly leaves at once.
  await beats[0]!.stop();
  forgetHealth();
  expect(part((await get(true)).body, "worker")).toMatchObject({ state: "ok", detail: "1 running" });

  // The gateway stopped: down, said plainly; the dashboard itself still serves (HTTP 200).
  await gateway.stop();
  forgetHealth();
  const noGateway = await get(true);
  expect(noGateway.status).toBe(200);
  expect(noGateway.body.status).toBe("down");
  expect(part(noGateway.body, "gateway")).toMatchObject({ state: "down" });
  expect(part(noGateway.body, "gateway")?.message).toMatch(/gateway is not answering/);
  await beats[1]!.stop();
  redis.disconnect();
}, 60_000);
