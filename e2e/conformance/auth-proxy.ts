import http from "node:http";

export interface AuthProxy {
  url: string;
  /** Requests forwarded so far, by method (what the suite actually sent; for the summary). */
  forwarded: number;
  close(): Promise<void>;
}

/**
 * The conformance CLI has no option for a bearer token (`server --help`; its dist reads only
 * GITHUB_TOKEN), so it talks to this loopback proxy, which adds `Authorization` and forwards
 * everything else byte for byte — Host and Origin included, so `dns-rebinding-protection` exercises
 * the gateway's own Host/Origin policy, not the proxy's. Responses (JSON or SSE) are streamed back
 * unchanged, status and headers included.
 */
export async function startAuthProxy(options: { target: string; token: string; port?: number }): Promise<AuthProxy> {
  const target = new URL(options.target);
  const agent = new http.Agent({ keepAlive: true });
  let forwarded = 0;
  const server = http.createServer((req, res) => {
    forwarded++;
    // Host stays what the client sent; a hop-by-hop Connection header is the agent's business.
    const headers = { ...req.headers, authorization: `Bearer ${options.token}` };
    delete headers.connection;
    const upstream = http.request(
      { agent, host: target.hostname, port: target.port, method: req.method, path: req.url, headers, setHost: false },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.rawHeaders);
        up.pipe(res);
      },
    );
    upstream.on("error", (error) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`proxy: ${error.message}`);
    });
    // A client that hangs up (the suite cancels SSE reads once it has its answer) ends the upstream too.
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    get forwarded() {
      return forwarded;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
