import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { chinookUrl, PASSWORD, uniqueEmail } from "../stack";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const run = promisify(execFile);

/**
 * One team for the real-client suite: an owner, the Chinook connection (as the ordinary role global
 * setup made), and one link whose scope hides a table and two columns. Seeded through
 * @portcullis/db's operations (what the dashboard and the CLI call), so the suite exercises the
 * clients and the gateway, not the dashboard's forms. Each client gets a key of its own: its audit
 * rows are told apart by key, and revoking it touches no other client.
 */
export interface ClientWorld {
  teamId: string;
  slug: string;
  ownerEmail: string;
  linkId: string;
  linkUrl: string;
  issueKey(name: string): Promise<{ id: string; key: string }>;
  close(): Promise<void>;
}

/** Read access; employee does not exist for the link; customer's email and phone are hidden. */
export const CLIENT_SCOPE = {
  access: "read",
  tables: { employee: { access: "none" }, customer: { hiddenColumns: ["email", "phone"] } },
  limits: { maxRows: 100, statementTimeoutMs: 15_000 },
} as const;

export async function seedClientWorld(): Promise<ClientWorld> {
  const { createPrismaClient } = await import("@portcullis/db/client");
  const { addConnection, createApiKey, createLink, createTeam, createUser } = await import("@portcullis/db/operations");
  const { parseTargetUrl } = await import("@portcullis/db/target");
  const prisma = createPrismaClient(process.env.DATABASE_URL!);
  const tag = randomBytes(3).toString("hex");
  const ownerEmail = uniqueEmail(`clients-${tag}`);
  const owner = await createUser(prisma, { email: ownerEmail, password: PASSWORD, name: `Clients ${tag}` });
  const team = await createTeam(prisma, { name: `Real clients ${tag}`, ownerId: owner.id });
  const target = parseTargetUrl(chinookUrl());
  const connection = await addConnection(prisma, {
    teamId: team.id,
    name: "chinook",
    fields: { ...target, sslMode: "disable" },
    test: false,
  });
  const link = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "chinook-clients", scope: CLIENT_SCOPE, createdById: owner.id });
  return {
    teamId: team.id,
    slug: team.slug,
    ownerEmail,
    linkId: link.id,
    linkUrl: `${process.env.E2E_GATEWAY_URL}/mcp/${link.id}`,
    async issueKey(name) {
      const { key, record } = await createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: owner.id, name });
      return { id: record.id, key };
    },
    close: () => prisma.$disconnect(),
  };
}

/**
 * Revokes a key as an operator does (`pnpm portcullis key revoke ID`): stored, recorded in the audit
 * chain, and broadcast to the gateways over Redis.
 */
export async function revokeKey(keyId: string): Promise<void> {
  const tsx = path.join(ROOT, "node_modules", ".bin", "tsx");
  const { stdout } = await run(tsx, ["apps/cli/src/main.ts", "key", "revoke", keyId, "--json"], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: process.env.DATABASE_URL, REDIS_URL: process.env.REDIS_URL },
    timeout: 60_000,
  });
  const out = JSON.parse(stdout) as { apiKey: { revokedAt: string | null }; broadcast: boolean };
  if (!out.apiKey.revokedAt || !out.broadcast) throw new Error(`key ${keyId} not revoked and broadcast: ${stdout}`);
}

export interface AuditRowSeen {
  kind: string;
  tool: string | null;
  verdict: string;
  rule_id: string | null;
  client_name: string | null;
  client_version: string | null;
  protocol_version: string | null;
  trace_id: string | null;
  sql: string | null;
}

/** The audit rows of one key, in the order the calls were made, once at least `atLeast` of them are stored (through queue and worker). */
export async function auditRowsOfKey(keyId: string, atLeast: number, timeoutMs = 30_000): Promise<AuditRowSeen[]> {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query<AuditRowSeen>(
        `SELECT kind, tool, verdict::text AS verdict, rule_id, client_name, client_version, protocol_version, trace_id, sql
           FROM audit_events WHERE api_key_id = $1 ORDER BY time, seq`,
        [keyId],
      );
      if (rows.length >= atLeast || Date.now() > deadline) return rows;
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await client.end();
  }
}
