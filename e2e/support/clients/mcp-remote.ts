import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { type ClientUnderTest, seenResult } from "./client-under-test";

const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MCP_REMOTE = path.join(E2E_DIR, "node_modules", "mcp-remote", "dist", "proxy.js");

export type RemoteProtocol = "legacy" | "auto";

/**
 * mcp-remote 0.15.1, the stdio bridge Claude Desktop and other stdio-only hosts use, driven by a
 * stdio MCP client as such a host drives it. Default (legacy): it passes the host's 2025 handshake
 * through; `--protocol auto`: it probes server/discover and speaks 2026-07-28 upstream.
 */
export async function connectMcpRemote(
  url: string,
  key: string,
  protocol: RemoteProtocol,
  /** mcp-remote's arguments as a config writes them (e.g. the README's), instead of the suite's own. */
  written?: string[],
): Promise<ClientUnderTest & { stderr(): string }> {
  const configDir = mkdtempSync(path.join(tmpdir(), `mcp-remote-${protocol}-`));
  const own = [url, "--transport", "http-only", "--header", `Authorization: Bearer ${key}`, ...(protocol === "auto" ? ["--protocol", "auto"] : [])];
  // A short OAuth wait: after a revocation mcp-remote waits this long for a browser sign-in.
  const args = [MCP_REMOTE, ...(written ?? own), "--auth-timeout", "5"];
  const transport = new StdioClientTransport({
    command: process.execPath,
    args,
    cwd: E2E_DIR,
    env: { PATH: process.env.PATH!, HOME: configDir, MCP_REMOTE_CONFIG_DIR: configDir, BROWSER: "/bin/false" },
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: `e2e-host-via-mcp-remote-${protocol}`, version: "1.0.0" });
  await client.connect(transport);
  return {
    label: `mcp-remote (${protocol === "auto" ? "--protocol auto" : "default"})`,
    expectedRevision: protocol === "auto" ? "2026-07-28" : "2025-11-25",
    stderr: () => stderr,
    async listTools() {
      return (await client.listTools(undefined, { timeout: 20_000 })).tools.map((t) => t.name);
    },
    async callTool(name, args) {
      return seenResult(await client.callTool({ name, arguments: args }, undefined, { timeout: 20_000 }));
    },
    // On a 401, mcp-remote does not pass an error on: it starts an OAuth sign-in (prints the URL, waits
    // for the browser) and the host's call waits until its own timeout. What shows the refusal is
    // mcp-remote's log of the server's answer.
    async callAfterRevocation(name, args) {
      const before = stderr.length;
      const outcome = await client.callTool({ name, arguments: args }, undefined, { timeout: 8_000 }).then(
        (r) => `answered: ${JSON.stringify(r).slice(0, 600)}`,
        (error: Error) => error.message,
      );
      const said = stderr.slice(before).split("\n").filter((l) => /Unauthorized|requires authorization/.test(l));
      return `${outcome}; mcp-remote logged: ${said.join(" | ") || "(nothing about authorization)"}`;
    },
    async close() {
      await client.close();
      rmSync(configDir, { recursive: true, force: true });
    },
  };
}
