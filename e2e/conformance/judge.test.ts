import { expect, test } from "vitest";
import { judge } from "./judge.js";
import type { Check, ScenarioRun } from "./run-scenario.js";

/** The judgement that decides whether the conformance run fails, on hand-made check lists. */
const run = (checks: Check[]): ScenarioRun => ({ scenario: "s", version: "2026-07-28", checks, cliExitCode: 0, stdout: "", durationMs: 1 });
const entry = (check: string) => ({ scenario: "s", check, reason: "fixture" });

test("a failure or a warning outside the baseline is unexpected; inside it is expected", () => {
  const v = judge(run([{ id: "a", status: "FAILURE", errorMessage: "boom" }, { id: "b", status: "WARNING" }, { id: "c", status: "FAILURE" }, { id: "d", status: "SUCCESS" }]), [entry("c")]);
  expect(v.unexpected).toEqual(["FAILURE a: boom", "WARNING b: "]);
  expect(v.expectedFailures).toEqual(["c"]);
  expect(v.passed).toBe(1);
});

test("a baselined check that passes is stale; one that is absent or skipped is tolerated", () => {
  const v = judge(run([{ id: "x", status: "SUCCESS" }, { id: "y", status: "SKIPPED" }]), [entry("x"), entry("y"), entry("z")]);
  expect(v.stale).toEqual(["x"]);
  expect(v.unexpected).toEqual([]);
});

test("a scenario that reports no checks at all fails (nothing was tested)", () => {
  expect(judge(run([]), []).unexpected).toHaveLength(1);
});
