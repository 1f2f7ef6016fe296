/**
 * A load-generating child of scale-processes.ts: N raw JSON-RPC clients (2025-11-25, one keep-alive
 * connection each), calling execute_sql back to back until a deadline. Its own file rather than
 * load-process.ts so this curve does not move with the agent-mix work there.
 */
import http from "node:http";

type Command = { cmd: "run"; url: string; key: string; sql: string; clients: number; deadline: number } | { cmd: "exit" };

async function client(url: URL, key: string, sql: string, deadline: number, latencies: number[]): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let n = Math.floor(Math.random() * 3000);
  let calls = 0;
  try {
    while (Date.now() < deadline) {
      const body = JSON.stringify({ jsonrpc: "2.0", id: ++n, method: "tools/call", params: { name: "execute_sql", arguments: { sql: sql.replace("{n}", String(n % 3000)) } } });
      const t0 = performance.now();
      const text = await new Promise<string>((resolve, reject) => {
        const req = http.request(
          { agent, host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25", authorization: `Bearer ${key}`, "content-length": Buffer.byteLength(body) } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`HTTP ${res.statusCode}`))));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
      // Only a result without isError counts as a call served.
      if (text.includes('"isError":true') || !text.includes('"result"')) throw new Error(text.slice(0, 300));
      if (calls % 4 === 0) latencies.push(performance.now() - t0);
      calls++;
    }
  } finally {
    agent.destroy();
  }
  return calls;
}

process.on("message", (message: Command) => {
  if (message.cmd === "exit") process.exit(0);
  void (async () => {
    try {
      const latencies: number[] = [];
      const counts = await Promise.all(Array.from({ length: message.clients }, () => client(new URL(message.url), message.key, message.sql, message.deadline, latencies)));
      process.send!({ ok: true, calls: counts.reduce((a, b) => a + b, 0), latencies });
    } catch (error) {
      process.send!({ ok: false, error: String(error) });
    }
  })();
});
