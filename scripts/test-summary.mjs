// Prints the closing lines for the whole run from the vitest and Playwright JSON reports: every
// failed test by name with the first lines of its error (so the tail of a CI log says what failed,
// not only how many), then one total ("N passed, N failed, N skipped"). Exits 1 when a report is
// missing or anything failed.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

const dir = process.argv[2];
let passed = 0, failed = 0, skipped = 0;
const missing = [];
const failures = [];

const firstLines = (text, n = 6) =>
  String(text ?? "")
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split("\n")
    .filter((l) => l.trim())
    .slice(0, n)
    .map((l) => `      ${l.slice(0, 300)}`)
    .join("\n");

const addVitest = (file, label) => {
  const v = JSON.parse(readFileSync(file, "utf8"));
  passed += v.numPassedTests ?? 0;
  failed += (v.numFailedTests ?? 0) + (v.numFailedTestSuites ?? 0) - (v.testResults ?? []).filter((s) => s.status === "failed" && (s.assertionResults ?? []).some((a) => a.status === "failed")).length;
  skipped += (v.numPendingTests ?? 0) + (v.numTodoTests ?? 0);
  for (const suite of v.testResults ?? []) {
    const where = path.relative(process.cwd(), suite.name ?? "");
    const failedTests = (suite.assertionResults ?? []).filter((a) => a.status === "failed");
    for (const a of failedTests) failures.push(`  ✗ [${label}] ${where} › ${a.fullName ?? a.title}\n${firstLines((a.failureMessages ?? []).join("\n"))}`);
    // A suite that failed without a failed test failed to load or in a hook.
    if (suite.status === "failed" && failedTests.length === 0) failures.push(`  ✗ [${label}] ${where} (the file failed outside its tests)\n${firstLines(suite.message)}`);
  }
};
for (const [name, label] of [
  ["vitest.json", "vitest"],
  ["vitest-deploy.json", "deployment artifacts (vitest)"],
  // The protocol and client suites again on Node 22 and 24 (scripts/test-node-versions.sh).
  ["vitest-node22.json", "vitest on Node 22"],
  ["vitest-node24.json", "vitest on Node 24"],
]) {
  const file = path.join(dir, name);
  if (existsSync(file)) addVitest(file, label);
  else missing.push(label);
}

const pwFile = path.join(dir, "playwright.json");
if (existsSync(pwFile)) {
  const p = JSON.parse(readFileSync(pwFile, "utf8"));
  passed += (p.stats?.expected ?? 0) + (p.stats?.flaky ?? 0);
  failed += p.stats?.unexpected ?? 0;
  skipped += p.stats?.skipped ?? 0;
  failed += (p.errors ?? []).length;
  const walk = (suite, trail) => {
    const here = suite.title ? [...trail, suite.title] : trail;
    for (const spec of suite.specs ?? []) {
      for (const t of spec.tests ?? []) {
        if (t.status !== "unexpected") continue;
        const last = (t.results ?? []).at(-1);
        failures.push(`  ✗ [playwright] ${[...here, spec.title].join(" › ")}\n${firstLines(last?.error?.message ?? last?.errors?.[0]?.message)}`);
      }
    }
    for (const child of suite.suites ?? []) walk(child, here);
  };
  for (const s of p.suites ?? []) walk(s, []);
  for (const e of p.errors ?? []) failures.push(`  ✗ [playwright] (outside a test)\n${firstLines(e.message)}`);
} else missing.push("playwright");

if (failures.length) console.log(`failed:\n${failures.join("\n")}`);
if (missing.length) console.log(`missing reports: ${missing.join(", ")} (a runner crashed before reporting)`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(missing.length || failed ? 1 : 0);
