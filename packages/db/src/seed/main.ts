import path from "node:path";
import pg from "pg";
import { z } from "zod";
import { createPrismaClient } from "../client.js";
import { getDbEnv } from "../env.js";
import { mcpClientConfigs, serverName } from "../mcp-client-config.js";
import { DEMO_LOGIN, seedDemo } from "./index.js";
import { queueDemoSchemaJobs } from "./queue-demo.js";

// Run by scripts/up.sh after migrations: seeds the demo and prints where to go and what to paste.
const env = getDbEnv();
// Where the worker's queues are: the demo's snapshot and descriptions are its jobs.
const queueEnv = z
  .object({
    REDIS_URL: z.string({ error: "REDIS_URL is not set: the demo's schema snapshot is a job for the worker" }).url(),
    QUEUE_PREFIX: z.string().min(1).default("bull"),
  })
  .parse(process.env);
const root = path.resolve(import.meta.dirname, "../../../..");
const prisma = createPrismaClient(env.DATABASE_URL);
const gatewayUrl = (process.env.GATEWAY_PUBLIC_URL ?? "http://localhost:3001").replace(/\/$/, "");
const webUrl = (process.env.WEB_PUBLIC_URL ?? process.env.NEXTAUTH_URL ?? "http://localhost:3000").replace(/\/$/, "");
const targetAdminUrl = process.env.DEMO_TARGET_ADMIN_URL || env.DATABASE_URL;
// up.sh seeds through the cluster's Unix socket (no host in the URL); the gateway reaches the same
// server over TCP, where the apps' DATABASE_URL points.
const metadata = new URL(env.DATABASE_URL);
const admin = new URL(targetAdminUrl);
const throughSocket = !admin.hostname || (admin.searchParams.get("host") ?? "").startsWith("/");
const targetAddress = throughSocket ? { host: metadata.hostname, port: Number(metadata.port || 5432) } : undefined;
function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

try {
  const { links, connectionId } = await seedDemo(prisma, {
    targetAdminUrl,
    targetAddress,
    demoPassword: process.env.DEMO_PASSWORD || undefined,
    // The stack's own data directory (up.sh exports it): a second stack must not rewrite the first's keys.
    keysFile: path.join(process.env.PORTCULLIS_DATA_DIR ? path.resolve(process.env.PORTCULLIS_DATA_DIR) : path.join(root, ".data"), "demo-keys.json"),
    log: (line) => console.log(`▸ ${line}`),
  });
  const metadataDb = new pg.Client({ connectionString: env.DATABASE_URL });
  await metadataDb.connect();
  try {
    // The links work without a snapshot: a queue that cannot be reached is a warning (demo-ready then
    // says what is missing), not a failed quick start.
    await withTimeout(
      queueDemoSchemaJobs(metadataDb, connectionId, { redisUrl: queueEnv.REDIS_URL, prefix: queueEnv.QUEUE_PREFIX, log: (line) => console.log(`▸ ${line}`) }),
      20_000,
    ).catch((error: unknown) => console.error(`! could not queue the demo's schema snapshot (is Redis up?): ${error instanceof Error ? error.message : String(error)}`));
  } finally {
    await metadataDb.end();
  }
  const out: string[] = [];
  out.push("", "━━━ Portcullis is ready ━━━", "");
  out.push(`Dashboard   ${webUrl}`, `Login       ${DEMO_LOGIN.email} / ${process.env.DEMO_PASSWORD || DEMO_LOGIN.password}`, `Gateway     ${gatewayUrl}`, "");
  for (const link of links) {
    const url = `${gatewayUrl}/mcp/${link.id}`;
    out.push(`── Link "${link.name}" (${link.description}): ${url}`);
    for (const config of mcpClientConfigs({ name: serverName(link.name), url, apiKey: link.apiKey })) {
      out.push(`   ${config.title} — ${config.where}:`);
      out.push(...config.snippet.split("\n").map((line) => `     ${line}`));
    }
    out.push("");
  }
  console.log(out.join("\n"));
} finally {
  await prisma.$disconnect();
}
