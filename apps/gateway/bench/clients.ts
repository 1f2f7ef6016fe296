import http from "node:http";
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import pg from "pg";
import { createMix, type Dialect, type MixCall } from "./agent-mix.js";
import { record, rowsOf, type Outcomes } from "./outcomes.js";

/**
 * A serializable description of how to reach a target, so load-generating child processes can too.
 * Every target sends the agent mix of `seed` in its own dialect; a client sends calls first, first+1, …
 * Raw targets speak one MCP revision: `legacy` (2025-11-25: no initialize needed by a stateless server)
 * or `modern` (2026-07-28: Mcp-Method/Mcp-Name headers and the per-request `_meta` envelope with
 * protocol version, client info and capabilities on every call).
 */
export type TargetSpec =
  | { kind: "pg"; name: string; url: string; seed: number; literals?: number }
  | { kind: "sdk"; name: string; url: string; headers: Record<string, string>; dialect: Dialect; seed: number; literals?: number; era?: "legacy" | "modern" }
  | { kind: "raw"; name: string; url: string; headers: Record<string, string>; dialect: Dialect; seed: number; literals?: number; era?: "legacy" | "modern" };

export interface BenchClient {
  /** Sends the next call of the mix; never throws: the outcome is counted. */
  call(): Promise<void>;
  /** The outcomes since the last take. */
  takeOutcomes(): Outcomes;
  close(): Promise<void>;
}

type Send = (call: MixCall) => Promise<{ answered: boolean; rows?: number; detail?: string }>;

function counting(spec: TargetSpec, first: number, send: Send, close: () => Promise<void>): BenchClient {
  const mix = createMix(spec.seed, spec.kind === "pg" ? "sql" : spec.dialect, undefined, spec.literals ?? 0);
  let next = first;
  let outcomes: Outcomes = {};
  return {
    async call() {
      const call = mix.nextCall(next++);
      let answer: Awaited<ReturnType<Send>>;
      try {
        answer = await send(call);
      } catch (error) {
        answer = { answered: false, detail: String(error) };
      }
      record(outcomes, call, answer.answered, answer.rows, answer.detail);
    },
    takeOutcomes() {
      const taken = outcomes;
      outcomes = {};
      return taken;
    },
    close,
  };
}

export async function connectClient(spec: TargetSpec, first: number): Promise<BenchClient> {
  switch (spec.kind) {
    case "pg": {
      // Read-only by default, as a read link: the mix's writes fail here as a read-only server refuses them.
      const client = new pg.Client({ connectionString: spec.url, options: "-c default_transaction_read_only=on" });
      await client.connect();
      return counting(
        spec,
        first,
        async (call) => {
          const result = await client.query(call.sql);
          const last = Array.isArray(result) ? result[result.length - 1] : result;
          return { answered: true, rows: last?.rows?.length };
        },
        () => client.end(),
      );
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
      return counting(
        spec,
        first,
        async (call) => {
          const result = (await client.callTool({ name: call.tool, arguments: call.args })) as Parameters<typeof rowsOf>[0];
          return result.isError ? { answered: false, detail: JSON.stringify(result.content) } : { answered: true, rows: rowsOf(result) };
        },
        () => client.close(),
      );
    }
    case "raw":
      return rawClient(spec, first);
  }
}

/**
 * The same call as plain JSON-RPC over one keep-alive HTTP connection (no SDK client): shows how much
 * of each number is the client library rather than the server. Reported separately, never mixed in.
 */
function rawClient(spec: Extract<TargetSpec, { kind: "raw" }>, first: number): BenchClient {
  const target = new URL(spec.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const modern = spec.era === "modern";
  // One client identity per connection, sent with every request as a 2026-07-28 client does.
  const envelope = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": { name: "portcullis-bench", version: "1.0.0" },
    "io.modelcontextprotocol/clientCapabilities": {},
  };
  let id = 0;
  const post = (payload: unknown, eraHeaders: Record<string, string>): Promise<{ status: number; text: string }> =>
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
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  return counting(
    spec,
    first,
    async (call) => {
      const params = { name: call.tool, arguments: call.args };
      const headers: Record<string, string> = modern
        ? { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": call.tool }
        : { "mcp-protocol-version": "2025-11-25" };
      const message = modern ? { jsonrpc: "2.0", id: ++id, method: "tools/call", params: { ...params, _meta: envelope } } : { jsonrpc: "2.0", id: ++id, method: "tools/call", params };
      const { status, text } = await post(message, headers);
      if (status !== 200) return { answered: false, detail: `HTTP ${status} ${text.slice(0, 200)}` };
      // A server may answer in SSE framing: the JSON-RPC message is the data line.
      const json = text.startsWith("{") ? text : (text.split("\n").find((l) => l.startsWith("data: "))?.slice(6) ?? "");
      const parsed = JSON.parse(json) as { result?: Parameters<typeof rowsOf>[0]; error?: unknown };
      // A JSON-RPC error can come with HTTP 200: only a result that is not an error counts as answered.
      if (!parsed.result || parsed.result.isError) return { answered: false, detail: json.slice(0, 300) };
      return { answered: true, rows: rowsOf(parsed.result) };
    },
    async () => agent.destroy(),
  );
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
