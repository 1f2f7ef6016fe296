import { defineConfig } from "vitest/config";

// Two kinds of suites, kept apart: unit (pure, *.test.ts) and integration (real PostgreSQL and
// Redis, *.int.test.ts). End-to-end suites run under Playwright (e2e/).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          // Unit suites first (fast feedback), then integration with its own worker count.
          sequence: { groupOrder: 0 },
          include: ["{apps,packages}/*/{src,test}/**/*.test.ts"],
          exclude: ["**/*.int.test.ts", "**/node_modules/**"],
          environment: "node",
          // Not vitest's 5 s: several unit suites are CPU-bound walks of a 3,000-table catalog or the
          // attack corpus (write-effects 3.0 s, list-tables-pages 5.8 s measured in a full run on this
          // 2-core machine under load), and a timeout is no assertion of speed — none of them means one.
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "integration",
          sequence: { groupOrder: 1 },
          globalSetup: ["scripts/vitest-services.ts"],
          include: ["{apps,packages}/*/{src,test}/**/*.int.test.ts", "scripts/test/**/*.int.test.ts"],
          exclude: ["**/node_modules/**"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Two cores: integration suites start servers and databases; two at a time is the sweet spot.
          maxWorkers: 2,
          fileParallelism: true,
        },
      },
      {
        test: {
          // Issue 19's chaos test: its own databases, Redis and app processes, killed and restarted
          // under load; after the integration suites, alone (it needs both cores to keep its timing).
          name: "chaos",
          sequence: { groupOrder: 2 },
          globalSetup: ["scripts/vitest-services.ts"],
          include: ["e2e/chaos/**/*.test.ts"],
          exclude: ["**/node_modules/**"],
          environment: "node",
          testTimeout: 300_000,
          hookTimeout: 240_000,
          maxWorkers: 1,
          fileParallelism: false,
        },
      },
      {
        test: {
          // Issue 13: the official MCP conformance suite (on Node 24) against the gateway as its own
          // process, through an auth-injecting proxy; e2e/conformance/baseline.ts lists what may fail, and why.
          name: "conformance",
          sequence: { groupOrder: 3 },
          globalSetup: ["scripts/vitest-services.ts"],
          include: ["e2e/conformance/**/*.test.ts"],
          exclude: ["**/node_modules/**"],
          environment: "node",
          testTimeout: 90_000,
          hookTimeout: 120_000,
          maxWorkers: 1,
          fileParallelism: false,
        },
      },
    ],
  },
});
