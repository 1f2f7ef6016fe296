import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../packages/db/src/testing/index.js";
import { lookup, values } from "./support/chart.js";
import { composeSecrets, resolvedCompose, serviceEnv } from "./support/compose.js";
import { IMAGE_NODE_BIN, ROOT } from "./support/paths.js";
import { chartProbes } from "./support/probes.js";
import { assembleImageTree } from "./support/image-tree.js";
import { runRole, startRole, startThrowawayServices, tcpOpen, useEntrypoint, waitFor, type EntrypointProcess, type Throwaway } from "./support/stack.js";

// The image's entrypoint outside a container, exactly as the image runs it: from the image's /app
// assembled by the Dockerfile's own instructions (production dependencies only, plus tsx; see
// support/image-tree.ts), on the image's Node.js 24, with the compose stack's own environment
// (docker-compose config): its PostgreSQL init script on a fresh cluster, `migrate`, then web,
// gateway and worker; every health check of compose and every probe of the chart is asked of the
// running apps. Hosts and ports are moved to loopback and free ports; nothing else changes.
const secrets = composeSecrets();
// The demo's Chinook lives on the metadata server: the operator allows it by name in .env.
const compose = resolvedCompose({ ...secrets, TARGET_STACK_DATABASES: "chinook" });
let services: Throwaway;
let image: ReturnType<typeof assembleImageTree> | undefined;
let logDir: string;
const envOf: Record<string, Record<string, string>> = {};
const apps: Record<string, EntrypointProcess> = {};
const ports: Record<string, number> = {};

/** A compose service's environment with the compose network's hosts and ports moved to this machine's. */
function localEnv(service: string): Record<string, string> {
  const env = serviceEnv(compose.services[service]!);
  const moved: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    moved[key] = value
      .replace("@postgres:5432/", `@127.0.0.1:${services.pgPort}/`)
      .replace("@redis:6379", `@127.0.0.1:${services.redisPort}`)
      .replace("http://gateway:3003", `http://127.0.0.1:${ports.internal}`);
  }
  for (const key of ["GATEWAY_HOST", "GATEWAY_INTERNAL_HOST", "WORKER_METRICS_HOST", "WEB_HOST"]) if (key in moved) moved[key] = "127.0.0.1";
  // The compose network's `postgres` is a private address; here it is loopback, which needs allowing.
  if ("TARGET_ALLOW_ADDRESSES" in moved) moved.TARGET_ALLOW_ADDRESSES = `127.0.0.1:${services.pgPort}`;
  if ("GATEWAY_PORT" in moved) moved.GATEWAY_PORT = String(ports.gateway);
  if ("GATEWAY_INTERNAL_PORT" in moved) moved.GATEWAY_INTERNAL_PORT = String(ports.internal);
  if ("WORKER_METRICS_PORT" in moved) moved.WORKER_METRICS_PORT = String(ports.worker);
  if ("WEB_PORT" in moved) moved.WEB_PORT = String(ports.web);
  if ("GATEWAY_AUDIT_SPOOL_DIR" in moved) moved.GATEWAY_AUDIT_SPOOL_DIR = path.join(services.dir, "spool");
  // What a container has besides its compose environment: the image's Node.js first on PATH, a HOME, a /tmp.
  return { ...moved, PATH: `${IMAGE_NODE_BIN}:${process.env.PATH ?? "/usr/bin:/bin"}`, HOME: services.dir, TMPDIR: path.join(services.dir, `tmp-${service}`) };
}

beforeAll(async () => {
  image = assembleImageTree();
  useEntrypoint(path.join(image.root, "scripts", "docker-entrypoint.sh"));
  for (const name of ["pg", "redis", "gateway", "internal", "worker", "web"]) ports[name] = await freePort();
  services = startThrowawayServices({ pgPort: ports.pg!, redisPort: ports.redis!, superuserPassword: secrets.POSTGRES_PASSWORD!, redisPassword: secrets.REDIS_PASSWORD! });
  logDir = path.join(services.dir, "logs");
  mkdirSync(logDir);
  for (const service of ["migrate", "gateway", "worker", "web", "seed-demo"]) {
    envOf[service] = localEnv(service);
    mkdirSync(envOf[service]!.TMPDIR!);
  }
}, 600_000);

afterAll(async () => {
  for (const app of Object.values(apps)) if (app.child.exitCode === null) app.child.kill("SIGKILL");
  services?.stop();
  image?.cleanup();
});

const superuser = () => `postgresql://portcullis:${encodeURIComponent(secrets.POSTGRES_PASSWORD!)}@127.0.0.1:${services.pgPort}/postgres`;

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe("scripts/docker-entrypoint.sh, run as the image runs it", () => {
  it("runs from a tree with production dependencies only, and tsx", () => {
    const root = image!.root;
    // The root project's devDependencies are gone but tsx, which runs the apps' TypeScript sources.
    expect(readdirSync(path.join(root, "node_modules")).filter((n) => !n.startsWith("."))).toEqual(["tsx"]);
    for (const devOnly of ["apps/gateway/node_modules/@bytebase", "packages/db/node_modules/prisma", "e2e/node_modules"]) {
      expect(existsSync(path.join(root, devOnly)), devOnly).toBe(false);
    }
    for (const needed of ["apps/web/node_modules/next", "apps/gateway/node_modules/@modelcontextprotocol/server", "apps/web/.next/BUILD_ID", "packages/db/src/generated/prisma/client.ts"]) {
      expect(existsSync(path.join(root, needed)), needed).toBe(true);
    }
    // Nothing the .dockerignore keeps out: no local data, no .env.
    for (const absent of [".data", ".env", ".git"]) expect(existsSync(path.join(root, absent)), absent).toBe(false);
  });

  it("deploy/compose/postgres-init.sh gives the apps their own role, no superuser, owner of `portcullis`", async () => {
    const r = runRole([], {}); // no role: usage, exit 64
    expect(r.status).toBe(64);
    const init = readFileSync(path.join(ROOT, "deploy", "compose", "postgres-init.sh"), "utf8");
    expect(init.length).toBeGreaterThan(0);
    const { spawnSync } = await import("node:child_process");
    const run = spawnSync("sh", [path.join(ROOT, "deploy", "compose", "postgres-init.sh")], {
      env: { PATH: process.env.PATH, POSTGRES_USER: "portcullis", METADATA_DB_PASSWORD: secrets.METADATA_DB_PASSWORD, PGHOST: services.pgSocketDir, PGPORT: String(services.pgPort) },
      encoding: "utf8",
    });
    expect(run.status, run.stderr).toBe(0);
    const [role] = await query<{ rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean }>(superuser(), "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = 'portcullis_app'");
    expect(role).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false });
    const [db] = await query<{ owner: string }>(superuser(), "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'portcullis'");
    expect(db?.owner).toBe("portcullis_app");
  });

  it("`migrate` applies every migration as the app role, and a second run applies none", () => {
    const first = runRole(["migrate"], envOf.migrate!);
    expect(first.status, first.output).toBe(0);
    const count = readdirSync(path.join(ROOT, "prisma", "migrations"), { withFileTypes: true }).filter((d) => d.isDirectory()).length;
    expect(first.output).toContain(`migrations: ${count} applied`);
    const again = runRole(["migrate"], envOf.migrate!);
    expect(again.status, again.output).toBe(0);
    expect(again.output).toContain(`migrations: 0 applied, ${count} already up to date`);
  });

  it("starts web, gateway and worker; each compose health check passes once it serves", async () => {
    for (const role of ["gateway", "worker", "web"]) apps[role] = startRole(role, envOf[role]!, logDir);
    for (const role of ["gateway", "worker", "web"]) {
      const test = compose.services[role]!.healthcheck!.test as string[];
      expect(test.slice(0, 2)).toEqual(["CMD", "/app/scripts/docker-entrypoint.sh"]);
      // The exact command Docker runs in the container, with the container's environment.
      await waitFor(`${role} healthy`, () => runRole(test.slice(2), envOf[role]!, 10_000).status === 0, 180_000, apps[role]);
    }
    // exec: the entrypoint became the app, so the container's PID 1 is node (the image's Node.js 24)
    // and gets SIGTERM itself.
    for (const role of ["gateway", "worker", "web"]) {
      const cmdline = readFileSync(`/proc/${apps[role]!.child.pid}/cmdline`, "utf8").split("\0");
      expect(cmdline[0], role).toBe("node");
      expect(readlinkSync(`/proc/${apps[role]!.child.pid}/exe`), role).toBe(realpathSync(path.join(IMAGE_NODE_BIN, "node")));
    }
  }, 400_000);

  it("answers every probe the chart declares, on the endpoint and port it names", async () => {
    // The chart's ports are its values; here each role listens on the free port it was given.
    const chartPort: Record<string, number> = {
      gateway: Number(lookup(values, ["gateway", "port"]).value),
      worker: Number(lookup(values, ["worker", "metricsPort"]).value),
      web: Number(lookup(values, ["web", "port"]).value),
    };
    const probes = chartProbes();
    expect(probes.length).toBeGreaterThanOrEqual(9);
    for (const probe of probes) {
      expect(probe.port, probe.source).toBe(chartPort[probe.role]);
      const port = ports[probe.role]!;
      if (probe.kind === "tcp") {
        expect(await tcpOpen(port), probe.source).toBe(true);
        continue;
      }
      const response = await fetch(`http://127.0.0.1:${port}${probe.path}`);
      expect(response.status, `${probe.source} ${probe.path}`).toBe(200);
    }
    const ready = (await (await fetch(`http://127.0.0.1:${ports.gateway}/readyz`)).json()) as { status: string; checks: Record<string, string> };
    expect(ready.status).toBe("ready");
    expect(ready.checks.metadata).toBe("ok");
    expect(ready.checks.redis).toBe("ok");
    const workerReady = (await (await fetch(`http://127.0.0.1:${ports.worker}/readyz`)).json()) as { status: string };
    expect(workerReady.status).toBe("ok");
  });

  it("fails the health check where nothing serves, and for an unknown role", async () => {
    const nobody = String(await freePort());
    expect(runRole(["healthcheck", "gateway"], { ...envOf.gateway!, GATEWAY_PORT: nobody }, 10_000).status).not.toBe(0);
    expect(runRole(["healthcheck", "worker"], { ...envOf.worker!, WORKER_METRICS_PORT: nobody }, 10_000).status).not.toBe(0);
    expect(runRole(["healthcheck", "web"], { ...envOf.web!, WEB_PORT: nobody }, 10_000).status).not.toBe(0);
    expect(runRole(["healthcheck", "nothing"], envOf.web!, 10_000).status).toBe(2);
    // Without an argument, the role the entrypoint recorded for its container (Docker's HEALTHCHECK).
    expect(runRole(["healthcheck"], envOf.gateway!, 10_000).status).toBe(0);
  });

  it("`seed-demo` seeds the demo; its link answers through the gateway and the worker stores the audit event", async () => {
    const env = { ...envOf["seed-demo"]!, PORTCULLIS_DATA_DIR: path.join(services.dir, "seed"), DEMO_TARGET_ADMIN_URL: superuser() };
    const r = runRole(["seed-demo"], env, 180_000);
    expect(r.status, r.output).toBe(0);
    const snippet = /claude mcp add --transport http \S+ (http\S+\/mcp\/\S+) --header "Authorization: Bearer ([^"]+)"/.exec(r.output);
    expect(snippet, r.output).not.toBeNull();
    const linkPath = new URL(snippet![1]!).pathname;
    const sql = `SELECT count(*) AS n FROM artist WHERE artist_id > ${Date.now() % 7} - 7`;
    const response = await fetch(`http://127.0.0.1:${ports.gateway}${linkPath}`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25", authorization: `Bearer ${snippet![2]}` },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "execute_sql", arguments: { sql } } }),
    });
    const text = await response.text();
    expect(response.status, text).toBe(200);
    const message = JSON.parse(text.startsWith("{") ? text : /^data: (.*)$/m.exec(text)![1]!) as { result?: { isError?: boolean; structuredContent?: { rows?: Array<Record<string, unknown>> } } };
    expect(message.result?.isError, text).toBeFalsy();
    expect(JSON.stringify(message.result?.structuredContent?.rows)).toContain("275");
    // Gateway → Redis → worker → audit_events: the deployment's whole audit path.
    const metadata = envOf.gateway!.DATABASE_URL!;
    await waitFor("the call's audit event stored", async () => (await query(metadata, `SELECT 1 FROM audit_events WHERE sql = ${pg.escapeLiteral(sql)}`)).length === 1, 30_000, apps.worker);
  }, 200_000);

  it("stops each app on SIGTERM, cleanly", async () => {
    for (const role of ["web", "gateway", "worker"]) {
      const app = apps[role]!;
      app.child.kill("SIGTERM");
      const { code, signal } = await app.exited;
      expect({ role, code, signal }, app.tail()).toEqual({ role, code: 0, signal: null });
    }
  }, 120_000);
});
