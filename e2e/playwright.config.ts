import { defineConfig } from "@playwright/test";

/**
 * End-to-end suite against the real stack: global setup starts PostgreSQL/Redis (test services), a
 * fresh metadata database, a Chinook target, the production build of the dashboard, the gateway and
 * the worker on free ports. Chromium is the system one (never a downloaded browser).
 */
export default defineConfig({
  testDir: ".",
  testMatch: /.*\.spec\.ts$/,
  globalSetup: "./support/global-setup.ts",
  globalTeardown: "./support/global-teardown.ts",
  // The specs share one stack and the dashboard runs on two cores: one worker keeps timings honest.
  workers: 1,
  fullyParallel: false,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  retries: 0,
  reporter: [["list"]],
  outputDir: "./test-results",
  use: {
    baseURL: process.env.E2E_WEB_URL,
    viewport: { width: 1280, height: 860 },
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
    },
  },
});
