/**
 * The ceiling for any MCP-over-HTTP server on this machine: a plain `node:http` JSON-RPC responder that
 * runs the requested SQL through a `pg` pool and answers with its rows — no authentication, no policy, no
 * transaction, no audit, no MCP SDK on the server side. Whatever a real server does beyond this can only
 * cost more, so its throughput with the SDK client bounds what the gateway (or any peer) can reach here.
 * Usage: node --import tsx bare-pg-server.ts <port> <postgres url>; prints "listening" when ready.
 */
import http from "node:http";
import pg from "pg";

const port = Number(process.argv[2]);
// The gateway's default pool size (GATEWAY_POOL_MAX), so both hold the same number of backends.
const pool = new pg.Pool({ connectionString: process.argv[3], max: 10 });

type Message = { id?: number | string; method?: string; params?: { arguments?: { sql?: string } } };

async function answer(message: Message): Promise<unknown> {
  if (message.method === "initialize") {
    return { protocolVersion: "2025-11-25", capabilities: { tools: {} }, serverInfo: { name: "bare-pg-server", version: "1.0.0" } };
  }
  const result = await pool.query({ text: message.params?.arguments?.sql ?? "SELECT 1", rowMode: "array" });
  const text = JSON.stringify({ columns: result.fields.map((f) => f.name), rows: result.rows });
  return { content: [{ type: "text", text }] };
}

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
      const message = JSON.parse(Buffer.concat(chunks).toString()) as Message;
      if (message.id === undefined) {
        res.writeHead(202);
        res.end();
        return;
      }
      answer(message).then(
        (result) => {
          const body = JSON.stringify({ jsonrpc: "2.0", id: message.id, result });
          res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
          res.end(body);
        },
        (error: Error) => {
          const body = JSON.stringify({ jsonrpc: "2.0", id: message.id, result: { content: [{ type: "text", text: error.message }], isError: true } });
          res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
          res.end(body);
        },
      );
    });
  })
  .listen(port, "127.0.0.1", () => console.log("listening"));
