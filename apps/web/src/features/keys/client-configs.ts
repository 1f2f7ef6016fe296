import { mcpClientConfigs, serverName } from "@portcullis/db/mcp-client-config";

/** The same snippets the quick start prints (one source: @portcullis/db/mcp-client-config). */
export function clientConfigs(linkName: string, url: string, key?: string) {
  return mcpClientConfigs({ name: serverName(linkName), url, apiKey: key ?? "<YOUR_KEY>" });
}
