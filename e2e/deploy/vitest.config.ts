import { defineConfig } from "vitest/config";

// Issue 16's deployment artifacts (Dockerfile, docker-compose.yml, deploy/helm): scripts/test.sh runs
// this config on its own line. The static checks are fast; entrypoint.int.test.ts starts a throwaway
// PostgreSQL and Redis and the three apps through scripts/docker-entrypoint.sh.
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["e2e/deploy/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    environment: "node",
    testTimeout: 60_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
