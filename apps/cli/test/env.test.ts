import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, expect, test } from "vitest";
import { loadLocalEnv } from "../src/env.js";

const names = ["PC_CLI_TEST_FROM_DOTENV", "PC_CLI_TEST_FROM_STACK", "PC_CLI_TEST_ALREADY_SET"];
afterEach(() => {
  for (const name of names) delete process.env[name];
});

test("reads the checkout's .env and the stack's URLs; the environment wins", async () => {
  const root = await mkdtemp(path.join(tmpdir(), "cli-env-"));
  await mkdir(path.join(root, ".data"));
  await writeFile(path.join(root, ".env"), "PC_CLI_TEST_FROM_DOTENV=a\nPC_CLI_TEST_ALREADY_SET=from-file\n");
  await writeFile(path.join(root, ".data", "stack.env"), "PC_CLI_TEST_FROM_STACK=postgresql://x/y\nPC_CLI_TEST_FROM_DOTENV=b\n");
  process.env.PC_CLI_TEST_ALREADY_SET = "from-env";
  loadLocalEnv(root);
  expect(process.env.PC_CLI_TEST_FROM_DOTENV).toBe("a");
  expect(process.env.PC_CLI_TEST_FROM_STACK).toBe("postgresql://x/y");
  expect(process.env.PC_CLI_TEST_ALREADY_SET).toBe("from-env");
});

test("no files, nothing changes", async () => {
  const root = await mkdtemp(path.join(tmpdir(), "cli-env-"));
  expect(() => loadLocalEnv(root)).not.toThrow();
  expect(process.env.PC_CLI_TEST_FROM_DOTENV).toBeUndefined();
});

test("a second stack's data directory (PORTCULLIS_DATA_DIR) gives the URLs, not the default .data", async () => {
  const root = await mkdtemp(path.join(tmpdir(), "cli-env-"));
  await mkdir(path.join(root, ".data"));
  await mkdir(path.join(root, "second"));
  await writeFile(path.join(root, ".data", "stack.env"), "PC_CLI_TEST_FROM_STACK=default\n");
  await writeFile(path.join(root, "second", "stack.env"), "PC_CLI_TEST_FROM_STACK=second\n");
  process.env.PORTCULLIS_DATA_DIR = "second";
  try {
    loadLocalEnv(root);
  } finally {
    delete process.env.PORTCULLIS_DATA_DIR;
  }
  expect(process.env.PC_CLI_TEST_FROM_STACK).toBe("second");
});
