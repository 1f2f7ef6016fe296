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

const server = createServer((req, res) => {
  req.headers["x-portcullis-peer"] = req.socket.remoteAddress ?? "";
  handle(req, res);
});
server.listen(port, hostname, () => console.log(`▸ dashboard listening on http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`));

const stop = () => server.close(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
