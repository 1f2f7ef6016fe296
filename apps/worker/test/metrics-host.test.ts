import { expect, test } from "vitest";
import { loadWorkerEnv } from "../src/env.js";

const base = { DATABASE_URL: "postgresql://u:secret@localhost/db", REDIS_URL: "redis://localhost:6379", PORTCULLIS_SECRET_KEYS: "k:AAAA" };

// Issue 12: the worker's metrics and health listened on every interface.
test("worker metrics listen on loopback unless WORKER_METRICS_HOST says otherwise", () => {
  expect(loadWorkerEnv(base).WORKER_METRICS_HOST).toBe("127.0.0.1");
  expect(loadWorkerEnv({ ...base, WORKER_METRICS_HOST: "0.0.0.0" }).WORKER_METRICS_HOST).toBe("0.0.0.0");
});
