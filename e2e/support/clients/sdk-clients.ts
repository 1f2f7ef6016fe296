import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2, TRACEPARENT_META_KEY } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type ClientUnderTest, seenResult } from "./client-under-test";

/**
 * The TypeScript SDK's v2 client (@modelcontextprotocol/client 2.4.0), as an application embeds it:
 * `pinned` asks for 2026-07-28 and nothing else; `auto` probes with server/discover and speaks
 * 2026-07-28 when the server offers it, 2025 otherwise; `default` (no versionNegotiation) speaks 2025.
 */
export async function connectV2(
  url: string,
  key: string,
  mode: "pinned" | "auto" | "default",
  traceparent?: string,
): Promise<ClientUnderTest & { negotiated(): string | undefined; sentBodies(): string[] }> {
  const name = `e2e-v2-${mode}`;
  const client = new ClientV2(
    { name, version: "2.4.0" },
    mode === "default" ? {} : { versionNegotiation: { mode: mode === "pinned" ? { pin: "2026-07-28" } : "auto" } },
  );
  // What went on the wire, so a test can show it sent what it claims to send.
  const sent: string[] = [];
  const recordingFetch: typeof fetch = (input, init) => {
    sent.push(typeof init?.body === "string" ? init.body : "");
    return fetch(input, init);
  };
  await client.connect(new TransportV2(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${key}` } }, fetch: recordingFetch }));
  return {
    label: `v2 client (${mode})`,
    sentBodies: () => sent,
    // Without versionNegotiation the v2 client stays on the 2025 era.
    expectedRevision: mode === "default" ? "2025-11-25" : "2026-07-28",
    negotiated: () => client.getNegotiatedProtocolVersion(),
    async listTools() {
      return (await client.listTools()).tools.map((t) => t.name);
    },
    async callTool(toolName, args) {
      // A W3C traceparent in the request's _meta (2026-07-28 carries it per request): its trace id
      // should land on the call's audit row.
      const meta = traceparent ? { _meta: { [TRACEPARENT_META_KEY]: traceparent } } : {};
      return seenResult(await client.callTool({ name: toolName, arguments: args, ...meta }));
    },
    close: () => client.close(),
  };
}

/** The 1.x SDK client (@modelcontextprotocol/sdk), which speaks 2025-11-25: what most hosts embed today. */
export async function connectV1(url: string, key: string): Promise<ClientUnderTest> {
  const client = new ClientV1({ name: "e2e-sdk1", version: "1.0.0" });
  await client.connect(new TransportV1(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }));
  return {
    label: "1.x SDK client",
    expectedRevision: "2025-11-25",
    async listTools() {
      return (await client.listTools()).tools.map((t) => t.name);
    },
    async callTool(toolName, args) {
      return seenResult(await client.callTool({ name: toolName, arguments: args }));
    },
    close: () => client.close(),
  };
}
