/**
 * A stand-in MCP server that does no work: it answers `initialize` and every `tools/call` at once with
 * a fixed result the size of the benchmark query's (1 KB of text). Run in the benchmark to measure the
 * client's own cost per call — the part of every target's numbers that no server can remove.
 * Usage: node --import tsx null-server.ts <port>; prints "listening" when ready.
 */
import http from "node:http";

const port = Number(process.argv[2]);
const text = JSON.stringify({ columns: ["a", "b", "c", "d", "e"], rows: Array.from({ length: 10 }, (_, i) => [i, "x".repeat(50), "y".repeat(30), 300000, "0.99"]) });

http
  .createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST") {
        res.writeHead(405, { allow: "POST" });
        res.end();
        return;
      }
      const message = JSON.parse(Buffer.concat(chunks).toString()) as { id?: number | string; method?: string };
      if (message.id === undefined) {
        res.writeHead(202);
        res.end();
        return;
      }
      const result =
        message.method === "initialize"
          ? { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "null-server", version: "1.0.0" } }
          : { content: [{ type: "text", text }] };
      const body = JSON.stringify({ jsonrpc: "2.0", id: message.id, result });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  })
  .listen(port, "127.0.0.1", () => console.log("listening"));
