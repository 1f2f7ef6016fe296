/**
 * The ceiling for any MCP-over-HTTP server on this machine: a plain `node:http` JSON-RPC responder that
 * runs the requested SQL through a `pg` pool and answers with its rows — no authentication, no policy, no
 * transaction, no audit, no MCP SDK on the server side. Whatever a real server does beyond this can only
 * cost more. It runs the agent mix's statements as they come (schema calls as their information_schema
 * SQL), and keeps at most MAX_ROWS rows, as the gateway and DBHub are configured to.
 * Usage: node --import tsx bare-pg-server.ts <port> <postgres url>; prints "listening" when ready.
 */
import pg from "pg";
import { serveJsonRpc } from "./json-rpc-server.js";

const MAX_ROWS = 1000;
// The gateway's default pool size (GATEWAY_POOL_MAX), so both hold the same number of backends; read-only
// by default (set once per connection, not per call) so the mix's writes fail as on a read-only server.
const pool = new pg.Pool({ connectionString: process.argv[3], max: 10, options: "-c default_transaction_read_only=on" });

serveJsonRpc(Number(process.argv[2]), async (message) => {
  if (message.method === "initialize") {
    return { protocolVersion: "2025-11-25", capabilities: { tools: {} }, serverInfo: { name: "bare-pg-server", version: "1.0.0" } };
  }
  const results = await pool.query({ text: message.params?.arguments?.sql ?? "SELECT 1", rowMode: "array" });
  // Several statements in one text give one result each: the last one answers, as in DBHub and psql.
  const result = Array.isArray(results) ? (results[results.length - 1] as pg.QueryArrayResult) : results;
  const rows = result.rows.length > MAX_ROWS ? result.rows.slice(0, MAX_ROWS) : result.rows;
  return { content: [{ type: "text", text: JSON.stringify({ columns: result.fields.map((f) => f.name), rows, truncated: rows !== result.rows }) }] };
});
