import http from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import pg from "pg";

/** A serializable description of how to reach a target, so load-generating child processes can too. */
export type TargetSpec =
  | { kind: "pg"; name: string; url: string; sql: string }
  | { kind: "sdk"; name: string; url: string; headers: Record<string, string>; tool: string; sql: string }
  | { kind: "raw"; name: string; url: string; headers: Record<string, string>; tool: string; sql: string; method?: string };

export interface BenchClient {
  call(): Promise<void>;
  close(): Promise<void>;
}

export async function connectClient(spec: TargetSpec): Promise<BenchClient> {
  switch (spec.kind) {
    case "pg": {
      const client = new pg.Client({ connectionString: spec.url });
      await client.connect();
      return { call: async () => void (await client.query(spec.sql)), close: () => client.end() };
    }
    case "sdk": {
      // The official SDK client, as every MCP host uses it.
      const client = new Client({ name: "portcullis-bench", version: "1.0.0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(spec.url), { requestInit: { headers: spec.headers } }));
      return {
        async call() {
          const result = await client.callTool({ name: spec.tool, arguments: { sql: spec.sql } });
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
  let id = 0;
  const post = (payload: unknown): Promise<string> =>
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
            "mcp-protocol-version": "2025-11-25",
            "content-length": Buffer.byteLength(body),
            ...spec.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`${spec.name}: HTTP ${res.statusCode}`))));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  return {
    async call() {
      const text = await post(
        method === "tools/call"
          ? { jsonrpc: "2.0", id: ++id, method, params: { name: spec.tool, arguments: { sql: spec.sql } } }
          : { jsonrpc: "2.0", id: ++id, method },
      );
      if (text.includes('"isError":true')) throw new Error(`${spec.name}: ${text.slice(0, 300)}`);
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
