import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import {
  addConnection,
  addMember,
  approvalOptionsOf,
  createLink,
  createTeam,
  createUser,
  createWriteRequest,
  requestAccessGrant,
} from "@portcullis/db/operations";
import { generateSecretKey, SecretKeyring } from "@portcullis/db/secrets";
import { createChinookDatabase, createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { parseScope } from "@portcullis/policy/scope";

// Each cli() run is a Node process loading the CLI through tsx (~1.7 s of CPU): a case of six or seven
// took 33-35 s on a loaded 2-core machine and passed 60 s at nice 19, failing on the timeout (and the
// next case on what the cut one left). No speed is judged here.
vi.setConfig({ testTimeout: 180_000 });

/** `portcullis approvals|access|link approvers|link replay` as an operator runs them: a separate process, real databases. */
const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../../..");
const secretKeys = generateSecretKey("k1");
const env: NodeJS.ProcessEnv = { ...process.env, PORTCULLIS_SECRET_KEYS: secretKeys, TARGET_NETWORKS: "any", TARGET_ALLOW_POWERFUL_ROLES: "true" };
let meta: TestDatabase;
let target: TestDatabase;
let prisma: PrismaClient;
let dir: string;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("node", ["--import", "tsx", "apps/cli/src/main.ts", ...args], { cwd: root, env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function cliJson<T = Record<string, unknown>>(args: string[]): Promise<T> {
  const result = await cli([...args, "--json"]);
  expect(result.stderr, result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

async function refused(args: string[]): Promise<{ code: number; error: { code: string; message: string } }> {
  const result = await cli([...args, "--json"]);
  expect(result.code, result.stdout + result.stderr).not.toBe(0);
  return { code: result.code, error: (JSON.parse(result.stdout || "{}") as { error: { code: string; message: string } }).error };
}

// Each command is a process of its own (~2 s on a loaded 2-core machine): generous per-test bounds.
const CLI_TEST_MS = 240_000;
const SCOPE = { access: "write", approval: "writes", tables: {}, limits: { maxRows: 100, statementTimeoutMs: 5000 } };
let w: Awaited<ReturnType<typeof world>>;

async function world() {
  const mk = (who: string) => createUser(prisma, { email: `${who}@acme.test`, password: "a long passphrase" });
  const [owner, requester, approver, viewer, stranger] = await Promise.all([mk("owner"), mk("req"), mk("appr"), mk("viewer"), mk("stranger")]);
  const team = await createTeam(prisma, { name: "Acme", ownerId: owner.id });
  const otherTeam = await createTeam(prisma, { name: "Globex", ownerId: stranger.id });
  await addMember(prisma, { teamId: team.id, userId: requester.id, role: "member" });
  await addMember(prisma, { teamId: team.id, userId: approver.id, role: "member" });
  await addMember(prisma, { teamId: team.id, userId: viewer.id, role: "viewer" });
  const url = new URL(target.url);
  const fields = { host: url.hostname, port: Number(url.port), database: url.pathname.slice(1), username: decodeURIComponent(url.username), password: decodeURIComponent(url.password), sslMode: "disable" as const };
  const keyring = SecretKeyring.parse(secretKeys);
  const connection = await addConnection(prisma, { teamId: team.id, name: "chinook", test: false, fields }, keyring);
  const link = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "sales", scope: SCOPE });
  await prisma.linkAccess.create({ data: { linkId: link.id, userId: requester.id } });
  const otherConnection = await addConnection(prisma, { teamId: otherTeam.id, name: "chinook", test: false, fields }, keyring);
  const otherLink = await createLink(prisma, { teamId: otherTeam.id, connectionId: otherConnection.id, name: "sales", scope: SCOPE });
  return { owner, requester, approver, viewer, stranger, team, otherTeam, link, otherLink };
}

const request = (teamId: string, linkId: string, userId: string, sql = "DELETE FROM invoice_line WHERE invoice_line_id = $1") =>
  createWriteRequest(prisma, {
    teamId,
    linkId,
    kind: "approval",
    mode: "writes",
    tables: ["public.invoice_line"],
    reason: "public.invoice_line requires a lead's approval for every write (approval: writes)",
    sql,
    params: [7],
    catalogVersion: "c1",
    scopeHash: "s1",
    userId,
    principalSubject: "key:k",
    preview: { command: "DELETE", affected: 1, table: "public.invoice_line", columns: ["invoice_line_id", "unit_price"], keyColumns: ["invoice_line_id"], before: [[7, "0.99"]], after: [], plan: null, notes: [], durationMs: 2 },
    expiresAt: new Date(Date.now() + 3_600_000),
  });

beforeAll(async () => {
  [meta, target] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
  Object.assign(env, { DATABASE_URL: meta.url, REDIS_URL: "", TARGET_STACK_DATABASES: new URL(target.url).pathname.slice(1) });
  prisma = createPrismaClient(meta.url);
  dir = await mkdtemp(path.join(tmpdir(), "cli-approvals-"));
  w = await world();
});

afterAll(async () => {
  await prisma?.$disconnect();
  await Promise.all([meta?.drop(), target?.drop()]);
});

describe("portcullis approvals", () => {
  it("lists, shows (with the preview), approves as a named member with a comment — audited as the CLI's", async () => {
    const r = await request(w.team.id, w.link.id, w.requester.id);
    const listed = await cliJson<{ requests: { id: string; status: string; linkName: string; requesterEmail: string }[] }>(["approvals", "list", "--team", w.team.slug, "--status", "pending"]);
    expect(listed.requests.map((x) => [x.id, x.status, x.linkName, x.requesterEmail])).toContainEqual([r.id, "pending", "sales", "req@acme.test"]);
    const shown = await cli(["approvals", "show", r.id, "--team", w.team.slug]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("preview: DELETE on public.invoice_line, 1 row(s) affected");
    expect(shown.stdout).toContain("invoice_line_id | unit_price");
    expect(shown.stdout).toContain("7 | 0.99");
    const approved = await cliJson<{ request: { status: string; decidedBy: string; executeBefore: string } }>(["approvals", "approve", r.id, "--team", w.team.slug, "--as", "Owner@Acme.test", "--comment", "ok"]);
    expect(approved.request).toMatchObject({ status: "approved", decidedBy: w.owner.id });
    const events = (await prisma.auditOutbox.findMany({ where: { teamId: w.team.id } })).map((e) => JSON.parse(e.event) as Record<string, unknown>).filter((e) => e.writeRequestId === r.id);
    expect(events).toHaveLength(1);
    expect(JSON.parse(String(events[0]!.detail))).toMatchObject({ action: "write_request.approved", via: "cli", comment: "ok" });
    // Decided once.
    expect((await refused(["approvals", "reject", r.id, "--team", w.team.slug, "--as", "appr@acme.test", "--reason", "late"])).error.code).toBe("not_approver");
    expect((await refused(["approvals", "reject", r.id, "--team", w.team.slug, "--as", "owner@acme.test", "--reason", "late"])).error).toMatchObject({ code: "already_decided", message: expect.stringContaining("owner@acme.test") });
  }, CLI_TEST_MS);

  it("refuses viewers, non-members, other teams' requests, the requester's own, and malformed arguments", async () => {
    const r = await request(w.team.id, w.link.id, w.requester.id);
    const args = (as: string) => ["approvals", "approve", r.id, "--team", w.team.slug, "--as", as];
    expect((await refused(args("viewer@acme.test"))).error.code).toBe("not_approver");
    expect((await refused(args("req@acme.test"))).error.code).toBe("not_approver");
    expect((await refused(args("stranger@acme.test"))).error).toMatchObject({ code: "not_found", message: "stranger@acme.test is not a member of this team" });
    expect((await refused(["approvals", "approve", r.id, "--team", w.otherTeam.slug, "--as", "stranger@acme.test"])).error.code).toBe("not_found");
    expect((await refused(["approvals", "approve", "42; DROP TABLE teams", "--team", w.team.slug, "--as", "owner@acme.test"])).error.code).toBe("invalid_input");
    expect((await refused(["approvals", "approve", r.id, "--team", w.team.slug, "--as", "owner@acme.test", "--comment", "x".repeat(2001)])).error.code).toBe("invalid_input");
    expect((await refused(["approvals", "reject", r.id, "--team", w.team.slug, "--as", "owner@acme.test", "--reason", "  "])).error.code).toBe("invalid_input");
    // --reason is required for a rejection (a usage error, exit 2).
    expect((await cli(["approvals", "reject", r.id, "--team", w.team.slug, "--as", "owner@acme.test"])).code).toBe(2);
    expect((await prisma.writeRequest.findUniqueOrThrow({ where: { id: r.id } })).status).toBe("pending");
    // The requester approves their own only when the link's scope allows it, and is a named approver.
    await cliJson(["link", "approvers", "--team", w.team.slug, "--link", "sales", "--set", "req@acme.test,appr@acme.test"]);
    expect((await refused(args("req@acme.test"))).error.code).toBe("own_request");
    await prisma.link.update({ where: { id: w.link.id }, data: { scope: { ...SCOPE, approvalOptions: { selfApproval: true } } } });
    try {
      expect((await cliJson<{ request: { status: string } }>(args("req@acme.test"))).request.status).toBe("approved");
    } finally {
      await prisma.link.update({ where: { id: w.link.id }, data: { scope: SCOPE } });
      await cliJson(["link", "approvers", "--team", w.team.slug, "--link", "sales", "--set", ""]);
    }
  }, CLI_TEST_MS);
});

describe("portcullis access and link approvers", () => {
  it("grants, lists, revokes and refuses access requests as named members", async () => {
    const ask = (access: "read" | "write") =>
      requestAccessGrant(prisma, { teamId: w.team.id, linkId: w.link.id, userId: w.requester.id, tableKey: "public.invoice", access, minutes: 15, reason: "month end", via: "tool" });
    const g = await ask("write");
    const listed = await cliJson<{ grants: { id: string; status: string; userEmail: string }[] }>(["access", "list", "--team", w.team.slug, "--link", "sales", "--status", "pending"]);
    expect(listed.grants.map((x) => [x.id, x.status, x.userEmail])).toEqual([[g.id, "pending", "req@acme.test"]]);
    expect((await refused(["access", "grant", g.id, "--team", w.team.slug, "--as", "appr@acme.test"])).error.code).toBe("not_approver");
    await cliJson(["link", "approvers", "--team", w.team.slug, "--link", "sales", "--set", "appr@acme.test", "--as", "owner@acme.test"]);
    const granted = await cliJson<{ grant: { status: string; expiresAt: string } }>(["access", "grant", g.id, "--team", w.team.slug, "--as", "appr@acme.test", "--comment", "15 min"]);
    expect(granted.grant.status).toBe("granted");
    expect(Date.parse(granted.grant.expiresAt) - Date.now()).toBeGreaterThan(14 * 60_000);
    const human = await cli(["access", "list", "--team", w.team.slug]);
    expect(human.stdout).toContain("granted   req@acme.test  write on public.invoice  link sales  15 min  until");
    expect((await cliJson<{ grant: { status: string } }>(["access", "revoke", g.id, "--team", w.team.slug, "--as", "owner@acme.test"])).grant.status).toBe("revoked");
    expect((await refused(["access", "revoke", g.id, "--team", w.team.slug, "--as", "owner@acme.test"])).error.code).toBe("not_active");
    const g2 = await ask("read");
    expect((await cliJson<{ grant: { status: string } }>(["access", "refuse", g2.id, "--team", w.team.slug, "--as", "appr@acme.test"])).grant.status).toBe("refused");
    const tools = (await prisma.auditOutbox.findMany({ where: { teamId: w.team.id } })).map((e) => JSON.parse(e.event) as { tool: string; accessGrantId?: string }).filter((e) => e.accessGrantId);
    expect(tools.map((t) => t.tool).sort()).toEqual(["access_grant.granted", "access_grant.refused", "access_grant.revoked"]);
    // Viewers are refused as approvers; unknown addresses are named.
    expect((await refused(["link", "approvers", "--team", w.team.slug, "--link", "sales", "--set", "viewer@acme.test"])).error.code).toBe("forbidden");
    expect((await refused(["link", "approvers", "--team", w.team.slug, "--link", "sales", "--set", "nobody@acme.test"])).error.message).toContain("nobody@acme.test");
    const shown = await cliJson<{ approvers: { email: string }[] }>(["link", "approvers", "--team", w.team.slug, "--link", "sales"]);
    expect(shown.approvers.map((a) => a.email)).toEqual(["appr@acme.test"]);
  }, CLI_TEST_MS);
});

describe("portcullis link replay", () => {
  it("replays the link's recent statements against a draft scope: counts by rule and examples, nothing executed", async () => {
    let seq = 1;
    const event = async (sql: string, times: number, tool = "execute_sql") => {
      for (let i = 0; i < times; i++) {
        await prisma.$executeRawUnsafe(
          `INSERT INTO audit_events (id, team_id, time, seq, kind, link_id, tool, sql, verdict, prev_hash, hash)
           VALUES ($1::uuid, $2::uuid, now() - interval '1 hour', $3, 'tool_call', $4::uuid, $5, $6, 'allowed', repeat('0', 64), repeat('1', 64))`,
          randomUUID(), w.team.id, seq++, w.link.id, tool, sql,
        );
      }
    };
    await event("SELECT email FROM customer WHERE customer_id = 1", 3);
    await event("SELECT first_name FROM customer", 2);
    await event("UPDATE invoice SET total = total WHERE invoice_id = 1", 4);
    await event("DELETE FROM invoice_line WHERE invoice_line_id = 5", 1, "explain_query");
    const before = await prisma.$queryRawUnsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM invoice_line`).catch(() => null);
    expect(before).toBeNull(); // (the metadata database has no Chinook tables: nothing here could run them)
    const draftFile = path.join(dir, "draft.json");
    await writeFile(draftFile, JSON.stringify({ ...SCOPE, approval: "destructive", tables: { customer: { hiddenColumns: ["email"] } } }));
    const report = await cliJson<{
      statements: number;
      calls: number;
      becameBlocked: { ruleId: string; calls: number; examples: { sql: string }[] }[];
      approvalChanged: { ruleId: string; calls: number }[];
      unchanged: number;
    }>(["link", "replay", "--team", w.team.slug, "--link", "sales", "--scope", draftFile, "--days", "7"]);
    expect(report).toMatchObject({ statements: 4, calls: 10 });
    expect(report.becameBlocked).toHaveLength(1);
    expect(report.becameBlocked[0]).toMatchObject({ calls: 3, examples: [{ sql: "SELECT email FROM customer WHERE customer_id = 1" }] });
    // writes → destructive: UPDATE … WHERE needs no approval any more, the DELETE still does (by the other rule).
    expect(report.approvalChanged.map((g) => [g.ruleId, g.calls])).toEqual([
      ["writes → none", 4],
      ["writes → destructive", 1],
    ]);
    expect(report.unchanged).toBe(2);
    const human = await cli(["link", "replay", "--team", w.team.slug, "--link", "sales", "--scope", draftFile]);
    expect(human.stdout).toContain("replayed 4 statement(s), 10 call(s)");
    expect(human.stdout).toContain("would be blocked:");
    expect((await refused(["link", "replay", "--team", w.team.slug, "--link", "sales", "--scope", draftFile, "--days", "365"])).error.code).toBe("invalid_input");
    expect((await refused(["link", "replay", "--team", w.otherTeam.slug, "--link", w.link.id, "--scope", draftFile])).error.code).toBe("not_found");
  }, CLI_TEST_MS);

  it("approvalOptions as db reads them agrees with the policy's parser (db does not depend on policy)", () => {
    const docs: unknown[] = [
      SCOPE,
      { ...SCOPE, approvalOptions: {} },
      { ...SCOPE, approvalOptions: { selfApproval: true } },
      { ...SCOPE, approvalOptions: { selfApproval: false, expiresAfterMinutes: 10_080 } },
      { ...SCOPE, approvalOptions: { selfApproval: "true" } },
      { ...SCOPE, approvalOptions: { selfApproval: true, extra: 1 } },
      { ...SCOPE, approvalOptions: { expiresAfterMinutes: 0 } },
      { ...SCOPE, approvalOptions: { expiresAfterMinutes: 10_081, selfApproval: true } },
    ];
    for (const doc of docs) {
      const parsed = parseScope(doc);
      const ours = approvalOptionsOf(doc);
      if (parsed.ok) {
        expect(ours, JSON.stringify(doc)).toEqual({ selfApproval: parsed.scope.approvalOptions?.selfApproval ?? false, expiresAfterMinutes: parsed.scope.approvalOptions?.expiresAfterMinutes ?? 60 });
      } else {
        // A document the policy refuses never turns self-approval on.
        expect(ours.selfApproval, JSON.stringify(doc)).toBe(false);
      }
    }
  });
});
