import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { freePort } from "@portcullis/db/testing";

export const HAPROXY = "/usr/sbin/haproxy";

/**
 * Debian's HAProxy in front of the gateways, as an operator would run it: HTTP mode, round robin per
 * request, /readyz health checks, and the default `retries 3` with redispatch (a refused connection to
 * a dead instance is tried on another before the client sees anything). Its own config file and log in
 * `dir`, bound to loopback on a free port, in the foreground (-db) so the test owns the process.
 */
export class LoadBalancer {
  private child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly configFile: string,
    private readonly logFile: string,
  ) {}

  static async start(dir: string, servers: { name: string; port: number }[]): Promise<LoadBalancer> {
    const port = await freePort();
    const configFile = path.join(dir, "haproxy.cfg");
    await writeFile(
      configFile,
      [
        "global",
        "  maxconn 2000",
        "defaults",
        "  mode http",
        "  timeout connect 2s",
        "  timeout client 30s",
        "  timeout server 30s",
        "  retries 3",
        "  option redispatch",
        "frontend mcp",
        `  bind 127.0.0.1:${port}`,
        "  default_backend gateways",
        "backend gateways",
        "  balance roundrobin",
        "  option httpchk GET /readyz",
        "  http-check expect status 200",
        ...servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} check inter 250 fall 2 rise 2`),
        "",
      ].join("\n"),
    );
    const lb = new LoadBalancer(port, configFile, path.join(dir, "haproxy.log"));
    await lb.launch();
    return lb;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private async launch(): Promise<void> {
    const log = openSync(this.logFile, "a");
    const child = spawn(HAPROXY, ["-db", "-f", this.configFile], { stdio: ["ignore", log, log] });
    closeSync(log);
    this.child = child;
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`haproxy exited with ${child.exitCode}; see ${this.logFile}`);
      const ok = await fetch(`${this.url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`haproxy did not answer within 15 s; see ${this.logFile}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
}
