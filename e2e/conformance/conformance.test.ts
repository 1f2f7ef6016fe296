import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { freePort } from "@portcullis/db/testing";
import { startAuthProxy, type AuthProxy } from "./auth-proxy.js";
import { BASELINE, baselineFor, baselineYaml } from "./baseline.js";
import { ROOT, startConformanceWorld, type ConformanceWorld } from "./gateway-world.js";
import { judge, summaryMarkdown, type Verdict } from "./judge.js";
import { runScenario } from "./run-scenario.js";
import { NOT_APPLICABLE, SCENARIOS } from "./scenarios.js";

/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance 0.2.0-alpha.12, on Node 24)
 * against the real gateway as its own process, a read-only link on a private Chinook, through a
 * loopback proxy that adds the link's key. Every applicable scenario at every revision it belongs to;
 * any failure outside baseline.ts fails the test, and so does a baseline entry that now passes.
 * Results: OUT/<version>/<scenario>/ (the suite's checks.json and output), OUT/summary.{md,json}.
 * CONFORMANCE_GATEWAY_REF=<git ref> runs the gateway's sources at that ref instead of the working tree.
 */
const OUT = process.env.CONFORMANCE_OUT ?? path.join(ROOT, ".data/test/reports/conformance");
let world: ConformanceWorld;
let proxy: AuthProxy;
let endpoint: string;
const verdicts: Verdict[] = [];
// A gateway that stops answering makes every later scenario wait out the suite's timeout; after the
// first such scenario the rest fail at once, naming it.
let stalledIn: string | undefined;

beforeAll(async () => {
  await rm(OUT, { recursive: true, force: true });
  await mkdir(OUT, { recursive: true });
  const proxyPort = await freePort();
  world = await startConformanceWorld({ logFile: path.join(OUT, "gateway.log"), publicUrl: `http://127.0.0.1:${proxyPort}`, sourceRef: process.env.CONFORMANCE_GATEWAY_REF || undefined });
  proxy = await startAuthProxy({ target: world.gatewayUrl, token: world.key, port: proxyPort });
  endpoint = `${proxy.url}/mcp/${world.linkId}`;
});

afterAll(async () => {
  const header =
    `Conformance: @modelcontextprotocol/conformance 0.2.0-alpha.12 on Node 24, ${new Date().toISOString()}, ` +
    `gateway ${process.env.CONFORMANCE_GATEWAY_REF ? `at ${process.env.CONFORMANCE_GATEWAY_REF}` : "working tree"}.`;
  const notRun = NOT_APPLICABLE.map((n) => `- not run: ${n.scenarios.join(", ")} — ${n.reason}`).join("\n");
  const baseline = BASELINE.map((b) => `- baseline: ${b.scenario}:${b.check}${b.versions ? ` (${b.versions.join(", ")})` : ""} — ${b.reason}`).join("\n");
  const markdown = `${summaryMarkdown(verdicts, header)}\n${baseline}\n${notRun}\n`;
  if (verdicts.length) {
    await writeFile(path.join(OUT, "summary.md"), markdown);
    await writeFile(path.join(OUT, "summary.json"), JSON.stringify({ header, verdicts, baseline: BASELINE, notApplicable: NOT_APPLICABLE }, null, 2));
    process.stdout.write(`\n${markdown}\n(saved in ${OUT})\n`);
  }
  await proxy?.close();
  await world?.close();
});

for (const { scenario, versions } of SCENARIOS) {
  for (const version of versions) {
    test(`${scenario} @ ${version}`, async () => {
      expect(stalledIn, `the gateway stopped answering during ${stalledIn}; see ${path.join(OUT, "gateway.log")}`).toBeUndefined();
      const run = await runScenario({ url: endpoint, scenario, version, outDir: OUT, baselineYaml: baselineYaml(scenario, version) });
      if (run.checks.some((c) => c.id === "scenario-timeout" && c.status === "FAILURE")) stalledIn = `${scenario} @ ${version}`;
      const verdict = judge(run, baselineFor(scenario, version));
      verdicts.push(verdict);
      expect(verdict.unexpected, `unexpected failures (see ${path.join(OUT, version, scenario)})`).toEqual([]);
      expect(verdict.stale, "baselined checks that now pass: remove them from baseline.ts").toEqual([]);
      // The suite's own judgement with the same baseline must agree.
      expect(run.cliExitCode, run.stdout.slice(-3000)).toBe(0);
    }, 90_000);
  }
}
