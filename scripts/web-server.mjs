// The dashboard's production server: Next.js behind a plain Node HTTP server, so the app learns the
// socket's peer address (`next start` only passes on X-Forwarded-For, which any client can write).
// The peer travels in x-portcullis-peer, overwritten on every request; the app believes that header
// only in a process started here (PORTCULLIS_PEER_HEADER), and TRUST_PROXY decides how many
// X-Forwarded-For hops on top of it are real (apps/web/src/lib/auth.ts, @portcullis/db/client-ip).
// Run from apps/web: `WEB_PORT=3000 WEB_HOST=127.0.0.1 node ../../scripts/web-server.mjs`.
import { createServer } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";

const dir = process.cwd();
const port = Number(process.env.WEB_PORT || 3000);
// Loopback unless the operator says otherwise: the dashboard is usually published through a proxy.
const hostname = process.env.WEB_HOST || "127.0.0.1";
process.env.NODE_ENV = "production";
process.env.PORTCULLIS_PEER_HEADER = "1";

const require = createRequire(path.join(dir, "package.json"));
const next = require("next");
const app = next({ dev: false, dir, hostname, port });
await app.prepare();
const handle = app.getRequestHandler();

// Next.js reads the whole body of every request its proxy sees before routing it (it clones the
// body for the proxy, then waits for the end), so a 160 MiB chunked POST costs ~100 MiB of memory
// before any route's own bounded reader runs. Bodies are therefore bounded here, before Next: a
// declared length over the cap is refused with 413, and a body without a declared length with 411
// (browsers and OAuth clients always declare one; nothing in the dashboard streams uploads).
const maxBody = Number(process.env.WEB_MAX_BODY_BYTES || 2 * 1024 * 1024);

// A refused body of moderate size is read and discarded (Node drains an unread request once the
// response ends), so the client, still writing, gets the answer instead of a broken pipe; beyond this
// the connection is closed at once rather than spend the bandwidth.
const DRAIN_LIMIT = 16 * 1024 * 1024;

function refuse(res, status, message, drain) {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...(drain ? {} : { connection: "close" }) });
  res.end(`${message}\n`);
}

const server = createServer((req, res) => {
  req.headers["x-portcullis-peer"] = req.socket.remoteAddress ?? "";
  if (req.headers["transfer-encoding"] !== undefined) {
    return refuse(res, 411, "the dashboard needs a Content-Length on request bodies; send the body with its length", false);
  }
  const declared = req.headers["content-length"];
  if (declared !== undefined && !(Number(declared) <= maxBody)) {
    return refuse(res, 413, `request body too large: the dashboard accepts at most ${maxBody} bytes (WEB_MAX_BODY_BYTES)`, Number(declared) <= DRAIN_LIMIT);
  }
  handle(req, res);
});
server.listen(port, hostname, () => console.log(`▸ dashboard listening on http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`));

const stop = () => server.close(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
