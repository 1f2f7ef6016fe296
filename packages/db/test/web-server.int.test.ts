import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { networkInterfaces, tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../src/testing/index.js";

/**
 * scripts/web-server.mjs, the dashboard's launcher: it must listen on loopback unless told otherwise,
 * and hand the app the socket's peer address in x-portcullis-peer, overwriting whatever a client sent
 * under that name (the app believes the header only in a process this launcher started). Next.js is
 * replaced by a recorder here (this checks the launcher, not Next.js); the real dashboard behind it was
 * checked by hand in Chromium and by curl with forged X-Forwarded-For (see SECURITY.md).
 */
const REPO = path.resolve(import.meta.dirname, "../../..");
let dir: string;
let child: ChildProcess;
let port: number;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "web-server-"));
  await writeFile(path.join(dir, "package.json"), JSON.stringify({ name: "recorder", private: true }));
  await mkdir(path.join(dir, "node_modules", "next"), { recursive: true });
  await writeFile(
    path.join(dir, "node_modules", "next", "index.js"),
    `module.exports = (options) => ({
      prepare: async () => {},
      getRequestHandler: () => (req, res) => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ peer: req.headers["x-portcullis-peer"], flag: process.env.PORTCULLIS_PEER_HEADER, nodeEnv: process.env.NODE_ENV, hostname: options.hostname, dev: options.dev }));
      },
    });`,
  );
  port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, WEB_PORT: String(port) };
  delete env.WEB_HOST;
  delete env.PORTCULLIS_PEER_HEADER;
  child = spawn(process.execPath, [path.join(REPO, "scripts", "web-server.mjs")], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("web-server.mjs did not start")), 20_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("listening")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`web-server.mjs exited with ${code}`)));
  });
});

afterAll(async () => {
  child?.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
});

describe("scripts/web-server.mjs", () => {
  it("overwrites a forged x-portcullis-peer with the socket's address and marks the process", async () => {
    const response = await fetch(`http://127.0.0.1:${port}/sign-in`, { headers: { "x-portcullis-peer": "6.6.6.6", "x-forwarded-for": "6.6.6.6" } });
    expect(await response.json()).toEqual({ peer: "127.0.0.1", flag: "1", nodeEnv: "production", hostname: "127.0.0.1", dev: false });
  });

  it("listens on loopback only by default", async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === "IPv4" && !i.internal)?.address;
    if (!external) return; // no other interface to try on this machine
    const error = await fetch(`http://${external}:${port}/`).then(
      () => null,
      (e: unknown) => (e as { cause?: { code?: string } }).cause?.code,
    );
    expect(error).toBe("ECONNREFUSED");
  });
});
