import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { mcpClientConfigs } from "@portcullis/db/mcp-client-config";
import { afterAll, beforeAll, expect, test } from "vitest";
import { GatewayWorld, toolJson, toolText, type LinkFixture } from "./fixtures.js";

/**
 * Real clients other than our tests' SDK client: mcp-remote (how Claude Desktop reaches remote
 * servers: a stdio bridge with the key in a header, exactly as the dashboard's config tells it) and
 * the MCP Inspector in CLI mode.
 */
const E2E = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../e2e/node_modules");
const run = promisify(execFile);
let world: GatewayWorld;
let url: string;
let link: LinkFixture;
let authDir: string;

beforeAll(async () => {
  world = await GatewayWorld.create();
  const started = await world.startGateway();
  // Clients reach it as localhost, as in the dashboard's configs.
  url = started.url.replace("127.0.0.1", "localhost");
  link = await world.addLink({ access: "read" });
  authDir = await mkdtemp(path.join(tmpdir(), "gw-mcp-remote-"));
});
afterAll(async () => {
  await world?.close();
  await rm(authDir, { recursive: true, force: true });
});

test("Claude Desktop's config from the dashboard: mcp-remote bridges stdio to the gateway with the key in a header", async () => {
  const configs = mcpClientConfigs({ name: "chinook", url: `${url}/mcp/${link.linkId}`, apiKey: link.key });
  const desktop = JSON.parse(configs.find((c) => c.client === "claude-desktop")!.snippet);
  const { command, args } = desktop.mcpServers.chinook as { command: string; args: string[] };
  expect(command).toBe("npx");
  expect(args.slice(0, 2)).toEqual(["-y", "mcp-remote"]);
  const transport = new StdioClientTransport({
    // `npx -y mcp-remote` with the copy installed in e2e/ (no registry access at test time).
    command: process.execPath,
    args: [path.join(E2E, "mcp-remote/dist/proxy.js"), ...args.slice(2)],
    env: { ...process.env, MCP_REMOTE_CONFIG_DIR: authDir } as Record<string, string>,
    stderr: "ignore",
  });
  const client = new Client({ name: "claude-desktop-like", version: "1.0.0" });
  await client.connect(transport);
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name)).toContain("execute_sql");
  const r = (await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT name FROM media_type ORDER BY media_type_id LIMIT 2" } })).structuredContent as { rows: unknown[][] };
  expect(r.rows).toEqual([["MPEG audio file"], ["Protected AAC audio file"]]);
  expect(toolText(await client.callTool({ name: "execute_sql", arguments: { sql: "TRUNCATE album" } }))).toContain("ddl_not_permitted");
  await client.close();
}, 60_000);

test("Cursor's and VS Code's configs from the dashboard work with the SDK's Streamable HTTP client", async () => {
  const configs = mcpClientConfigs({ name: "chinook", url: `${url}/mcp/${link.linkId}`, apiKey: link.key });
  const cursor = JSON.parse(configs.find((c) => c.client === "cursor")!.snippet).mcpServers.chinook as { url: string; headers: Record<string, string> };
  const vscode = JSON.parse(configs.find((c) => c.client === "vscode")!.snippet).servers.chinook as { url: string; headers: Record<string, string> };
  for (const server of [cursor, vscode]) {
    const client = new Client({ name: "cursor-like", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: server.headers } }));
    expect(toolText(await client.callTool({ name: "get_permissions", arguments: {} }))).toMatch(/read/i);
    await client.close();
  }
});

test("MCP Inspector CLI lists tools and calls one", async () => {
  const bin = path.join(E2E, "@modelcontextprotocol/inspector-cli/build/index.js");
  const common = [`${url}/mcp/${link.linkId}`, "--transport", "http", "--header", `Authorization: Bearer ${link.key}`];
  // inspector-cli 1.0.3 finds its package.json relative to the working directory: run it from its build dir.
  const options = { timeout: 30_000, cwd: path.dirname(bin) };
  const list = await run(process.execPath, [bin, ...common, "--method", "tools/list"], options);
  expect(list.stdout, list.stderr).toContain("get_schema");
  const called = await run(process.execPath, [bin, ...common, "--method", "tools/call", "--tool-name", "execute_sql", "--tool-arg", "sql=SELECT 40 + 2 AS answer"], options);
  expect(called.stdout).toContain("[[42]]");
}, 60_000);
