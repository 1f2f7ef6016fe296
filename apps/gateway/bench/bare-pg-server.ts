/**
 * The ceiling for any MCP-over-HTTP server on this machine: a plain `node:http` JSON-RPC responder that
 * runs the requested SQL through a `pg` pool and answers with its rows — no authentication, no policy, no
 * transaction, no audit, no MCP SDK on the server side. Whatever a real server does beyond this can only
 * cost more, so its throughput with the SDK client bounds what the gateway (or any peer) can reach here.
 * Usage: node --import tsx bare-pg-server.ts <port> <postgres url>; prints "listening" when ready.
 */
import pg from "pg";
import { serveJsonRpc } from "./json-rpc-server.js";

// The gateway's default pool size (GATEWAY_POOL_MAX), so both hold the same number of backends.
const pool = new pg.Pool({ connectionString: process.argv[3], max: 10 });

serveJsonRpc(Number(process.argv[2]), async (message) => {
  if (message.method === "initialize") {
    return { protocolVersion: "2025-11-25", capabilities: { tools: {} }, serverInfo: { name: "bare-pg-server", version: "1.0.0" } };
  }
  const result = await pool.query({ text: message.params?.arguments?.sql ?? "SELECT 1", rowMode: "array" });
  return { content: [{ type: "text", text: JSON.stringify({ columns: result.fields.map((f) => f.name), rows: result.rows }) }] };
});
