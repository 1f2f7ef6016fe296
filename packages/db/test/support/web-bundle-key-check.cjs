/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS script: it loads the webpack bundle as Next does */
// Does the dashboard's production build open a passphrase-protected SSH key on its key worker? Loads the
// webpack server build (next build --webpack) outside Next — its runtime, every server chunk, the
// externals its app entries declare — and calls the bundled parseHopKey and sshHopKeysProblem with a
// fresh 64-round ed25519 key. Exit 0 only when the key was opened (same public half as ssh-keygen's).
// Usage, from the directory `next start` would run in:
//   cd apps/web && node ../../packages/db/test/support/web-bundle-key-check.cjs "$PWD/.next" [label]
// (webpack rewrote createRequire(import.meta.url).resolve("ssh2") into a module id once: refused there.)
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");
const [dist, mode] = process.argv.slice(2);
const wr = require(path.join(dist, "server/webpack-runtime.js"));
for (const f of fs.readdirSync(path.join(dist, "server/chunks")).filter((f) => f.endsWith(".js"))) wr.C(require(path.join(dist, "server/chunks", f)));
// Externals (node builtins, serverExternalPackages) are declared in the app entries, as Next loads them.
const webRequire = require("module").createRequire(path.join(dist, "..", "package.json"));
const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith(".js") ? [path.join(d, e.name)] : []));
for (const file of walk(path.join(dist, "server/app")))
  for (const m of fs.readFileSync(file, "utf8").matchAll(/(\d+):a=>\{"use strict";a\.exports=require\("([^"]+)"\)\}/g))
    if (!wr.m[m[1]]) wr.m[m[1]] = (a) => { a.exports = webRequire(m[2]); };
let parseHopKey, keyProblem;
for (const f of fs.readdirSync(path.join(dist, "server/chunks")).filter((f) => f.endsWith(".js"))) {
  const chunk = require(path.join(dist, "server/chunks", f));
  for (const [id, fn] of Object.entries(chunk.modules)) {
    const src = fn.toString();
    if (!src.includes("bcrypt rounds; at most")) continue;
    const exp = wr(id);
    for (const v of Object.values(exp)) {
      if (typeof v !== "function") continue;
      const s = v.toString();
      if (s.includes("bcrypt rounds; at most") && s.startsWith("async")) parseHopKey = v;
      if (s.includes("ssh.hops.")) keyProblem = v; // sshHopKeysProblem (T's), the dashboard action's check
    }
  }
}
if (!parseHopKey || !keyProblem) throw new Error("the bundled parseHopKey / sshHopKeysProblem were not found in these chunks");
const dir = fs.mkdtempSync(path.join(require("os").tmpdir(), "web-bundle-key-"));
execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "open sesame", "-a", "64", "-f", path.join(dir, "k")]);
const text = fs.readFileSync(path.join(dir, "k"), "utf8");
const pub = fs.readFileSync(path.join(dir, "k.pub"), "utf8").split(" ")[1];
(async () => {
  let last = Date.now(), worst = 0;
  const t = setInterval(() => { worst = Math.max(worst, Date.now() - last); last = Date.now(); }, 10);
  const started = Date.now();
  const key = await parseHopKey(text, "open sesame");
  worst = Math.max(worst, Date.now() - last);
  const took = Date.now() - started;
  const wrong = await parseHopKey(text, "wrong");
  const problem = await keyProblem([{ host: "bastion.example.com", port: 22, username: "deploy", privateKey: text, passphrase: "open sesame" }]);
  const problemWrong = await keyProblem([{ host: "bastion.example.com", port: 22, username: "deploy", privateKey: text, passphrase: "wrong" }]);
  clearInterval(t);
  const opened = !(key instanceof Error) && key.isPrivateKey() && key.getPublicSSH().toString("base64") === pub;
  console.log(JSON.stringify({ mode, cwd: process.cwd(), opened, error: key instanceof Error ? key.message : undefined, took, worstGap: worst, wrongPassphrase: String(wrong), sshHopKeysProblem: problem ?? null, sshHopKeysProblemWrong: problemWrong ?? null }));
  fs.rmSync(dir, { recursive: true, force: true });
  process.exitCode = opened && worst < 250 ? 0 : 1;
})();
