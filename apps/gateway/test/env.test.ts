import { expect, test } from "vitest";
import { parseGatewayEnv } from "../src/env.js";

const base = { DATABASE_URL: "postgresql://u:p@127.0.0.1:5432/db", REDIS_URL: "redis://127.0.0.1:6379", PORTCULLIS_SECRET_KEYS: "k1:x" };

test("the internal listener defaults to loopback on its own port; TRUST_PROXY defaults to 0 hops", () => {
  const env = parseGatewayEnv(base);
  expect(env.GATEWAY_INTERNAL_HOST).toBe("127.0.0.1");
  expect(env.GATEWAY_INTERNAL_PORT).not.toBe(env.GATEWAY_PORT);
  expect(env.TRUST_PROXY).toBe(0);
  expect(parseGatewayEnv({ ...base, TRUST_PROXY: "2" }).TRUST_PROXY).toBe(2);
  expect(parseGatewayEnv({ ...base, TRUST_PROXY: "" }).TRUST_PROXY).toBe(0);
});

test("the old boolean GATEWAY_TRUST_PROXY is refused rather than silently ignored", () => {
  expect(() => parseGatewayEnv({ ...base, GATEWAY_TRUST_PROXY: "true" })).toThrow(/replaced by TRUST_PROXY/);
  expect(() => parseGatewayEnv({ ...base, TRUST_PROXY: "yes" })).toThrow(/TRUST_PROXY/);
  expect(parseGatewayEnv({ ...base, GATEWAY_TRUST_PROXY: "false" }).TRUST_PROXY).toBe(0);
});
