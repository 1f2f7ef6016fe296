/**
 * A stand-in MCP server that does no work: it answers `initialize` and every `tools/call` at once with
 * a fixed result the size of the benchmark query's (1 KB of text). Run in the benchmark to measure the
 * client's own cost per call — the part of every target's numbers that no server can remove.
 * Usage: node --import tsx null-server.ts <port>; prints "listening" when ready.
 */
import { serveJsonRpc } from "./json-rpc-server.js";

const text = JSON.stringify({ columns: ["a", "b", "c", "d", "e"], rows: Array.from({ length: 10 }, (_, i) => [i, "x".repeat(50), "y".repeat(30), 300000, "0.99"]) });

serveJsonRpc(Number(process.argv[2]), (message) =>
  message.method === "initialize"
    ? { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "null-server", version: "1.0.0" } }
    : { content: [{ type: "text", text }] },
);
