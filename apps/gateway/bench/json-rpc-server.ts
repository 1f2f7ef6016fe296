/**
 * The HTTP shell of the benchmark's reference servers (null-server.ts, bare-pg-server.ts): a plain
 * `node:http` JSON-RPC responder, stateless, JSON responses only, no MCP SDK on the server side.
 * `answer` gets every request but notifications (202) and returns its result.
 */
import http from "node:http";

export type JsonRpcRequest = { id?: number | string; method?: string; params?: { arguments?: { sql?: string } } };

export function serveJsonRpc(port: number, answer: (message: JsonRpcRequest) => unknown): void {
  const send = (res: http.ServerResponse, id: JsonRpcRequest["id"], result: unknown) => {
    const body = JSON.stringify({ jsonrpc: "2.0", id, result });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  };
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
        const message = JSON.parse(Buffer.concat(chunks).toString()) as JsonRpcRequest;
        if (message.id === undefined) {
          res.writeHead(202);
          res.end();
          return;
        }
        Promise.resolve()
          .then(() => answer(message))
          .then(
            (result) => send(res, message.id, result),
            (error: Error) => send(res, message.id, { content: [{ type: "text", text: error.message }], isError: true }),
          );
      });
    })
    .listen(port, "127.0.0.1", () => console.log("listening"));
}
