import { expect, test } from "vitest";
import { describeEnv, loadWorkerEnv } from "../src/env.js";

const base = { DATABASE_URL: "postgresql://u:secret@localhost/db", REDIS_URL: "redis://localhost:6379", PORTCULLIS_SECRET_KEYS: "k:AAAA" };

test("defaults: offline describer, metrics on 3002", () => {
  const env = loadWorkerEnv(base);
  expect(env).toMatchObject({ AI_PROVIDER: "none", WORKER_METRICS_PORT: 3002, QUEUE_PREFIX: "bull" });
  expect(JSON.stringify(describeEnv(env))).not.toContain("secret");
});

test("a provider without its key or URL is refused with a readable message", () => {
  expect(() => loadWorkerEnv({ ...base, AI_PROVIDER: "openai" })).toThrow(/OPENAI_API_KEY/);
  expect(() => loadWorkerEnv({ ...base, AI_PROVIDER: "anthropic" })).toThrow(/ANTHROPIC_API_KEY/);
  expect(() => loadWorkerEnv({ ...base, AI_PROVIDER: "openai-compatible", AI_MODEL: "llama3" })).toThrow(/AI_BASE_URL/);
  expect(() => loadWorkerEnv({ ...base, AI_PROVIDER: "openai-compatible", AI_BASE_URL: "http://localhost:11434/v1" })).toThrow(/AI_MODEL/);
  expect(() => loadWorkerEnv({ REDIS_URL: "redis://x" })).toThrow(/DATABASE_URL/);
});

test("empty strings (as .env.example leaves them) count as unset", () => {
  const env = loadWorkerEnv({ ...base, AI_MODEL: "", OPENAI_API_KEY: "", AI_BASE_URL: "" });
  expect(env.AI_MODEL).toBeUndefined();
  expect(describeEnv(env).aiBaseUrl).toBeNull();
});
