/**
 * Ready-to-paste configuration for the MCP clients we support, shown by the dashboard's link page and
 * printed by the quick start. One source so the two never disagree.
 */
export interface McpClientConfigInput {
  /** Server name as it appears in the client ("chinook-read-only"). */
  name: string;
  /** Full MCP URL: {GATEWAY_URL}/mcp/{linkId}. */
  url: string;
  /** API key; omitted when the client signs in with OAuth instead. */
  apiKey?: string;
}

export interface McpClientConfig {
  client: "cursor" | "claude-code" | "claude-desktop" | "vscode";
  title: string;
  /** Where the snippet goes. */
  where: string;
  language: "json" | "shell";
  snippet: string;
}

export function serverName(linkName: string): string {
  return linkName.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "portcullis";
}

export function mcpClientConfigs({ name, url, apiKey }: McpClientConfigInput): McpClientConfig[] {
  const headers = apiKey ? { Authorization: `Bearer ${apiKey}` } : undefined;
  const json = (value: unknown) => JSON.stringify(value, null, 2);
  const remoteArgs = ["-y", "mcp-remote", url, ...(apiKey ? ["--header", `Authorization:Bearer ${apiKey}`] : [])];
  return [
    {
      client: "cursor",
      title: "Cursor",
      where: "~/.cursor/mcp.json (or .cursor/mcp.json in the project)",
      language: "json",
      snippet: json({ mcpServers: { [name]: { url, ...(headers ? { headers } : {}) } } }),
    },
    {
      client: "claude-code",
      title: "Claude Code",
      where: "a terminal",
      language: "shell",
      snippet: `claude mcp add --transport http ${name} ${url}${apiKey ? ` --header "Authorization: Bearer ${apiKey}"` : ""}`,
    },
    {
      client: "claude-desktop",
      title: "Claude Desktop",
      where: "claude_desktop_config.json (Settings → Developer → Edit Config)",
      language: "json",
      snippet: json({ mcpServers: { [name]: { command: "npx", args: remoteArgs } } }),
    },
    {
      client: "vscode",
      title: "VS Code",
      where: ".vscode/mcp.json (or the \"mcp\" section of settings.json)",
      language: "json",
      snippet: json({ servers: { [name]: { type: "http", url, ...(headers ? { headers } : {}) } } }),
    },
  ];
}
