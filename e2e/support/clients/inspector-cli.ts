import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type ClientUnderTest, seenResult } from "./client-under-test";

const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// Inspector 2.x needs Node >= 22.19; the machine's Node is 20. The test tree carries Node 24 as an npm package.
const NODE24 = path.join(E2E_DIR, "node_modules", "node24", "bin", "node");
const INSPECTOR = path.join(E2E_DIR, "node_modules", "@modelcontextprotocol", "inspector", "clients", "launcher", "build", "index.js");

export type InspectorEra = "legacy" | "modern";

/** What one CLI run printed and how it ended. */
export interface InspectorRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The MCP Inspector 2.12 CLI (`--cli`), one process per call as a script or CI job runs it.
 * - legacy (the default): the URL and `--header` on the command line, as most people run it; it
 *   speaks 2025-11-25 (initialize).
 * - modern: a config file naming the server with `"protocolEra": "modern"` (the documented way to
 *   select 2026-07-28; the command line has no flag for it).
 */
export function inspectorCli(
  url: string,
  key: string,
  era: InspectorEra,
  /** A config file's content to use as written (e.g. the README's), naming one server; modern only. */
  configFile?: { mcpServers: Record<string, unknown> },
): ClientUnderTest & { run(args: string[]): Promise<InspectorRun> } {
  // The CLI stores OAuth state and a catalog under HOME; each client gets a fresh one.
  const home = mkdtempSync(path.join(tmpdir(), `inspector-${era}-`));
  const config = path.join(home, "servers.json");
  const file = configFile ?? { mcpServers: { gateway: { type: "streamable-http", url, headers: { Authorization: `Bearer ${key}` }, protocolEra: "modern" } } };
  writeFileSync(config, JSON.stringify(file, null, 2));
  const server = Object.keys(file.mcpServers)[0]!;
  const target = era === "modern" ? ["--config", config, "--server", server] : [url, "--transport", "http", "--header", `Authorization: Bearer ${key}`];
  const run = (args: string[]) =>
    new Promise<InspectorRun>((resolve) => {
      execFile(
        NODE24,
        [INSPECTOR, "--cli", ...target, ...args],
        // No OS keychain on a test machine: secrets in memory for the run.
        { cwd: home, env: { PATH: process.env.PATH, HOME: home, MCP_INSPECTOR_SECRET_STORE: "memory", BROWSER: "/bin/false" }, timeout: 60_000 },
        (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
      );
    });
  const parsed = (r: InspectorRun, what: string) => {
    try {
      return JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      throw new Error(`inspector --cli (${era}) ${what} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    }
  };
  return {
    label: `Inspector CLI (${era})`,
    expectedRevision: era === "modern" ? "2026-07-28" : "2025-11-25",
    run,
    async listTools() {
      const r = await run(["--method", "tools/list"]);
      if (r.code !== 0) throw new Error(`inspector --cli (${era}) tools/list exited ${r.code}: ${r.stderr.trim()}`);
      return ((parsed(r, "tools/list").tools ?? []) as { name: string }[]).map((t) => t.name);
    },
    async callTool(name, args) {
      const pairs = Object.entries(args).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
      const r = await run(["--method", "tools/call", "--tool-name", name, ...(pairs.length ? ["--tool-arg", ...pairs] : [])]);
      // Exit 5 is "the tool answered isError: true", with the result on stdout like any other.
      if (r.code !== 0 && r.code !== 5) throw new Error(`inspector --cli (${era}) tools/call exited ${r.code}: ${r.stderr.trim()}`);
      return seenResult(parsed(r, "tools/call"));
    },
    async close() {
      rmSync(home, { recursive: true, force: true });
    },
  };
}
