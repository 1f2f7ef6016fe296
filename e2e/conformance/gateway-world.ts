import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createPrismaClient } from "@portcullis/db/client";
import { addConnection, createApiKey, createLink, createTeam, createUser } from "@portcullis/db/operations";
import { generateSecretKey, getKeyring } from "@portcullis/db/secrets";
import { parseTargetUrl } from "@portcullis/db/target";
import { createChinookDatabase, createMetadataDatabase, freePort, testRedisUrl, type TestDatabase } from "@portcullis/db/testing";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const GATEWAY_DIR = path.join(ROOT, "apps/gateway");

export interface ConformanceWorld {
  /** The gateway's own origin (127.0.0.1:port); clients go through the proxy instead. */
  gatewayUrl: string;
  linkId: string;
  key: string;
  gatewayPid: number | undefined;
  close(): Promise<void>;
}

/**
 * What the suite talks to: a metadata database, a private Chinook, a team whose read-only link has a
 * key, and the gateway as its own process, started as `pnpm start` starts it (src/main.ts), its log
 * appended to `logFile`. Nothing is a stand-in.
 */
export async function startConformanceWorld(options: {
  logFile: string;
  /** The URL clients use (the auth proxy's): the gateway's GATEWAY_PUBLIC_URL, as behind a reverse proxy. */
  publicUrl: string;
  scope?: Record<string, unknown>;
  /**
   * Run the gateway's sources as they are at this git ref instead of the working tree (e.g. HEAD while
   * others edit the tree; the same mechanism as the bench's BENCH_BASELINE_REF).
   */
  sourceRef?: string;
}): Promise<ConformanceWorld> {
  const disposers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const dispose of disposers.reverse()) await dispose().catch(() => {});
  };
  try {
    const [meta, chinook]: TestDatabase[] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
    disposers.push(() => meta!.drop(), () => chinook!.drop());
    const prisma = createPrismaClient(meta!.url);
    disposers.push(() => prisma.$disconnect());
    const secretKeys = generateSecretKey("k1");
    const user = await createUser(prisma, { email: `conformance-${randomBytes(3).toString("hex")}@example.com` });
    const team = await createTeam(prisma, { name: "conformance", ownerId: user.id });
    const fields = { ...parseTargetUrl(chinook!.url), sslMode: "disable" as const };
    const connection = await addConnection(prisma, { teamId: team.id, name: "chinook", fields, test: false }, getKeyring(secretKeys));
    const link = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "conformance", scope: (options.scope ?? { access: "read" }) as never });
    const { key } = await createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: user.id, name: "conformance" });

    const spoolDir = await mkdtemp(path.join(tmpdir(), "gw-conformance-spool-"));
    disposers.push(() => rm(spoolDir, { recursive: true, force: true }));
    let sourceDir = GATEWAY_DIR;
    if (options.sourceRef) {
      // Inside apps/gateway, so the old sources resolve the same node_modules as the current ones.
      sourceDir = await mkdtemp(path.join(GATEWAY_DIR, ".conformance-src-"));
      const dir = sourceDir;
      disposers.push(() => rm(dir, { recursive: true, force: true }));
      const archive = execFileSync("git", ["archive", options.sourceRef, "src"], { cwd: GATEWAY_DIR, maxBuffer: 64 * 1024 * 1024 });
      execFileSync("tar", ["-x", "-C", sourceDir], { input: archive });
    }
    const port = await freePort();
    const log = openSync(options.logFile, "a");
    const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", path.join(sourceDir, "src/main.ts")], {
      cwd: GATEWAY_DIR,
      env: {
        ...process.env,
        DATABASE_URL: meta!.url,
        REDIS_URL: testRedisUrl(),
        PORTCULLIS_SECRET_KEYS: secretKeys,
        GATEWAY_PORT: String(port),
        GATEWAY_HOST: "127.0.0.1",
        GATEWAY_PUBLIC_URL: options.publicUrl,
        GATEWAY_AUDIT_SPOOL_DIR: spoolDir,
        QUEUE_PREFIX: `conformance-${randomBytes(4).toString("hex")}`,
        // The suite sends many requests in a burst from one address.
        GATEWAY_RATE_LIMIT_PER_MINUTE: "100000",
        // Chinook on the loopback test cluster, reached as its superuser: allowed explicitly.
        TARGET_NETWORKS: "any",
        TARGET_ALLOW_POWERFUL_ROLES: "true",
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", log, log],
    });
    closeSync(log);
    disposers.push(async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    });
    const gatewayUrl = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}; see ${options.logFile}`);
      const up = await fetch(`${gatewayUrl}/healthz`).then((r) => r.ok, () => false);
      if (up) break;
      if (Date.now() > deadline) throw new Error(`gateway did not start; see ${options.logFile}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { gatewayUrl, linkId: link.id, key, gatewayPid: child.pid, close };
  } catch (error) {
    await close();
    throw error;
  }
}
