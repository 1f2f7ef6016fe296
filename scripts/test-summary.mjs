// Prints one closing line for the whole run ("N passed, N failed, N skipped") from the vitest and
// Playwright JSON reports, so CI sees a single total across runners. Exits 1 when a report is missing.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

const dir = process.argv[2];
let passed = 0, failed = 0, skipped = 0, missing = [];

const addVitest = (file) => {
  const v = JSON.parse(readFileSync(file, "utf8"));
  passed += v.numPassedTests ?? 0;
  failed += (v.numFailedTests ?? 0) + (v.numFailedTestSuites ?? 0) - (v.testResults ?? []).filter((s) => s.status === "failed" && (s.assertionResults ?? []).some((a) => a.status === "failed")).length;
  skipped += (v.numPendingTests ?? 0) + (v.numTodoTests ?? 0);
};
const vitestFile = path.join(dir, "vitest.json");
if (existsSync(vitestFile)) addVitest(vitestFile);
else missing.push("vitest");
const deployFile = path.join(dir, "vitest-deploy.json");
if (existsSync(deployFile)) addVitest(deployFile);
else missing.push("deployment artifacts (vitest)");
// The protocol and client suites again on Node 22 and 24 (scripts/test-node-versions.sh).
for (const version of [22, 24]) {
  const file = path.join(dir, `vitest-node${version}.json`);
  if (existsSync(file)) addVitest(file);
  else missing.push(`vitest on Node ${version}`);
}

const pwFile = path.join(dir, "playwright.json");
if (existsSync(pwFile)) {
  const p = JSON.parse(readFileSync(pwFile, "utf8"));
  passed += (p.stats?.expected ?? 0) + (p.stats?.flaky ?? 0);
  failed += p.stats?.unexpected ?? 0;
  skipped += p.stats?.skipped ?? 0;
  failed += (p.errors ?? []).length;
} else missing.push("playwright");

if (missing.length) console.log(`missing reports: ${missing.join(", ")} (a runner crashed before reporting)`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(missing.length || failed ? 1 : 0);
