import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import pg from "pg";
import { PASSWORD, uniqueEmail } from "./stack";

/**
 * A team for the approval spec, seeded straight into the metadata database (the approval flow is
 * what the spec drives through the browser, not the sign-up): two admins, a member, a connection to
 * a Chinook copy of its own (the spec deletes rows; other specs count them in the shared copy) and a
 * link whose scope asks a lead's approval for every write on invoice_line, with keys for the member
 * and for one admin.
 */
export interface ApprovalWorld {
  teamId: string;
  slug: string;
  linkId: string;
  targetUrl: string;
  admins: { email: string; id: string }[];
  member: { email: string; id: string; key: string };
  /** A key of admin 0 on the link: their own request, which they may not approve. */
  adminKey: string;
  metaUrl: string;
}

function registerDatabase(name: string): void {
  const file = process.env.E2E_STATE_FILE;
  if (!file) return;
  const state = JSON.parse(readFileSync(file, "utf8")) as { databases: string[] };
  state.databases.push(name);
  writeFileSync(file, JSON.stringify(state, null, 2));
}

export async function onDb<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

export async function seedApprovalWorld(): Promise<ApprovalWorld> {
  const { createPrismaClient } = await import("@portcullis/db/client");
  const { addConnection, addMember, createApiKey, createLink, createTeam, createUser } = await import("@portcullis/db/operations");
  const { parseTargetUrl } = await import("@portcullis/db/target");
  const { createChinookDatabase } = await import("@portcullis/db/testing");
  const metaUrl = process.env.DATABASE_URL!;
  const prisma = createPrismaClient(metaUrl);
  const target = await createChinookDatabase();
  registerDatabase(target.name);
  // The role global setup made for Chinook (ordinary, as the target policy asks); granted on this copy.
  const role = "e2e_chinook";
  const password = "e2e chinook role (test cluster only)";
  await onDb(target.url, `GRANT ALL ON SCHEMA public TO ${role}`);
  await onDb(target.url, `GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role}`);
  try {
    const tag = randomBytes(3).toString("hex");
    const mk = async (label: string) => {
      const email = uniqueEmail(`${label}-${tag}`);
      return { email, id: (await createUser(prisma, { email, password: PASSWORD, name: `${label} ${tag}` })).id };
    };
    const owner = await mk("approver-a");
    const second = await mk("approver-b");
    const member = await mk("requester");
    const team = await createTeam(prisma, { name: `Approvals ${tag}`, ownerId: owner.id });
    await addMember(prisma, { teamId: team.id, userId: second.id, role: "admin" });
    await addMember(prisma, { teamId: team.id, userId: member.id, role: "member" });
    const connection = await addConnection(prisma, {
      teamId: team.id,
      name: `chinook-${tag}`,
      fields: { ...parseTargetUrl(target.url), username: role, password, sslMode: "disable" },
      test: false,
    });
    const link = await createLink(prisma, {
      teamId: team.id,
      connectionId: connection.id,
      name: `billing-fixes-${tag}`,
      scope: { access: "read", tables: { invoice_line: { access: "write", approval: "writes" } } },
      createdById: owner.id,
    });
    await prisma.linkAccess.create({ data: { linkId: link.id, userId: member.id } });
    const memberKey = await createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: member.id, name: `laptop-${tag}` });
    const adminKey = await createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: owner.id, name: `admin-laptop-${tag}` });
    return {
      teamId: team.id,
      slug: team.slug,
      linkId: link.id,
      targetUrl: target.url,
      admins: [owner, second],
      member: { ...member, key: memberKey.key },
      adminKey: adminKey.key,
      metaUrl,
    };
  } finally {
    await prisma.$disconnect();
  }
}

export interface ToolAnswer {
  isError: boolean;
  structured: Record<string, unknown> | undefined;
  text: string;
}

/** The v2 SDK client pinned to 2026-07-28, as an application embeds it, on the link with a key. */
export async function mcpClient(gatewayUrl: string, linkId: string, key: string) {
  const client = new Client({ name: "e2e-approvals", version: "2.4.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gatewayUrl}/mcp/${linkId}`), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }));
  return {
    async call(name: string, args: Record<string, unknown>): Promise<ToolAnswer> {
      const r = (await client.callTool({ name, arguments: args })) as { isError?: boolean; structuredContent?: Record<string, unknown>; content?: { type: string; text?: string }[] };
      return { isError: !!r.isError, structured: r.structuredContent, text: (r.content ?? []).map((c) => c.text ?? "").join("\n") };
    },
    close: () => client.close(),
  };
}
