import type { BaselineEntry } from "./baseline.js";
import type { Check, ScenarioRun } from "./run-scenario.js";

export interface Verdict {
  scenario: string;
  version: string;
  passed: number;
  expectedFailures: string[];
  /** Failures (or warnings) not in the baseline: `check-id: message`. */
  unexpected: string[];
  /** Baselined checks that now pass: the entry must go. */
  stale: string[];
  skipped: number;
  cliExitCode: number;
  durationMs: number;
}

const failing = (c: Check) => c.status === "FAILURE" || c.status === "WARNING";

/** The suite's exit-code rules, applied per check, from checks.json (so every message is at hand). */
export function judge(run: ScenarioRun, baseline: BaselineEntry[]): Verdict {
  const baselined = new Set(baseline.map((e) => e.check));
  const unexpected = run.checks.filter((c) => failing(c) && !baselined.has(c.id)).map((c) => `${c.status} ${c.id}: ${(c.errorMessage ?? c.description ?? "").slice(0, 400)}`);
  const expectedFailures = run.checks.filter((c) => failing(c) && baselined.has(c.id)).map((c) => c.id);
  const stale = [...baselined].filter((id) => run.checks.find((c) => c.id === id)?.status === "SUCCESS");
  if (run.checks.length === 0) unexpected.push("the scenario reported no checks at all (nothing was tested)");
  return {
    scenario: run.scenario,
    version: run.version,
    passed: run.checks.filter((c) => c.status === "SUCCESS").length,
    expectedFailures,
    unexpected,
    stale,
    skipped: run.checks.filter((c) => c.status === "SKIPPED").length,
    cliExitCode: run.cliExitCode,
    durationMs: run.durationMs,
  };
}

export function summaryMarkdown(verdicts: Verdict[], header: string): string {
  const lines = [
    header,
    "",
    "| scenario | spec version | pass | expected fail (baseline) | unexpected fail | stale baseline | skipped | suite exit | time (s) |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ...verdicts.map((v) => `| ${v.scenario} | ${v.version} | ${v.passed} | ${v.expectedFailures.length} | ${v.unexpected.length} | ${v.stale.length} | ${v.skipped} | ${v.cliExitCode} | ${(v.durationMs / 1000).toFixed(1)} |`),
  ];
  const totals = verdicts.reduce((t, v) => ({ pass: t.pass + v.passed, expected: t.expected + v.expectedFailures.length, unexpected: t.unexpected + v.unexpected.length, skipped: t.skipped + v.skipped }), { pass: 0, expected: 0, unexpected: 0, skipped: 0 });
  lines.push("", `Totals: ${totals.pass} checks passed, ${totals.expected} expected failures (fixtures), ${totals.unexpected} unexpected, ${totals.skipped} skipped, over ${verdicts.length} scenario runs.`);
  const problems = verdicts.flatMap((v) => [...v.unexpected.map((u) => `- ${v.scenario} @ ${v.version}: ${u}`), ...v.stale.map((s) => `- ${v.scenario} @ ${v.version}: stale baseline entry ${s} (now passes; remove it)`)]);
  if (problems.length) lines.push("", "Unexpected:", "", ...problems);
  return `${lines.join("\n")}\n`;
}
