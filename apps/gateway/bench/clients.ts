import http from "node:http";
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import pg from "pg";

/**
 * A serializable description of how to reach a target, so load-generating child processes can too.
 * `sql` may hold `{n}`: each call replaces it with a per-client counter, so the statement text differs
 * on every call (no cache keyed by the text can answer it) while the work stays the same.
 * Raw targets speak one MCP revision: `legacy` (2025-11-25: no initialize needed by a stateless server)
 * or `modern` (2026-07-28: Mcp-Method/Mcp-Name headers and the per-request `_meta` envelope with
 * protocol version, client info and capabilities on every call).
 */
export type TargetSpec =
  | { kind: "pg"; name: string; url: string; sql: string }
  | { kind: "sdk"; name: string; url: string; headers: Record<string, string>; tool: string; sql: string; era?: "legacy" | "modern" }
  | { kind: "raw"; name: string; url: string; headers: Record<string, string>; tool: string; sql: string; method?: string; era?: "legacy" | "modern" };

/** The statement of call `n`: `{n}` replaced by a number that keeps the result the same size. */
export function sqlFor(template: string, n: number): string {
  return template.replace("{n}", String(n % 3000));
}

export interface BenchClient {
  call(): Promise<void>;
  close(): Promise<void>;
}

export async function connectClient(spec: TargetSpec): Promise<BenchClient> {
  switch (spec.kind) {
    case "pg": {
      const client = new pg.Client({ connectionString: spec.url });
      await client.connect();
      let n = Math.floor(Math.random() * 3000);
      return { call: async () => void (await client.query(sqlFor(spec.sql, n++))), close: () => client.end() };
    }
    case "sdk": {
      const client =
        spec.era === "modern"
          ? // The v2 SDK client pinned to 2026-07-28, as an application that opts into the new revision.
            new ClientV2({ name: "portcullis-bench", version: "2.4.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } })
          : // The official SDK client (1.x, 2025-11-25), as most MCP hosts embed it today.
            new Client({ name: "portcullis-bench", version: "1.0.0" });
      if (client instanceof ClientV2) await client.connect(new TransportV2(new URL(spec.url), { requestInit: { headers: spec.headers } }));
      else await client.connect(new StreamableHTTPClientTransport(new URL(spec.url), { requestInit: { headers: spec.headers } }));
      let n = Math.floor(Math.random() * 3000);
      return {
        async call() {
          const result = await client.callTool({ name: spec.tool, arguments: { sql: sqlFor(spec.sql, n++) } });
          if (result.isError) throw new Error(`${spec.name}: ${JSON.stringify(result.content)}`);
        },
        close: () => client.close(),
      };
    }
    case "raw":
      return rawClient(spec);
  }
}

/**
 * The same call as plain JSON-RPC over one keep-alive HTTP connection (no SDK client): shows how much
 * of each number is the client library rather than the server. Reported separately, never mixed in.
 */
function rawClient(spec: Extract<TargetSpec, { kind: "raw" }>): BenchClient {
  const target = new URL(spec.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const method = spec.method ?? "tools/call";
  const modern = spec.era === "modern";
  // One client identity per connection, sent with every request as a 2026-07-28 client does.
  const envelope = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": { name: "portcullis-bench", version: "1.0.0" },
    "io.modelcontextprotocol/clientCapabilities": {},
  };
  let id = 0;
  let n = Math.floor(Math.random() * 3000);
  const post = (payload: unknown, eraHeaders: Record<string, string>): Promise<string> =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify(payload);
      const req = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            "content-length": Buffer.byteLength(body),
            ...eraHeaders,
            ...spec.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`${spec.name}: HTTP ${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 300)}`))));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  return {
    async call() {
      const params: Record<string, unknown> | undefined = method === "tools/call" ? { name: spec.tool, arguments: { sql: sqlFor(spec.sql, n++) } } : undefined;
      const headers: Record<string, string> = modern
        ? { "mcp-protocol-version": "2026-07-28", "mcp-method": method, ...(method === "tools/call" ? { "mcp-name": spec.tool } : {}) }
        : { "mcp-protocol-version": "2025-11-25" };
      const message = modern ? { jsonrpc: "2.0", id: ++id, method, params: { ...params, _meta: envelope } } : { jsonrpc: "2.0", id: ++id, method, ...(params ? { params } : {}) };
      const text = await post(message, headers);
      // A JSON-RPC error can come with HTTP 200: only a result counts as a call served.
      if (text.includes('"isError":true') || !text.includes('"result"')) throw new Error(`${spec.name}: ${text.slice(0, 300)}`);
    },
    close: async () => agent.destroy(),
  };
}

/** Runs `clients` back to back until `deadline` (epoch ms); returns the number of completed calls. */
export async function runUntil(clients: BenchClient[], deadline: number): Promise<number> {
  let calls = 0;
  await Promise.all(
    clients.map(async (c) => {
      while (Date.now() < deadline) {
        await c.call();
        calls++;
      }
    }),
  );
  return calls;
}
