import { availableParallelism } from "node:os";
import { expect, test } from "vitest";
import { restartDelayMs } from "../src/cluster.js";
import { parseGatewayEnv } from "../src/env.js";

const base = {
  DATABASE_URL: "postgresql://u:p@127.0.0.1:5432/db",
  REDIS_URL: "redis://127.0.0.1:6379",
  PORTCULLIS_SECRET_KEYS: "k1:x",
};

test("GATEWAY_PROCESSES: unset or empty runs in one process, a count, or auto = the cores this process may use", () => {
  expect(parseGatewayEnv(base).GATEWAY_PROCESSES).toBeUndefined();
  expect(parseGatewayEnv({ ...base, GATEWAY_PROCESSES: "" }).GATEWAY_PROCESSES).toBeUndefined();
  expect(parseGatewayEnv({ ...base, GATEWAY_PROCESSES: " 3 " }).GATEWAY_PROCESSES).toBe(3);
  expect(parseGatewayEnv({ ...base, GATEWAY_PROCESSES: "auto" }).GATEWAY_PROCESSES).toBe(
    availableParallelism(),
  );
});

test("GATEWAY_PROCESSES refuses what is not a positive count or auto, instead of guessing", () => {
  for (const bad of ["0", "-1", "1.5", "two", "AUTO ", "100000"]) {
    expect(() => parseGatewayEnv({ ...base, GATEWAY_PROCESSES: bad }), bad).toThrow(/GATEWAY_PROCESSES/);
  }
});

test("a crashing process is restarted after 250 ms, doubling per early crash, capped at 15 s", () => {
  expect([1, 2, 3, 4, 7, 8, 50].map(restartDelayMs)).toEqual([250, 500, 1000, 2000, 15_000, 15_000, 15_000]);
});
